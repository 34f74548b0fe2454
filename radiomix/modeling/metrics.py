"""`metrics.json` from the out-of-fold predictions: the model, each compared rule, paired tests.

AUCs and their DeLong intervals use the pooled out-of-fold scores of repeat 0; the model's
decision is `y_score >= threshold`, with the threshold chosen inside each training fold. A
rule is compared with the model on the cases where the rule applies: paired DeLong between
the model score and the rule's continuous parameter, exact McNemar between the decisions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from radiomix.evaluation import stats

BOOTSTRAPS = 500


def _clean(value):
    """JSON-safe: NaN becomes None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


def _two_classes(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def rule_ids(oof: pd.DataFrame) -> list[str]:
    """Ids of the rules whose columns `rule_<id>` are in the predictions table."""
    return [column[len("rule_"):] for column in oof.columns if column.startswith("rule_")]


def model_metrics(oof: pd.DataFrame, seed: int) -> dict:
    """AUC (DeLong CI, per-repeat mean and SD), Se/Sp (Wilson CI), Brier and calibration
    intercept and slope (patient-clustered bootstrap CIs)."""
    first = oof[oof["repeat"] == 0]
    y, score = first["y_true"].to_numpy(int), first["y_score"].to_numpy(float)
    auc = stats.auc_delong(y, score)
    per_repeat = [stats.auc_score(part["y_true"].to_numpy(int), part["y_score"].to_numpy(float))
                  for _, part in oof.groupby("repeat")]
    decision = stats.binary_metrics(y, first["y_pred"].to_numpy(int))
    patients = first["patient_id"].to_numpy()

    def bootstrap(metric):
        return stats.clustered_bootstrap_ci(metric, y, score, patients, n_boot=BOOTSTRAPS,
                                            seed=seed)

    brier, brier_low, brier_high = bootstrap(stats.brier_score)
    intercept, *intercept_ci = bootstrap(lambda a, b: stats.calibration_intercept_slope(a, b)[0])
    slope, *slope_ci = bootstrap(lambda a, b: stats.calibration_intercept_slope(a, b)[1])
    return {
        "auc": auc.auc, "auc_ci": [auc.ci_low, auc.ci_high],
        "auc_repeats_mean": float(np.mean(per_repeat)),
        "auc_repeats_sd": float(np.std(per_repeat, ddof=1)) if len(per_repeat) > 1 else 0.0,
        "sensitivity": decision["sensitivity"], "sensitivity_ci": decision["sensitivity_ci"],
        "specificity": decision["specificity"], "specificity_ci": decision["specificity_ci"],
        "brier": brier, "brier_ci": [brier_low, brier_high],
        "calibration_slope": slope, "calibration_slope_ci": slope_ci,
        "calibration_intercept": intercept, "calibration_intercept_ci": intercept_ci,
    }


def rule_metrics(oof: pd.DataFrame, rule: str, direction: str = "higher") -> dict:
    """One rule on the cases where it applies, and its paired comparison with the model.

    The parameter's AUC is computed with its sign turned when `direction` is "lower"
    (lower values point to recurrence).
    """
    first = oof[oof["repeat"] == 0]
    applies = first[first[f"rule_{rule}"].notna()]
    y = applies["y_true"].to_numpy(int)
    result: dict = {"n": len(applies), "direction": direction}
    if not _two_classes(y):
        return result | {"auc": None, "auc_ci": [None, None], "sensitivity": None,
                         "specificity": None, "delong_p_vs_model": None,
                         "mcnemar_p_vs_model": None}
    decision = stats.binary_metrics(y, applies[f"rule_{rule}"].to_numpy(int))
    mcnemar = stats.mcnemar_exact(y, applies["y_pred"].to_numpy(int),
                                  applies[f"rule_{rule}"].to_numpy(int))
    result |= {"sensitivity": decision["sensitivity"], "sensitivity_ci": decision["sensitivity_ci"],
               "specificity": decision["specificity"], "specificity_ci": decision["specificity_ci"],
               "mcnemar_p_vs_model": mcnemar.p_value}
    no_auc = {"auc": None, "auc_ci": [None, None], "delong_p_vs_model": None}
    if f"param_{rule}" not in applies:
        return result | no_auc
    scored = applies[applies[f"param_{rule}"].notna()]
    y_scored = scored["y_true"].to_numpy(int)
    if not _two_classes(y_scored):
        return result | no_auc
    param = scored[f"param_{rule}"].to_numpy(float) * (-1.0 if direction == "lower" else 1.0)
    auc = stats.auc_delong(y_scored, param)
    paired = stats.delong_test(y_scored, scored["y_score"].to_numpy(float), param)
    return result | {"n_with_parameter": len(scored), "auc": auc.auc,
                     "auc_ci": [auc.ci_low, auc.ci_high], "model_auc_same_cases": paired.auc_a,
                     "delong_p_vs_model": paired.p_value}


def experiment_metrics(oof: pd.DataFrame, seed: int = 0,
                       directions: dict[str, str] | None = None) -> dict:
    """The whole `metrics.json` dictionary (JSON-safe); `directions` maps rule id to
    "higher" or "lower" (default higher)."""
    first = oof[oof["repeat"] == 0]
    directions = directions or {}
    return _clean({
        "model": model_metrics(oof, seed),
        "rules": {rule: rule_metrics(oof, rule, directions.get(rule, "higher"))
                  for rule in rule_ids(oof)},
        "n_cases": int(first["case_id"].nunique()),
        "n_patients": int(first["patient_id"].nunique()),
    })
