"""`radiomix demo` end to end on a small synthetic cohort, with a small search budget."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from radiomix.demo import run_demo
from radiomix.evaluation.experiment import run_experiment
from radiomix.features import load_config, read_provenance
from radiomix.modeling.config import load_experiment
from radiomix.paths import CONFIG_DIR
from radiomix.rules import load_rules
from radiomix.serving.model import load_model
from radiomix.serving.predict import predict
from radiomix.stats import auc_delong
from radiomix.synth import synthesize_cohort

pytestmark = pytest.mark.slow

SMALL_SEARCH = {
    "models": [{"name": "l2_lr"}],
    "search": {"n_trials": 2},
    "outer_cv": {"folds": 2, "repeats": 1},
    "inner_cv": {"folds": 2},
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return synthesize_cohort(tmp_path_factory.mktemp("cohort"), n_patients=14, seed=5)


def write_experiment(folder, name: str, source: dict):
    experiment = folder / "experiments" / f"{name}.yaml"
    experiment.parent.mkdir(exist_ok=True)
    experiment.write_text(
        yaml.safe_dump({"name": name, "seed": 1, "input": source, "rules": "all", **SMALL_SEARCH})
    )
    return experiment


def test_demo_runs_every_stage_and_reports_the_model(manifest, tmp_path):
    experiment = write_experiment(tmp_path, "small", {"table": "unused.parquet"})

    steps: list[tuple[str, int, int]] = []
    result = run_demo(
        tmp_path / "out",
        workers=1,
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        progress=lambda *step: steps.append(step),
        manifest=manifest,
        experiment=experiment,
    )

    assert [(done, total) for _, done, total in steps] == [(i, 7) for i in range(8)]
    assert steps[2][0] == "extract features" and steps[-1][0] == "done"

    cases = pd.read_csv(manifest)
    features = pd.read_parquet(result.features)
    assert list(features["case_id"]) == list(cases["case_id"])
    baseline = pd.read_csv(result.baseline)
    assert list(baseline["rule_id"]) == [rule.id for rule in load_rules()]
    oof = pd.read_csv(tmp_path / "out" / "small" / "oof_predictions.csv")
    assert sorted(oof["case_id"]) == sorted(cases["case_id"])
    expected = auc_delong(oof["y_true"], oof["y_score"]).auc
    assert result.metrics["model"]["auc"] == expected
    assert json.loads((tmp_path / "out" / "small" / "metrics.json").read_text()) == result.metrics
    assert f"{expected:.3f}" in result.report.read_text(encoding="utf-8")
    # every case scored, mostly-missing ones included, to compare with the pipeline itself
    scored = predict(load_model(result.model), features, top=0, max_missing=1.0)
    final = joblib.load(tmp_path / "out" / "small" / "final_model" / "pipeline.joblib")
    inputs = load_model(result.model).input_columns
    np.testing.assert_allclose(
        scored["probability"], final.predict_proba(features[inputs])[:, 1], rtol=0, atol=1e-9
    )


def test_experiment_extracts_its_input_from_a_manifest(manifest, tmp_path):
    extraction = CONFIG_DIR / "extraction.yaml"
    experiment = write_experiment(
        tmp_path, "from_images", {"manifest": str(manifest), "extraction_config": str(extraction)}
    )
    result = run_experiment(
        load_experiment(experiment),
        tmp_path / "out",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    features = pd.read_parquet(tmp_path / "out" / "features.parquet")
    assert list(features["case_id"]) == list(pd.read_csv(manifest)["case_id"])
    assert read_provenance(tmp_path / "out" / "features.parquet")["config_sha256"] == (
        load_config(extraction).digest()
    )
    assert result.metrics["n_cases"] == len(features)
