"""A real `mlflow server` on loopback receives an experiment's parent and child runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from helpers.modeling import synthetic_table, tiny_config
from helpers.servers import free_port, running
from mlflow.tracking import MlflowClient

from radiomix.evaluation.experiment import run_experiment
from radiomix.evaluation.report import build_report

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    with (
        (folder / "server.log").open("w") as log,
        running(command, f"{url}/health", stdout=log, stderr=subprocess.STDOUT),
    ):
        yield url, folder


def test_server_receives_parent_child_runs_and_artifacts(server, tmp_path):
    url, folder = server
    synthetic_table(n_patients=30, lesions=1, n_noise=5, seed=4).to_csv(
        tmp_path / "t.csv", index=False
    )
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = tiny_config(
        tmp_path / "t.csv",
        search={"storage": storage, "n_trials": 2},
        outer_cv={"folds": 2, "repeats": 2},
    )
    result = run_experiment(config, tmp_path / "out", tracking_uri=url)

    client = MlflowClient(tracking_uri=url)
    parent = client.get_run(result.run_id)
    assert parent.info.run_name == "tiny"
    children = client.search_runs(
        [result.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == 4
    assert {(c.data.params["repeat"], c.data.params["fold"]) for c in children} == {
        (str(r), str(f)) for r in range(2) for f in range(2)
    }
    downloaded = client.download_artifacts(result.run_id, "metrics.json", str(tmp_path))
    assert json.loads(Path(downloaded).read_text()) == result.metrics
    final = {a.path for a in client.list_artifacts(result.run_id, "final_model")}
    assert "final_model/pipeline.joblib" in final
    assert any((folder / "artifacts").rglob("pipeline.joblib"))

    studies = optuna.get_all_study_names(storage)
    assert len(studies) == 4 + 1 and any(name.endswith("-final") for name in studies)

    page = build_report(result.run_id, tmp_path / "report.html", url).read_text()
    assert f"{result.metrics['model']['auc']:.3f}" in page
