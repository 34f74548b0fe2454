"""Several `radiomix train` processes sharing one optuna storage share each study's trials."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest
from helpers.modeling import synthetic_table

N_TRIALS = 3
OUTER_FOLDS = 2


@pytest.mark.integration
@pytest.mark.slow
def test_two_train_processes_share_the_studies_of_one_sqlite_storage(tmp_path):
    synthetic_table(n_patients=30, lesions=1, n_noise=5).to_csv(tmp_path / "t.csv", index=False)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    experiment = tmp_path / "shared.yaml"
    experiment.write_text(
        f"name: shared\ninput: {{table: t.csv}}\nmodels: [{{name: l2_lr}}]\n"
        f"search: {{n_trials: {N_TRIALS}, storage: '{storage}', pruning: false}}\n"
        f"outer_cv: {{folds: {OUTER_FOLDS}, repeats: 1}}\ninner_cv: {{folds: 2}}\n"
    )
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "radiomix",
                "train",
                str(experiment),
                "--out",
                str(tmp_path / f"run{index}"),
                "--tracking-uri",
                f"sqlite:///{tmp_path}/ml{index}.db",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in (1, 2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-2000:]
        assert 0.0 <= json.loads(stdout[stdout.index("{") :])["auc"] <= 1.0
    summaries = optuna.get_all_study_summaries(storage)
    names = sorted(summary.study_name for summary in summaries)
    assert len(names) == OUTER_FOLDS + 1  # one study per outer fold and the final model
    assert len({name.split("-")[1] for name in names}) == 1  # both processes, same names
    trials = [summary.n_trials for summary in summaries]
    assert trials == [2 * N_TRIALS] * len(names), trials
