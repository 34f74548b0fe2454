"""`radiomix demo` end to end on a small synthetic cohort, with a small search budget."""

from __future__ import annotations

import json

import pandas as pd
import yaml

from radiomix.demo import run_demo
from radiomix.evaluation.stats import auc_delong
from radiomix.rules import load_rules
from radiomix.synth import synthesize_cohort


def test_demo_runs_every_stage_and_reports_the_model(tmp_path):
    manifest = synthesize_cohort(tmp_path / "cohort", n_patients=14, seed=5)
    experiment = tmp_path / "experiments" / "small.yaml"
    experiment.parent.mkdir()
    experiment.write_text(yaml.safe_dump({
        "name": "small", "seed": 1, "input": {"table": "unused.parquet"},
        "models": [{"name": "l2_lr"}], "search": {"n_trials": 2},
        "outer_cv": {"folds": 2, "repeats": 1}, "inner_cv": {"folds": 2}, "rules": "all"}))

    result = run_demo(tmp_path / "out", workers=1,
                      tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                      manifest=manifest, experiment=experiment)

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
