"""End-to-end experiments on small synthetic tables: outputs, MLflow runs, statistics, leakage."""

from __future__ import annotations

import hashlib
import json

import joblib
import mlflow.sklearn
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.modeling import synthetic_table, tiny_config
from mlflow.tracking import MlflowClient
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import radiomix
from radiomix import stats
from radiomix.cli import app
from radiomix.evaluation.experiment import experiment_sha256, run_experiment
from radiomix.features.engine import PROVENANCE_KEY
from radiomix.modeling.data import load_model_data
from radiomix.modeling.permutation import null_auc, permuted_labels
from radiomix.tracking import using_tracking_uri

OOF_COLUMNS = ["case_id", "patient_id", "repeat", "fold", "y_true", "y_score"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, mlflow_uri):
    """One finished tiny experiment compared with two rules (FET T/WM and ADC ratio)."""
    folder = tmp_path_factory.mktemp("experiment")
    table = synthetic_table(n_patients=50, lesions=2, n_noise=15, seed=5)
    table.loc[table.index % 7 == 0, "tracer"] = "FDOPA"
    table.loc[table.index % 5 == 0, "mri_ADC_ratio"] = np.nan
    arrow = pa.Table.from_pandas(table)
    provenance = json.dumps({"config_sha256": "c0ffee", "config": "{}"}).encode()
    arrow = arrow.replace_schema_metadata({**arrow.schema.metadata, PROVENANCE_KEY: provenance})
    pq.write_table(arrow, folder / "features.parquet")
    config = tiny_config(folder / "features.parquet", rules=["fet_twm", "adc_ratio"])
    result = run_experiment(config, folder / "out", tracking_uri=mlflow_uri)
    return config, result, table


def _oof(result) -> pd.DataFrame:
    return pd.read_csv(result.paths["oof_predictions"])


def test_predictions_cover_every_case_once_per_repeat(experiment):
    _, result, table = experiment
    oof = _oof(result)
    assert oof.columns[:6].tolist() == OOF_COLUMNS
    for rule in ("fet_twm", "adc_ratio"):
        assert {f"rule_{rule}", f"param_{rule}"} <= set(oof.columns)
    for _, part in oof.groupby("repeat"):
        assert sorted(part["case_id"]) == sorted(table["case_id"])
    by_case = oof[oof["repeat"] == 0].set_index("case_id").loc[table["case_id"]]
    np.testing.assert_array_equal(by_case["y_true"], table["label"])


def test_rule_columns_follow_the_published_cutoff(experiment):
    _, result, table = experiment
    first = _oof(result).query("repeat == 0").set_index("case_id").loc[table["case_id"]]
    fet = (table["tracer"] == "FET").to_numpy()
    assert first["rule_fet_twm"][~fet].isna().all()
    expected = (table["pet_TWMmax"][fet] >= 2.65).astype(float).to_numpy()
    np.testing.assert_array_equal(first["rule_fet_twm"][fet].to_numpy(), expected)
    written = pd.read_csv(result.paths["oof_predictions"], dtype=str, keep_default_na=False)
    assert set(written["rule_fet_twm"]) == {"0", "1", ""}
    adc = table["mri_ADC_ratio"].notna().to_numpy()
    np.testing.assert_array_equal(
        first["rule_adc_ratio"][adc].to_numpy(),
        (table["mri_ADC_ratio"][adc] < 1.6).astype(float).to_numpy(),
    )


def test_metrics_json_matches_the_statistics_module(experiment):
    # two lesions per patient: every interval and test is clustered by patient_id
    _, result, _ = experiment
    metrics = json.loads(result.paths["metrics"].read_text())
    first = _oof(result).query("repeat == 0")
    y, score = first["y_true"].to_numpy(), first["y_score"].to_numpy()
    patients = first["patient_id"].to_numpy()
    auc = stats.auc_delong(y, score, groups=patients)
    model = metrics["model"]
    assert metrics["clustered_by"] == "patient_id"
    assert model["auc"] == pytest.approx(auc.auc)
    assert model["auc_ci"] == pytest.approx([auc.ci_low, auc.ci_high])
    assert auc.variance != pytest.approx(stats.auc_delong(y, score).variance, rel=1e-3)
    decisions = stats.binary_metrics(y, (score >= first["threshold"]).astype(int), groups=patients)
    assert model["sensitivity"] == pytest.approx(decisions["sensitivity"])
    assert model["sensitivity_ci"] == pytest.approx(list(decisions["sensitivity_ci"]))
    assert model["specificity"] == pytest.approx(decisions["specificity"])
    assert model["brier"] == pytest.approx(np.mean((score - y) ** 2))
    intercept, slope = stats.calibration_intercept_slope(y, score)
    assert model["calibration_slope"] == pytest.approx(slope)
    assert model["calibration_intercept"] == pytest.approx(intercept)
    per_repeat = [
        stats.auc_score(p["y_true"], p["y_score"]) for _, p in _oof(result).groupby("repeat")
    ]
    assert model["auc_repeats_mean"] == pytest.approx(np.mean(per_repeat))
    raw = []
    for rule, sign in (("fet_twm", 1.0), ("adc_ratio", -1.0)):
        applies = first[first[f"rule_{rule}"].notna()]
        groups = applies["patient_id"].to_numpy()
        entry = metrics["rules"][rule]
        assert entry["n"] == len(applies)
        param = sign * applies[f"param_{rule}"].to_numpy()
        assert entry["auc"] == pytest.approx(stats.auc_delong(applies["y_true"], param).auc)
        paired = stats.delong_test(applies["y_true"], applies["y_score"], param, groups=groups)
        assert entry["delong_p_vs_model"] == pytest.approx(paired.p_value)
        raw.append(paired.p_value)
        mcnemar = stats.mcnemar_test(
            applies["y_true"], applies["y_pred"], applies[f"rule_{rule}"].astype(int), groups
        )
        assert entry["mcnemar_p_vs_model"] == pytest.approx(mcnemar.p_value)
        positives = applies[applies["y_true"] == 1]
        difference = stats.paired_difference(
            positives["y_pred"], positives[f"rule_{rule}"].astype(int), positives["patient_id"]
        )
        assert entry["sensitivity_difference"]["ci"] == pytest.approx(
            [difference.ci_low, difference.ci_high]
        )
    # Holm over the two rules: the smaller p doubled, the larger kept (monotone)
    low, high = sorted(raw)
    holm = {
        metrics["rules"][r]["delong_p_vs_model"]: metrics["rules"][r]["delong_p_holm_vs_model"]
        for r in ("fet_twm", "adc_ratio")
    }
    assert holm[low] == pytest.approx(min(1.0, 2 * low))
    assert holm[high] == pytest.approx(max(min(1.0, 2 * low), high))
    assert metrics["n_cases"] == 100 and metrics["n_patients"] == 50


def test_subgroups_per_tracer_with_an_unpaired_comparison(experiment):
    _, result, _ = experiment
    first = _oof(result).query("repeat == 0")
    tracer = result.metrics["subgroups"]["tracer"]
    assert set(tracer["levels"]) == {"FET", "FDOPA"}
    fet = first[first["tracer"] == "FET"]
    assert tracer["levels"]["FET"]["n"] == len(fet)
    assert tracer["levels"]["FET"]["auc"] == pytest.approx(
        stats.auc_score(fet["y_true"], fet["y_score"])
    )
    comparison = tracer["comparisons"][0]
    assert {comparison["a"], comparison["b"]} == {"FET", "FDOPA"}
    assert "p_holm" in comparison


def test_model_finds_the_known_signal(experiment):
    _, result, _ = experiment
    assert result.metrics["model"]["auc"] > 0.8
    shap = pd.read_csv(result.paths["shap_mean_abs"])
    assert set(shap["feature"][:2]) & {"pet_TWMmax", "mri_ADC_ratio"}


def test_mlflow_holds_parent_child_runs_and_artifacts(experiment, mlflow_uri):
    config, result, _ = experiment
    client = MlflowClient(tracking_uri=mlflow_uri)
    children = client.search_runs(
        [result.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == config.outer_cv.folds * config.outer_cv.repeats
    assert all("test_auc" in child.data.metrics for child in children)
    parent = client.get_run(result.run_id)
    assert parent.data.metrics["model.auc"] == pytest.approx(result.metrics["model"]["auc"])
    assert len(parent.data.metrics) < 40  # headline numbers only; the rest is metrics.json
    lineage = json.loads(result.paths["lineage"].read_text())
    tags = parent.data.tags
    assert tags["radiomix.version"] == radiomix.__version__
    assert tags["radiomix.table_sha256"] == lineage["table_sha256"]
    assert tags["radiomix.experiment_sha256"] == experiment_sha256(config)
    assert tags["radiomix.extraction_config_sha256"] == "c0ffee"
    (dataset,) = parent.inputs.dataset_inputs
    assert dataset.dataset.name == "features.parquet" and len(dataset.dataset.digest) >= 8
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {
        "metrics.json",
        "oof_predictions.csv",
        "roc.png",
        "calibration.png",
        "shap_summary.png",
        "shap_mean_abs.csv",
        "optuna_history.png",
        "decision_curves.png",
        "confusion.png",
        "roc_by_population.png",
        "report.html",
        "lineage.json",
        "final_model",
    } <= names
    with using_tracking_uri(mlflow_uri):
        logged = mlflow.sklearn.load_model(f"runs:/{result.run_id}/model")
    features = pd.read_parquet(result.paths["final_training_features"])
    assert logged.predict_proba(features).shape == (len(features), 2)
    final = {a.path for a in client.list_artifacts(result.run_id, "final_model")}
    assert {"final_model/pipeline.joblib", "final_model/training_features.parquet"} <= final


def test_lineage_records_table_hash_and_extraction_provenance(experiment):
    config, result, _ = experiment
    lineage = json.loads(result.paths["lineage"].read_text())
    assert lineage["table_sha256"] == hashlib.sha256(config.input.table.read_bytes()).hexdigest()
    assert lineage["extraction_config_sha256"] == "c0ffee"
    provenance = json.loads(result.paths["extraction_provenance"].read_text())
    assert provenance["config_sha256"] == "c0ffee"


def test_final_model_reloads_and_scores_its_training_features(experiment):
    _, result, table = experiment
    pipeline = joblib.load(result.paths["final_pipeline"])
    features = pd.read_parquet(result.paths["final_training_features"])
    info = json.loads(result.paths["final_model_info"].read_text())
    assert list(features.columns) == info["input_columns"]
    probability = pipeline.predict_proba(features)[:, 1]
    assert probability.shape == (len(table),)
    assert stats.auc_score(table["label"], probability) > 0.8
    assert 0.0 < info["threshold"] < 1.0


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(experiment, tmp_path, mlflow_uri):
    config, result, _ = experiment
    again = run_experiment(config, tmp_path / "again", tracking_uri=mlflow_uri)
    assert again.metrics == result.metrics
    pd.testing.assert_frame_equal(_oof(again), _oof(result))


@pytest.mark.slow
def test_permuted_labels_give_chance_auc_while_selection_before_cv_is_optimistic(tmp_path):
    table = synthetic_table(n_patients=200, lesions=1, n_noise=150, sites=1, seed=11)
    table.to_parquet(tmp_path / "t.parquet")
    config = tiny_config(
        tmp_path / "t.parquet",
        models=[{"name": "l2_lr"}],
        search={"n_trials": 3, "k_features": {"type": "int", "low": 5, "high": 20}},
        outer_cv={"folds": 4, "repeats": 2},
    )
    data = load_model_data(config, config.input.table)
    assert abs(null_auc(data, config, 0, "leak") - 0.5) < 0.08
    y = permuted_labels(data.y, data.groups, np.random.default_rng([config.seed, 0]))
    assert not np.array_equal(y, data.y)
    X = table.filter(like="_").drop(columns=["case_id", "patient_id"], errors="ignore")
    selected = SelectKBest(f_classif, k=10).fit_transform(X, y)  # the mistake: before CV
    naive = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression()),
        selected,
        y,
        cv=StratifiedKFold(4, shuffle=True, random_state=0),
        method="predict_proba",
    )[:, 1]
    assert stats.auc_score(y, naive) > 0.62


@pytest.mark.slow  # reruns the nested CV on permuted labels
def test_permutation_test_gives_the_smallest_p_value_to_a_strong_signal(tmp_path, mlflow_uri):
    table = synthetic_table(n_patients=40, lesions=2, n_noise=5, signal=3.0, seed=2)
    table.to_csv(tmp_path / "t.csv", index=False)
    config = tiny_config(
        tmp_path / "t.csv",
        models=[{"name": "l2_lr"}],
        search={"n_trials": 2},
        outer_cv={"folds": 3, "repeats": 1},
    )
    result = run_experiment(config, tmp_path / "out", mlflow_uri, permutations=3)
    test = result.metrics["permutation"]
    null = json.loads(result.paths["permutation_null"].read_text())["null_auc"]
    assert len(null) == test["n_permutations"] == 3
    assert test["observed_auc"] == result.metrics["headline"]["auc"] > max(null)
    assert test["p_value"] == pytest.approx(1 / 4)
    history = MlflowClient(mlflow_uri).get_metric_history(result.run_id, "permutation_null_auc")
    assert sorted(m.value for m in history) == pytest.approx(sorted(null))


def test_labels_are_permuted_between_patients_of_equal_size():
    groups = np.array(["a", "a", "b", "b", "c", "d", "e", "e"])
    y = np.array([1, 0, 1, 1, 0, 1, 0, 0])
    for seed in range(20):
        permuted = permuted_labels(y, groups, np.random.default_rng(seed))
        pairs = sorted(tuple(permuted[groups == g]) for g in ("a", "b", "e"))
        assert pairs == [(0, 0), (1, 0), (1, 1)]
        assert sorted(permuted[[4, 5]]) == [0, 1]


@pytest.mark.slow
def test_train_command_runs_from_the_command_line(tmp_path, monkeypatch):
    synthetic_table(n_patients=24, lesions=1, n_noise=5).to_csv(tmp_path / "t.csv", index=False)
    experiment_file = tmp_path / "experiments" / "cli.yaml"
    experiment_file.parent.mkdir()
    experiment_file.write_text(
        "name: cli\ninput: {table: ../t.csv}\nmodels: [{name: l2_lr}]\n"
        "search: {n_trials: 2}\nouter_cv: {folds: 3, repeats: 1}\ninner_cv: {folds: 2}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("RADIOMIX_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    outcome = runner.invoke(app, ["train", str(experiment_file)])
    assert outcome.exit_code == 0, outcome.output
    printed = json.loads(outcome.stdout[outcome.stdout.index("{") :])
    assert (tmp_path / "runs" / "cli" / "metrics.json").is_file()
    # the default store is in the radiomix home folder, not the current directory
    assert (tmp_path / "home" / "mlflow.db").is_file() and len(printed["run_id"]) == 32
    assert not (tmp_path / "mlflow.db").exists()
    experiment_file.write_text("name: cli\ninput: {table: missing.csv}\nmodels: [{name: rf}]\n")
    outcome = runner.invoke(app, ["train", str(experiment_file)])
    assert outcome.exit_code == 2
    assert "missing.csv" in outcome.output
