"""The model zoo, its default search spaces, and the leak-free modelling `Pipeline`.

Pipeline: median imputation and removal of near-constant features → ComBat across sites
(when asked and the training data hold at least two sites) → standard scaling → redundancy
filter → k best by ANOVA F → model. Every step is fitted on the training data it is given,
so refitting the pipeline inside a fold keeps the fold's test side unseen.
"""

from __future__ import annotations

from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from radiomix.modeling.config import ParamSpec, PreprocessingConfig
from radiomix.modeling.transformers import KBestSelector, RedundancyFilter

SITE = "site"


def _spec(kind: str, low=None, high=None, log=False, choices=None) -> ParamSpec:
    return ParamSpec(type=kind, low=low, high=high, log=log, choices=choices)


DEFAULT_SPACES: dict[str, dict[str, ParamSpec]] = {
    "l1_lr": {"C": _spec("float", 1e-2, 1e2, log=True)},
    "l2_lr": {"C": _spec("float", 1e-4, 1e1, log=True)},
    "enet_lr": {"C": _spec("float", 1e-2, 1e2, log=True), "l1_ratio": _spec("float", 0.1, 0.9)},
    "rf": {"n_estimators": _spec("int", 100, 300, log=True),
           "max_depth": _spec("int", 2, 8),
           "min_samples_leaf": _spec("int", 1, 8),
           "max_features": _spec("categorical", choices=["sqrt", "log2"])},
    "svm": {"C": _spec("float", 1e-2, 1e2, log=True),
            "gamma": _spec("float", 1e-4, 1e0, log=True),
            "kernel": _spec("categorical", choices=["rbf", "linear"])},
    "xgb": {"n_estimators": _spec("int", 50, 300, log=True),
            "max_depth": _spec("int", 1, 4),
            "learning_rate": _spec("float", 1e-2, 3e-1, log=True),
            "subsample": _spec("float", 0.6, 1.0),
            "colsample_bytree": _spec("float", 0.3, 1.0),
            "min_child_weight": _spec("float", 1.0, 10.0, log=True)},
}

LINEAR_MODELS = {"l1_lr", "l2_lr", "enet_lr"}
TREE_MODELS = {"rf", "xgb"}


def search_space(model: str, overrides: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
    """The default search space of `model` with the experiment's entries replacing defaults."""
    return {**DEFAULT_SPACES[model], **overrides}


def make_model(name: str, params: dict[str, Any], seed: int):
    """An unfitted classifier of the zoo with hyper-parameters `params` (single-threaded)."""
    if name in LINEAR_MODELS:
        penalty = {"l1_lr": 1.0, "l2_lr": 0.0, "enet_lr": params.get("l1_ratio", 0.5)}[name]
        solver = "lbfgs" if penalty == 0.0 else "saga"
        return LogisticRegression(C=params["C"], l1_ratio=penalty, solver=solver,
                                  class_weight="balanced", max_iter=5000, random_state=seed)
    if name == "rf":
        return RandomForestClassifier(class_weight="balanced", random_state=seed, n_jobs=1,
                                      **params)
    if name == "svm":
        svm = SVC(class_weight="balanced", random_state=seed, **params)
        return CalibratedClassifierCV(svm, method="sigmoid", cv=3, ensemble=False)
    if name == "xgb":
        from xgboost import XGBClassifier

        return XGBClassifier(n_jobs=1, random_state=seed, tree_method="hist",
                             eval_metric="logloss", verbosity=0, **params)
    raise ValueError(f"unknown model {name!r}")


def build_preprocessing(features: list[str], preprocessing: PreprocessingConfig,
                        harmonise: bool) -> list[tuple[str, Any]]:
    """The hyper-parameter-free steps: imputation, optional ComBat, scaling, redundancy filter.

    Near-constant features are dropped right after imputation, before ComBat: harmonising a
    constant column would turn it into a site indicator. With `harmonise` the input must hold
    a `site` column beside `features`.
    """
    numeric = Pipeline([("median", SimpleImputer(strategy="median")),
                        ("constant", RedundancyFilter(preprocessing.near_constant_fraction,
                                                      correlation_threshold=1.0))])
    imputer = ColumnTransformer([("numeric", numeric, features)],
                                remainder="passthrough" if harmonise else "drop",
                                verbose_feature_names_out=False)
    steps: list[tuple[str, Any]] = [("impute", imputer)]
    if harmonise:
        from radiomix.modeling.combat import ComBat

        steps.append(("combat", ComBat(batch_column=SITE)))
    steps += [("scale", StandardScaler()),
              ("redundancy", RedundancyFilter(preprocessing.near_constant_fraction,
                                              preprocessing.correlation_threshold))]
    return steps


def build_pipeline(features: list[str], model: str, params: dict[str, Any], k: int,
                   preprocessing: PreprocessingConfig, harmonise: bool, seed: int) -> Pipeline:
    """The full leak-free pipeline: preprocessing, k-best selection, model."""
    steps = build_preprocessing(features, preprocessing, harmonise)
    steps += [("select", KBestSelector(k=k)), ("model", make_model(model, params, seed))]
    return Pipeline(steps).set_output(transform="pandas")


def model_params(trial_params: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """Split optuna trial parameters into model name, model hyper-parameters and k."""
    model = trial_params["model"]
    prefix = f"{model}__"
    params = {key[len(prefix):]: value for key, value in trial_params.items()
              if key.startswith(prefix)}
    return model, params, int(trial_params["k_features"])
