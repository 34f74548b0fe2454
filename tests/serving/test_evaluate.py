"""`radiomix evaluate`: an exported model on new labelled cases, checked against independent
computations on the predictions it writes; leave-one-site-out CV and per-tracer models."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers.modeling import synthetic_table, tiny_config
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from radiomix import stats
from radiomix.cli import app
from radiomix.errors import ConfigError
from radiomix.evaluation.experiment import run_experiment
from radiomix.modeling.config import ExperimentConfig
from radiomix.modeling.nested_cv import outer_splits
from radiomix.serving.export import export_model
from radiomix.serving.model import load_model


def _with_fdopa(table: pd.DataFrame) -> pd.DataFrame:
    """Every fifth patient imaged with FDOPA instead of FET."""
    fdopa = table["patient_id"].str[-3:].astype(int) % 5 == 0
    return table.assign(tracer=np.where(fdopa, "FDOPA", "FET"))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, mlflow_uri) -> SimpleNamespace:
    """A FET-only model trained from a CSV table with leave-one-site-out CV, exported, and
    evaluated on a held-out labelled table of FET and FDOPA cases."""
    root = tmp_path_factory.mktemp("evaluate")
    train = root / "train.csv"
    _with_fdopa(synthetic_table(n_patients=40, lesions=2, n_noise=6, seed=11)).to_csv(
        train, index=False
    )
    config = tiny_config(
        train.resolve(),
        rules=["fet_twm"],
        outer_cv="leave_one_site_out",
        input={"table": str(train.resolve()), "tracers": ["FET"]},
        models=[{"name": "l2_lr"}],
    )
    uri = mlflow_uri
    result = run_experiment(config, root / "run", tracking_uri=uri)
    model = export_model(result.run_id, root / "model", tracking_uri=uri)
    held_out = _with_fdopa(synthetic_table(n_patients=30, lesions=2, n_noise=6, seed=12))
    held_out.loc[3, "label"] = np.nan  # one unlabelled case: scored, not evaluated
    new = root / "new.csv"
    held_out.to_csv(new, index=False)
    outcome = CliRunner().invoke(
        app, ["evaluate", str(new), "--model", str(model), "--out", str(root / "evaluation")]
    )
    return SimpleNamespace(
        root=root,
        result=result,
        model=model,
        new=held_out,
        outcome=outcome,
        out=root / "evaluation",
        config=config,
    )


def test_leave_one_site_out_trains_one_fold_per_site(evaluated):
    oof = pd.read_csv(evaluated.result.paths["oof_predictions"])
    assert oof.groupby("fold")["site"].nunique().eq(1).all()
    assert sorted(oof.groupby("fold")["site"].first()) == ["site0", "site1"]
    assert set(oof["tracer"]) == {"FET"}  # input.tracers: a FET-only model


def test_evaluate_writes_metrics_predictions_and_page(evaluated):
    assert evaluated.outcome.exit_code == 0, evaluated.outcome.output
    for name in (
        "metrics.json",
        "predictions.csv",
        "report.html",
        "decision_curves.png",
        "confusion.png",
        "calibration.png",
        "roc_by_population.png",
    ):
        assert (evaluated.out / name).is_file(), name
    page = (evaluated.out / "report.html").read_text()
    assert "External evaluation" in page and "fet_twm" in page


def test_evaluate_auc_and_decisions_match_independent_computations(evaluated):
    metrics = json.loads((evaluated.out / "metrics.json").read_text())
    predictions = pd.read_csv(evaluated.out / "predictions.csv")
    fet = evaluated.new["tracer"] == "FET"
    assert len(predictions) == fet.sum()  # FDOPA cases are not the model's population
    assert metrics["n_other_tracer"] == int((~fet).sum())
    assert metrics["n_unlabelled"] == 1
    labelled = predictions[predictions["y_true"].notna()]
    y = labelled["y_true"].astype(int)
    assert metrics["model"]["auc"] == pytest.approx(
        roc_auc_score(y, labelled["probability"]), abs=1e-12
    )
    clustered = stats.auc_delong(y, labelled["probability"], groups=labelled["patient_id"])
    assert metrics["model"]["auc_ci"] == pytest.approx([clustered.ci_low, clustered.ci_high])
    threshold = load_model(evaluated.model).threshold
    assert metrics["threshold"] == pytest.approx(threshold)
    predicted = labelled["probability"] >= threshold
    assert metrics["model"]["tp"] == int((predicted & (y == 1)).sum())
    assert metrics["model"]["fp"] == int((predicted & (y == 0)).sum())
    rule = labelled[labelled["rule_fet_twm"].notna()]
    assert metrics["rules"]["fet_twm"]["n"] == len(rule)
    expected = ((rule["param_fet_twm"] >= 2.65) == rule["rule_fet_twm"].astype(bool)).all()
    assert expected  # the published cut-off, on the same cases as the model


def test_evaluate_refuses_unlabelled_input(evaluated, tmp_path):
    unlabelled = evaluated.new.drop(columns="label")
    path = tmp_path / "unlabelled.csv"
    unlabelled.to_csv(path, index=False)
    outcome = CliRunner().invoke(
        app, ["evaluate", str(path), "--model", str(evaluated.model), "--out", str(tmp_path / "e")]
    )
    assert outcome.exit_code == 2 and "no 'label' column" in outcome.output


def test_leave_one_site_out_needs_sites_and_patients_at_one_site():
    config = ExperimentConfig.model_validate(
        {
            "name": "x",
            "input": {"table": "t.csv"},
            "models": [{"name": "l2_lr"}],
            "outer_cv": "leave_one_site_out",
        }
    )
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ConfigError, match="site column"):
        outer_splits(y, np.array(["a", "b", "c", "d"]), config, None)
    with pytest.raises(ConfigError, match="several sites"):
        outer_splits(y, np.array(["a", "a", "c", "d"]), config, np.array(["s", "t", "s", "t"]))
    splits = outer_splits(y, np.array(["a", "b", "c", "d"]), config, np.array(["s", "t", "s", "t"]))
    assert [list(s.test) for s in splits] == [[0, 2], [1, 3]]


@pytest.mark.slow
@pytest.mark.shared
def test_real_table_trained_exported_and_evaluated_on_held_out_rows(
    shared_data, tmp_path, mlflow_uri
):
    # a real radiomics table with its own id and target columns (ID, Target)
    table = pd.read_csv(shared_data / "tables" / "radmlbench" / "Head-Neck-PET-CT.csv.gz")
    train, held_out = tmp_path / "train.csv", tmp_path / "held_out.csv"
    table.iloc[::3].to_csv(held_out, index=False)
    table.drop(index=table.index[::3]).to_csv(train, index=False)
    config = tiny_config(
        train,
        models=[{"name": "l2_lr"}],
        input={
            "table": str(train),
            "id_column": "ID",
            "target_column": "Target",
            "group_column": None,
            "site_column": None,
        },
        preprocessing={"combat": False},
    )
    result = run_experiment(config, tmp_path / "run", tracking_uri=mlflow_uri)
    model = export_model(result.run_id, tmp_path / "model", tracking_uri=mlflow_uri)
    outcome = CliRunner().invoke(
        app, ["evaluate", str(held_out), "--model", str(model), "--out", str(tmp_path / "e")]
    )
    assert outcome.exit_code == 0, outcome.output
    predictions = pd.read_csv(tmp_path / "e" / "predictions.csv")
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert len(predictions) == len(table.iloc[::3])
    assert metrics["model"]["auc"] == pytest.approx(
        roc_auc_score(predictions["y_true"], predictions["probability"]), abs=1e-12
    )
    assert metrics["clustered_by"].startswith("ID")


def test_manifest_needs_a_model_that_knows_its_extraction(evaluated, tmp_path):
    # the model was trained from a CSV table of unknown origin: it cannot extract images
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {
            "case_id": ["a"],
            "patient_id": ["p"],
            "label": [1],
            "tracer": ["FET"],
            "pet": ["pet.nii.gz"],
            "lesion_mask": ["mask.nii.gz"],
        }
    ).to_csv(manifest, index=False)
    outcome = CliRunner().invoke(
        app,
        ["evaluate", str(manifest), "--model", str(evaluated.model), "--out", str(tmp_path / "e")],
    )
    assert outcome.exit_code == 2 and "extraction configuration" in outcome.output


@pytest.mark.slow
def test_manifest_of_labelled_images_is_extracted_scored_and_evaluated(tmp_path, mlflow_uri):
    from radiomix.features import extract_features
    from radiomix.synth.cohort import synthesize_cohort

    manifest = synthesize_cohort(tmp_path / "cohort", 14, seed=5, workers=2)
    (tmp_path / "extraction.yaml").write_text("families: [pet_static, mri]\n")
    table = tmp_path / "features.parquet"
    extract_features(manifest, table, tmp_path / "extraction.yaml", workers=1)
    config = tiny_config(
        table, models=[{"name": "l2_lr"}], outer_cv={"folds": 2, "repeats": 1}, rules="all"
    )
    result = run_experiment(config, tmp_path / "run", tracking_uri=mlflow_uri)
    model = export_model(result.run_id, tmp_path / "model", tracking_uri=mlflow_uri)
    outcome = CliRunner().invoke(
        app, ["evaluate", str(manifest), "--model", str(model), "--out", str(tmp_path / "e")]
    )
    assert outcome.exit_code == 0, outcome.output
    predictions = pd.read_csv(tmp_path / "e" / "predictions.csv")
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    labelled = predictions[predictions["y_true"].notna()]
    assert metrics["n_cases"] == len(labelled) > 0
    assert metrics["model"]["auc"] == pytest.approx(
        roc_auc_score(labelled["y_true"].astype(int), labelled["probability"]), abs=1e-12
    )
