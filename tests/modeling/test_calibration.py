"""Calibrated probabilities, headline figures over the repeats, the trivial baseline, the
search settings (pruning floor, inner repeats, rejected keys) and the soft-voting ensemble."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from helpers.modeling import synthetic_table, tiny_config
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import VotingClassifier

from radiomix import stats
from radiomix.evaluation.experiment import run_experiment
from radiomix.modeling.data import load_model_data
from radiomix.modeling.pipeline import Calibration, Choice, build_pipeline, positive_scores
from radiomix.modeling.search import grouped_folds, search


def _imbalanced(tmp_path, n_patients: int = 240, seed: int = 4):
    """A table whose recurrences are about 15 % of the patients."""
    table = synthetic_table(
        n_patients=n_patients, lesions=1, n_noise=10, signal=2.0, sites=1, seed=seed
    )
    positives = table.index[table["label"] == 1]
    rng = np.random.default_rng(seed)
    keep = rng.choice(positives, size=int(0.18 * (len(table) - len(positives))), replace=False)
    table = table.drop(index=positives.difference(keep)).reset_index(drop=True)
    path = tmp_path / "imbalanced.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, mlflow_uri):
    """A tiny experiment on an imbalanced table with class weights forced on: weighting
    alone would shift every probability towards the minority class."""
    folder = tmp_path_factory.mktemp("calibrated")
    config = tiny_config(
        _imbalanced(folder),
        models=[{"name": "l2_lr"}],
        search={
            "n_trials": 4,
            "balancing": ["weight"],
            "k_features": {"type": "int", "low": 2, "high": 6},
        },
        outer_cv={"folds": 4, "repeats": 2},
        inner_cv={"folds": 3},
    )
    return config, run_experiment(config, folder / "out", mlflow_uri)


@pytest.mark.slow  # shares one trained experiment (about 20 s of CPU)
def test_recalibrated_probabilities_beat_the_prevalence(calibrated):
    _, result = calibrated
    headline = result.metrics["headline"]
    assert headline["prevalence"] < 0.2
    assert headline["brier"] < headline["brier_prevalence"]
    low, high = headline["calibration_intercept_ci"]
    assert low < 0 < high
    oof = pd.read_csv(result.paths["oof_predictions"])
    # Without recalibration, balanced weights put the mean probability near 0.5.
    assert abs(oof["y_score"].mean() - oof["y_true"].mean()) < 0.05


@pytest.mark.slow  # shares one trained experiment (about 20 s of CPU)
def test_headline_is_the_mean_over_repeats_with_a_pooled_patient_interval(calibrated):
    _, result = calibrated
    oof = pd.read_csv(result.paths["oof_predictions"])
    per_repeat = [
        stats.auc_score(part["y_true"], part["y_score"]) for _, part in oof.groupby("repeat")
    ]
    headline = result.metrics["headline"]
    assert headline["auc_repeats"] == pytest.approx(per_repeat)
    assert headline["auc"] == pytest.approx(np.mean(per_repeat))
    assert headline["auc_sd"] == pytest.approx(np.std(per_repeat, ddof=1))
    assert headline["auc_pooled"] == pytest.approx(stats.auc_score(oof["y_true"], oof["y_score"]))
    low, high = headline["auc_pooled_ci"]
    assert low < headline["auc_pooled"] < high
    assert headline["brier"] == pytest.approx(stats.brier_score(oof["y_true"], oof["y_score"]))


@pytest.mark.slow  # shares one trained experiment (about 20 s of CPU)
def test_baseline_is_an_untuned_logistic_regression_on_every_feature(calibrated):
    config, result = calibrated
    oof = pd.read_csv(result.paths["oof_predictions"])
    assert result.metrics["baseline"]["auc"] == pytest.approx(
        np.mean(
            [
                stats.auc_score(part["y_true"], part["baseline_score"])
                for _, part in oof.groupby("repeat")
            ]
        )
    )
    # Refit by hand on one outer fold: same scores.
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from radiomix.modeling.nested_cv import outer_splits

    data = load_model_data(config, config.input.table)
    split = outer_splits(data.y, data.groups, config)[0]
    reference = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=5000)
    )
    X = data.X[data.features]  # one site: nothing to harmonise, no redundant feature
    reference.fit(X.iloc[split.train], data.y[split.train])
    mine = oof[(oof["repeat"] == 0) & (oof["fold"] == 0)].set_index("case_id")
    expected = reference.predict_proba(X.iloc[split.test])[:, 1]
    np.testing.assert_allclose(
        mine.loc[data.ids[split.test], "baseline_score"], expected, atol=1e-6
    )


@pytest.mark.slow  # shares one trained experiment (about 20 s of CPU)
def test_exported_model_is_the_calibrated_pipeline_with_its_threshold(calibrated):
    _, result = calibrated
    pipeline = joblib.load(result.paths["final_pipeline"])
    info = json.loads(result.paths["final_model_info"].read_text())
    assert isinstance(pipeline[-1], CalibratedClassifierCV)
    assert info["calibration"] == "sigmoid"
    features = pd.read_parquet(result.paths["final_training_features"])
    probability = pipeline.predict_proba(features)[:, 1]
    raw = positive_scores(
        pipeline[-1].calibrated_classifiers_[0].estimator,
        pipeline[:-1].transform(features),
        raw=True,
    )
    # The stored threshold is the raw Youden cut-off carried through the sigmoid: the same
    # cases are positive on either scale.
    a, b = (
        pipeline[-1].calibrated_classifiers_[0].calibrators[0].a_,
        pipeline[-1].calibrated_classifiers_[0].calibrators[0].b_,
    )
    raw_threshold = (np.log(1 / info["threshold"] - 1) - b) / a
    np.testing.assert_array_equal(probability >= info["threshold"], raw >= raw_threshold - 1e-9)
    assert probability.min() < info["threshold"] < probability.max()


def test_recalibration_folds_are_patient_grouped(tmp_path):
    table = synthetic_table(n_patients=30, lesions=3, n_noise=3, seed=1)
    table.to_csv(tmp_path / "t.csv", index=False)
    config = tiny_config(tmp_path / "t.csv")
    data = load_model_data(config, config.input.table)
    folds = grouped_folds(data.y, data.groups, 3, 0)
    pipeline = build_pipeline(
        data.features,
        Choice("l2_lr", {"C": 1.0}, k=3),
        config.preprocessing,
        False,
        0,
        Calibration("isotonic", folds),
    )
    pipeline.fit(data.X, data.y)
    for train, test in pipeline[-1].cv:
        assert not set(data.groups[train]) & set(data.groups[test])


def test_pruning_keeps_the_minimum_of_complete_trials_and_inner_repeats_are_used(tmp_path):
    synthetic_table(n_patients=40, lesions=1, n_noise=20, seed=3).to_csv(tmp_path / "t.csv")
    config = tiny_config(
        tmp_path / "t.csv",
        search={"n_trials": 12, "min_complete_trials": 9},
        inner_cv={"folds": 2, "repeats": 2},
    )
    data = load_model_data(config, config.input.table)
    result = search(data.X, data.y, data.groups, data.features, config, 0, "pruning")
    assert len(result.values) >= 9
    assert len(result.values) + result.n_pruned == 12
    single = config.model_copy(
        update={"inner_cv": config.inner_cv.model_copy(update={"repeats": 1})}
    )
    once = search(data.X, data.y, data.groups, data.features, single, 0, "pruning-once")
    assert once.inner_auc != result.inner_auc  # the second repeat's folds count


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "models": [
                    {
                        "name": "l2_lr",
                        "params": {"penalty": {"type": "categorical", "choices": ["l1"]}},
                    }
                ]
            },
            "no hyper-parameter",
        ),
        ({"search": {"n_trials": 5, "min_complete_trials": 6}}, "min_complete_trials"),
        ({"search": {"pruning": False, "min_complete_trials": 2}}, "pruning only"),
        ({"search": {"ensemble": 3}}, "ensemble"),
        ({"search": {"selectors": ["boruta"]}}, "selectors"),
        ({"calibration": "beta"}, "calibration"),
    ],
)
def test_unused_or_impossible_settings_are_rejected(tmp_path, changes, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        tiny_config(tmp_path / "t.csv", **changes)


@pytest.mark.slow
def test_soft_voting_ensemble_of_the_best_families(tmp_path, mlflow_uri):
    synthetic_table(n_patients=40, lesions=1, n_noise=5, seed=6).to_csv(tmp_path / "t.csv")
    config = tiny_config(
        tmp_path / "t.csv",
        models=[{"name": "l2_lr"}, {"name": "svm"}],
        search={"n_trials": 6, "ensemble": 2, "pruning": False},
        outer_cv={"folds": 2, "repeats": 1},
    )
    result = run_experiment(config, tmp_path / "out", mlflow_uri)
    pipeline = joblib.load(result.paths["final_pipeline"])
    assert isinstance(pipeline[-1], VotingClassifier)
    assert sorted(pipeline[-1].named_estimators_) == ["l2_lr", "svm"]
    info = json.loads(result.paths["final_model_info"].read_text())
    assert 0 < info["threshold"] < 1
    features = pd.read_parquet(result.paths["final_training_features"])
    prepared = pipeline[:-1].transform(features)
    members = [
        member.predict_proba(prepared)[:, 1] for member in pipeline[-1].named_estimators_.values()
    ]
    np.testing.assert_allclose(pipeline.predict_proba(features)[:, 1], np.mean(members, axis=0))
    assert all(
        isinstance(member[-1], CalibratedClassifierCV)
        for member in pipeline[-1].named_estimators_.values()
    )
