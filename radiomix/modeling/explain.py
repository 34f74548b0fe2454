"""SHAP explanation of a fitted modelling pipeline, on the features its selector kept.

Tree models use TreeExplainer, logistic regressions LinearExplainer, anything else a
PermutationExplainer on a small sample (kept fast).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from radiomix.modeling.pipeline import LINEAR_MODELS, TREE_MODELS

PERMUTATION_ROWS = 60
BACKGROUND_ROWS = 40


def _positive_class(values: np.ndarray) -> np.ndarray:
    """SHAP values of class 1 when the explainer returned one slice per class."""
    return values[..., 1] if values.ndim == 3 else values


def explain_pipeline(pipeline: Pipeline, model_name: str, X: pd.DataFrame, seed: int):
    """A `shap.Explanation` of the model on the pipeline-transformed, selected features of X."""
    import shap

    selected = pipeline[:-1].transform(X)
    model = pipeline[-1]
    if model_name in TREE_MODELS:
        explanation = shap.TreeExplainer(model)(selected)
    elif model_name in LINEAR_MODELS:
        explanation = shap.LinearExplainer(model, selected)(selected)
    else:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(selected), size=min(PERMUTATION_ROWS, len(selected)), replace=False)
        background = shap.maskers.Independent(selected, max_samples=BACKGROUND_ROWS)
        explainer = shap.PermutationExplainer(lambda a: model.predict_proba(a)[:, 1], background,
                                              seed=seed)
        explanation = explainer(selected.iloc[np.sort(rows)],
                                max_evals=2 * selected.shape[1] + 1)
    return shap.Explanation(values=_positive_class(np.asarray(explanation.values)),
                            data=np.asarray(explanation.data),
                            feature_names=list(selected.columns))


def mean_abs_shap(explanation) -> pd.DataFrame:
    """Mean |SHAP| per selected input feature, largest first."""
    importance = np.abs(explanation.values).mean(axis=0)
    table = pd.DataFrame({"feature": explanation.feature_names, "mean_abs_shap": importance})
    return table.sort_values("mean_abs_shap", ascending=False, ignore_index=True)
