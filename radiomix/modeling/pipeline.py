"""The leak-free modelling `Pipeline` built from a search choice.

Pipeline: median imputation and removal of near-constant features → ComBat across sites
(when asked and the training data hold at least two sites) → standard scaling → redundancy
filter → selection of k features → model, balanced as chosen and (optionally) recalibrated.
Every step is fitted on the training data it is given, so refitting the pipeline inside a
fold keeps the fold's test side unseen. The recalibration (`CalibratedClassifierCV` with
`ensemble=False`) learns Platt or isotonic scaling from out-of-fold scores over the given
patient-grouped folds of the training rows, then refits the model on all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiomix.modeling.config import PreprocessingConfig
from radiomix.modeling.transformers import Rebalanced, RedundancyFilter
from radiomix.modeling.zoo import ZOO, make_model, make_selector

SITE = "site"
MODEL_STEPS = ("select", "model")
"""Names of the steps that depend on the trial; the ones before are hyper-parameter free."""


@dataclass(frozen=True)
class Choice:
    """What one trial chose: model and its hyper-parameters, selector, k, class balancing."""

    model: str
    params: dict[str, Any]
    selector: str = "anova"
    k: int = 10
    balancing: str = "none"

    @classmethod
    def from_trial(cls, trial_params: dict[str, Any]) -> Choice:
        """The choice encoded in optuna trial parameters (see `search.suggest_params`)."""
        model = trial_params["model"]
        prefix = f"{model}__"
        params = {
            key[len(prefix) :]: value
            for key, value in trial_params.items()
            if key.startswith(prefix)
        }
        return cls(
            model,
            params,
            trial_params["selector"],
            int(trial_params["k_features"]),
            trial_params["balancing"],
        )


@dataclass(frozen=True)
class Calibration:
    """Recalibration step: method and the (patient-grouped) folds of the training rows."""

    method: str
    folds: list[tuple[np.ndarray, np.ndarray]]


def build_preprocessing(
    features: list[str], preprocessing: PreprocessingConfig, harmonise: bool
) -> list[tuple[str, Any]]:
    """The hyper-parameter-free steps: imputation, optional ComBat, scaling, redundancy filter.

    Near-constant features are dropped right after imputation, before ComBat: harmonising a
    constant column would turn it into a site indicator. With `harmonise` the input must hold
    a `site` column beside `features`.
    """
    numeric = Pipeline(
        [
            ("median", SimpleImputer(strategy="median")),
            (
                "constant",
                RedundancyFilter(preprocessing.near_constant_fraction, correlation_threshold=1.0),
            ),
        ]
    )
    imputer = ColumnTransformer(
        [("numeric", numeric, features)],
        remainder="passthrough" if harmonise else "drop",
        verbose_feature_names_out=False,
    )
    steps: list[tuple[str, Any]] = [("impute", imputer)]
    if harmonise:
        from radiomix.modeling.combat import ComBat

        steps.append(("combat", ComBat(batch_column=SITE)))
    steps += [
        ("scale", StandardScaler()),
        (
            "redundancy",
            RedundancyFilter(
                preprocessing.near_constant_fraction, preprocessing.correlation_threshold
            ),
        ),
    ]
    return steps


def build_classifier(
    choice: Choice, seed: int, calibration: Calibration | None = None
) -> Rebalanced | CalibratedClassifierCV:
    """The model of `choice`, balanced as chosen, wrapped in its recalibration when given."""
    model = Rebalanced(
        make_model(choice.model, choice.params, seed), choice.balancing, random_state=seed
    )
    if calibration is None:
        return model
    if not is_recalibrated(choice.model, calibration.method):
        return model
    method = "sigmoid" if calibration.method == "none" else calibration.method
    return CalibratedClassifierCV(model, method=method, cv=calibration.folds, ensemble=False)


def build_pipeline(
    features: list[str],
    choice: Choice,
    preprocessing: PreprocessingConfig,
    harmonise: bool,
    seed: int,
    calibration: Calibration | None = None,
) -> Pipeline:
    """The full leak-free pipeline: preprocessing, selection, (recalibrated) model."""
    steps = build_preprocessing(features, preprocessing, harmonise)
    steps += [
        ("select", make_selector(choice.selector, choice.k, seed)),
        ("model", build_classifier(choice, seed, calibration)),
    ]
    return Pipeline(steps).set_output(transform="pandas")


def model_steps(pipeline: Pipeline) -> Pipeline:
    """The trial-dependent tail of a pipeline (`MODEL_STEPS`)."""
    names = [name for name, _ in pipeline.steps]
    return pipeline[names.index(MODEL_STEPS[0]) :]


def baseline_pipeline(
    features: list[str], preprocessing: PreprocessingConfig, harmonise: bool
) -> Pipeline:
    """The trivial baseline: untuned L2 logistic regression (C = 1) on every feature left
    by the hyper-parameter-free preprocessing; no selection, balancing or recalibration."""
    steps = build_preprocessing(features, preprocessing, harmonise)
    steps.append(("model", LogisticRegression(max_iter=5000)))
    return Pipeline(steps).set_output(transform="pandas")


def is_recalibrated(model: str, method: str) -> bool:
    """True when the final model of `model` is wrapped in a recalibration step."""
    return method != "none" or ZOO[model].scores_only


def positive_scores(estimator: Any, X: Any, raw: bool) -> np.ndarray:
    """Scores of the positive class. `raw`: the decision function when there is one (what a
    recalibration step is fitted on), else the probability; otherwise the probability."""
    if (raw and hasattr(estimator, "decision_function")) or not hasattr(estimator, "predict_proba"):
        return estimator.decision_function(X)
    return estimator.predict_proba(X)[:, 1]


def output_threshold(pipeline: Pipeline, raw_threshold: float) -> float:
    """A cut-off chosen on the model's raw scores expressed on the pipeline's probabilities:
    mapped through the fitted (monotone) recalibration when there is one."""
    model = pipeline[-1]
    if not isinstance(model, CalibratedClassifierCV):
        return raw_threshold
    calibrator = model.calibrated_classifiers_[0].calibrators[0]
    return float(calibrator.predict(np.array([raw_threshold]))[0])
