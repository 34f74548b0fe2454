"""Headline figures of a nested CV over every outer repeat, for the model and the baseline.

One repeat's AUC depends on how its folds fell (on small tables by up to 0.1), so the
headline AUC is the mean of the per-repeat pooled out-of-fold AUCs, with their standard
deviation. The interval is a patient bootstrap of the AUC pooled over all repeats: each
patient's rows of every repeat are drawn together, so the repeats (which reuse the same
patients) do not count as independent data (cluster bootstrap, Davison & Hinkley 1997, §3.8).
Brier score, calibration intercept and slope are pooled and bootstrapped the same way, and
the Brier score of always predicting the prevalence is given beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from radiomix import stats

BOOTSTRAPS = 500


def _calibration(index: int) -> Callable[[np.ndarray, np.ndarray], float]:
    return lambda y, p: stats.calibration_intercept_slope(y, p)[index]


def headline_metrics(oof: pd.DataFrame, score: str, seed: int) -> dict:
    """Headline figures of the probabilities in column `score` of the out-of-fold table
    (columns repeat, patient_id, y_true)."""
    y = oof["y_true"].to_numpy(int)
    p = oof[score].to_numpy(float)
    patients = oof["patient_id"].to_numpy()
    per_repeat = [
        stats.auc_score(part["y_true"].to_numpy(int), part[score].to_numpy(float))
        for _, part in oof.groupby("repeat")
    ]
    result: dict = {
        "auc": float(np.mean(per_repeat)),
        "auc_sd": float(np.std(per_repeat, ddof=1)) if len(per_repeat) > 1 else 0.0,
        "auc_repeats": [float(a) for a in per_repeat],
    }
    metrics = {
        "auc_pooled": stats.auc_score,
        "brier": stats.brier_score,
        "calibration_intercept": _calibration(0),
        "calibration_slope": _calibration(1),
    }
    for name, metric in metrics.items():
        estimate, low, high = stats.clustered_bootstrap_ci(
            metric, y, p, patients, n_boot=BOOTSTRAPS, seed=seed
        )
        result[name], result[f"{name}_ci"] = estimate, [low, high]
    prevalence = float(np.mean(y))
    result["prevalence"] = prevalence
    result["brier_prevalence"] = prevalence * (1.0 - prevalence)
    return {key: _finite(value) for key, value in result.items()}


def _finite(value: Any) -> Any:
    """JSON-safe: NaN (an undefined interval) becomes None, in lists too."""
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return None if value != value else value
