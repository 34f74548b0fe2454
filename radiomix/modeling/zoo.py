"""The model zoo and the feature selectors: one table each, the only place names live.

A zoo entry names a classifier, how to build it, its default optuna search space and the
SHAP explainer that suits it. A selector entry names a feature-selection step and how to
build it for a given number of features k. The experiment schema, the search, the pipeline
and the explanations all read these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

Explainer = Literal["linear", "tree", "permutation"]


class ParamSpec(BaseModel):
    """One hyper-parameter of an optuna search space."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[str | int | float | bool | None] | None = None

    @model_validator(mode="after")
    def _complete(self) -> ParamSpec:
        if self.type == "categorical" and not self.choices:
            raise ValueError("a categorical parameter needs choices")
        if self.type == "categorical":
            return self
        if self.low is None or self.high is None:
            raise ValueError("a numeric parameter needs low and high")
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale parameter needs low > 0")
        if self.type == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ValueError("an int parameter needs whole-number low and high")
        return self

    @property
    def range(self) -> tuple[float, float]:
        """Low and high of a numeric parameter (both required by ``_complete``)."""
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter has no range")
        return self.low, self.high

    @property
    def options(self) -> list[str | int | float | bool | None]:
        """The choices of a categorical parameter (required by ``_complete``)."""
        if self.choices is None:
            raise ValueError(f"a {self.type} parameter has no choices")
        return self.choices

    def bounds(self) -> list:
        """The extreme values the search can draw (every choice of a categorical)."""
        if self.type == "categorical":
            return list(self.options)
        cast = int if self.type == "int" else float
        return [cast(value) for value in self.range]


def _spec(
    kind: str,
    low: float | None = None,
    high: float | None = None,
    log: bool = False,
    choices: list[str | int | float | bool | None] | None = None,
) -> ParamSpec:
    return ParamSpec(type=kind, low=low, high=high, log=log, choices=choices)


def _logistic(l1_ratio: float | None) -> Callable[[dict[str, Any], int], Any]:
    """Logistic regression with a fixed penalty mix, or the searched `l1_ratio` when None."""

    def make(params: dict[str, Any], seed: int) -> BaseEstimator:
        from sklearn.linear_model import LogisticRegression

        ratio = params.get("l1_ratio", 0.5) if l1_ratio is None else l1_ratio
        solver = "lbfgs" if ratio == 0.0 else "saga"
        return LogisticRegression(
            C=params["C"], l1_ratio=ratio, solver=solver, max_iter=5000, random_state=seed
        )

    return make


def _random_forest(params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(random_state=seed, n_jobs=1, **params)


def _svm(params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.svm import SVC

    return SVC(random_state=seed, **params)


def _xgboost(params: dict[str, Any], seed: int) -> BaseEstimator:
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_jobs=1,
        random_state=seed,
        tree_method="hist",
        eval_metric="logloss",
        verbosity=0,
        **params,
    )


@dataclass(frozen=True)
class ZooEntry:
    """One classifier: builder `make(params, seed)`, default search space, SHAP explainer.

    `scores_only` marks a model without probabilities of its own (its decision function is
    turned into probabilities by the calibration step, whatever the configuration says).
    """

    make: Callable[[dict[str, Any], int], Any]
    space: dict[str, ParamSpec]
    explainer: Explainer
    scores_only: bool = False


ZOO: dict[str, ZooEntry] = {
    "l1_lr": ZooEntry(_logistic(1.0), {"C": _spec("float", 1e-2, 1e2, log=True)}, "linear"),
    "l2_lr": ZooEntry(_logistic(0.0), {"C": _spec("float", 1e-4, 1e1, log=True)}, "linear"),
    "enet_lr": ZooEntry(
        _logistic(None),
        {"C": _spec("float", 1e-2, 1e2, log=True), "l1_ratio": _spec("float", 0.1, 0.9)},
        "linear",
    ),
    "rf": ZooEntry(
        _random_forest,
        {
            "n_estimators": _spec("int", 100, 300, log=True),
            "max_depth": _spec("int", 2, 8),
            "min_samples_leaf": _spec("int", 1, 8),
            "max_features": _spec("categorical", choices=["sqrt", "log2"]),
        },
        "tree",
    ),
    "svm": ZooEntry(
        _svm,
        {
            "C": _spec("float", 1e-2, 1e2, log=True),
            "gamma": _spec("float", 1e-4, 1e0, log=True),
            "kernel": _spec("categorical", choices=["rbf", "linear"]),
        },
        "permutation",
        scores_only=True,
    ),
    "xgb": ZooEntry(
        _xgboost,
        {
            "n_estimators": _spec("int", 50, 300, log=True),
            "max_depth": _spec("int", 1, 4),
            "learning_rate": _spec("float", 1e-2, 3e-1, log=True),
            "subsample": _spec("float", 0.6, 1.0),
            "colsample_bytree": _spec("float", 0.3, 1.0),
            "min_child_weight": _spec("float", 1.0, 10.0, log=True),
        },
        "tree",
    ),
}


SELECTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "anova": ("KBestSelector", {}),  # k best ANOVA F
    "lasso": ("LassoSelector", {"l1_ratio": 1.0}),  # k largest |coef| of an L1 logistic fit
    "enet": ("LassoSelector", {"l1_ratio": 0.5}),  # the same with an elastic-net penalty
    "mrmr": ("MRMRSelector", {}),  # minimum redundancy, maximum relevance
    "stability": ("StabilitySelector", {}),  # k most often kept by L1 fits on halves
}
"""Feature selectors by name: transformer class in `radiomix.modeling.transformers` and its
fixed arguments; every selector keeps (at most) k features."""


def make_selector(name: str, k: int, seed: int) -> BaseEstimator:
    """An unfitted selector of the table keeping k features (seeded when it draws samples)."""
    from radiomix.modeling import transformers

    class_name, kwargs = SELECTORS[name]
    cls = getattr(transformers, class_name)
    seeded = {"random_state": seed} if "random_state" in cls().get_params() else {}
    return cls(k=k, **kwargs, **seeded)


def check_bounds(name: str, overrides: dict[str, ParamSpec]) -> None:
    """ValueError naming a value of the search space that scikit-learn's own parameter
    validation rejects (XGBoost checks its values only when fitting)."""
    from sklearn.calibration import CalibratedClassifierCV

    defaults = {param: spec.bounds()[0] for param, spec in ZOO[name].space.items()}
    for param, spec in overrides.items():
        for value in spec.bounds():
            estimator = ZOO[name].make({**defaults, param: value}, 0)
            if isinstance(estimator, CalibratedClassifierCV):
                estimator = estimator.estimator
            if not hasattr(estimator, "_validate_params"):
                return
            try:
                estimator._validate_params()
            except (ValueError, TypeError) as error:
                raise ValueError(f"model {name}, parameter {param}: {error}") from None


def make_model(name: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    """An unfitted classifier of the zoo with hyper-parameters `params` (single-threaded)."""
    return ZOO[name].make(params, seed)


Balancing = Literal["none", "weight", "oversample"]
BALANCING: tuple[Balancing, ...] = get_args(Balancing)
"""Class balancing of the training rows: none, balanced class weights, or random
oversampling of the minority class (see `transformers.Rebalanced`)."""

Calibration = Literal["sigmoid", "isotonic", "none"]
CALIBRATION: tuple[Calibration, ...] = get_args(Calibration)
"""Recalibration of the model's scores inside the training fold: Platt (sigmoid), isotonic,
or none (a model without probabilities of its own is calibrated with sigmoid regardless)."""
