"""SHAP explanation of a fitted modelling pipeline, on the features its selector kept.

The explainer is the one the model zoo names for the chosen model: TreeExplainer for trees,
LinearExplainer for logistic regressions (both explain the fitted model under its class
balancing and recalibration: log-odds for logistic regression and XGBoost, probability for
random forest), and a PermutationExplainer of the final probability on a small sample for
anything else (SVM, a soft-voting ensemble).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from radiomix.modeling.transformers import Rebalanced
from radiomix.modeling.zoo import ZOO, Explainer

if TYPE_CHECKING:  # shap loads in the functions (it is slow to import)
    import shap
    from sklearn.base import BaseEstimator

PERMUTATION_ROWS = 60
BACKGROUND_ROWS = 40


def _positive_class(values: np.ndarray) -> np.ndarray:
    """SHAP values of class 1 when the explainer returned one slice per class."""
    return values[..., 1] if values.ndim == 3 else values


def base_model(step: BaseEstimator) -> BaseEstimator:
    """The fitted zoo estimator inside a pipeline's last step (recalibration and class
    balancing unwrapped); the step itself when it wraps nothing known (an ensemble)."""
    if isinstance(step, CalibratedClassifierCV):
        step = step.calibrated_classifiers_[0].estimator
    return step.estimator_ if isinstance(step, Rebalanced) else step


def explainer_kind(pipeline: Pipeline, model_name: str) -> Explainer:
    """The zoo's explainer of `model_name`; permutation for a step that is not a zoo model."""
    step = pipeline[-1]
    known = isinstance(step, CalibratedClassifierCV | Rebalanced)
    return ZOO[model_name].explainer if known else "permutation"


def shap_explainer(
    pipeline: Pipeline, model_name: str, background: pd.DataFrame, seed: int
) -> tuple[shap.Explainer, bool]:
    """A SHAP explainer of the pipeline's model on selected features (`background`: the
    training rows through every step but the model), and whether its values are exact."""
    import shap

    kind = explainer_kind(pipeline, model_name)
    model = base_model(pipeline[-1])
    if kind == "tree":
        return shap.TreeExplainer(model), True
    if kind == "linear":
        return shap.LinearExplainer(model, background), True
    masker = shap.maskers.Independent(background, max_samples=BACKGROUND_ROWS)
    final = pipeline[-1]
    return shap.PermutationExplainer(
        lambda a: final.predict_proba(a)[:, 1], masker, seed=seed
    ), False


def explain_pipeline(
    pipeline: Pipeline, model_name: str, X: pd.DataFrame, seed: int
) -> shap.Explanation:
    """A `shap.Explanation` of the model on the pipeline-transformed, selected features of X."""
    import shap

    selected = pipeline[:-1].transform(X)
    explainer, exact = shap_explainer(pipeline, model_name, selected, seed)
    if exact:
        explanation = explainer(selected)
    else:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(selected), size=min(PERMUTATION_ROWS, len(selected)), replace=False)
        explanation = explainer(selected.iloc[np.sort(rows)], max_evals=2 * selected.shape[1] + 1)
    return shap.Explanation(
        values=_positive_class(np.asarray(explanation.values)),
        data=np.asarray(explanation.data),
        feature_names=list(selected.columns),
    )


def mean_abs_shap(explanation: shap.Explanation) -> pd.DataFrame:
    """Mean |SHAP| per selected input feature, largest first."""
    importance = np.abs(explanation.values).mean(axis=0)
    table = pd.DataFrame({"feature": explanation.feature_names, "mean_abs_shap": importance})
    return table.sort_values("mean_abs_shap", ascending=False, ignore_index=True)
