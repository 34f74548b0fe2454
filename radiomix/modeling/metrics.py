"""`metrics.json` from out-of-fold (or external) predictions: the model, each compared rule on
its own population, subgroups, and paired tests.

AUCs and intervals use the pooled out-of-fold scores of repeat 0; the model's decision is
`y_score >= threshold`, with the threshold chosen inside each training fold. Every interval
and test is clustered by patient (`patient_id`): several lesions of one patient are not
independent evidence (see `radiomix.stats`). A rule is compared with the model on
the cases where the rule applies: clustered paired DeLong (Obuchowski) between the model
score and the rule's continuous parameter, clustered McNemar between the decisions, and
paired differences of sensitivity and specificity. p-values are Holm-adjusted over the
rules (family: the AUC comparisons, and separately the decision comparisons); raw p-values
are kept.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from radiomix import stats

BOOTSTRAPS = 500
SUBGROUP_COLUMNS = ("tracer", "primary", "site")
NET_BENEFIT_THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))
CLUSTER_COLUMN = "patient_id"


def _clean(value: Any) -> Any:
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
    return [column[len("rule_") :] for column in oof.columns if column.startswith("rule_")]


def first_repeat(oof: pd.DataFrame) -> pd.DataFrame:
    """The predictions of repeat 0 (all rows when there is no `repeat` column)."""
    return oof[oof["repeat"] == 0] if "repeat" in oof.columns else oof


def _auc(frame: pd.DataFrame, score: str = "y_score") -> dict:
    """AUC with its patient-clustered interval; no interval when it has no variance."""
    y, patients = frame["y_true"].to_numpy(int), frame[CLUSTER_COLUMN].to_numpy()
    if not _two_classes(y):
        return {"auc": None, "auc_ci": [None, None]}
    try:
        result = stats.auc_delong(y, frame[score].to_numpy(float), groups=patients)
    except stats.StatisticsInputError:
        return {"auc": stats.auc_score(y, frame[score].to_numpy(float)), "auc_ci": [None, None]}
    return {"auc": result.auc, "auc_ci": [result.ci_low, result.ci_high]}


def decision_metrics(frame: pd.DataFrame, column: str = "y_pred") -> dict:
    """Confusion counts and the five proportions with patient-clustered intervals."""
    metrics = stats.binary_metrics(
        frame["y_true"].to_numpy(int),
        frame[column].to_numpy(int),
        groups=frame[CLUSTER_COLUMN].to_numpy(),
    )
    return {key: value for key, value in metrics.items() if key != "n"}


def model_metrics(oof: pd.DataFrame, seed: int) -> dict:
    """AUC (clustered CI, per-repeat mean and SD), the decision's proportions (clustered
    CIs), Brier and calibration intercept and slope (patient bootstrap CIs)."""
    first = first_repeat(oof)
    y, score = first["y_true"].to_numpy(int), first["y_score"].to_numpy(float)
    repeats = oof.groupby("repeat") if "repeat" in oof.columns else [(0, oof)]
    per_repeat = [
        stats.auc_score(part["y_true"].to_numpy(int), part["y_score"].to_numpy(float))
        for _, part in repeats
    ]
    patients = first[CLUSTER_COLUMN].to_numpy()

    def bootstrap(
        metric: Callable[[np.ndarray, np.ndarray], float],
    ) -> tuple[float, float, float]:
        return stats.clustered_bootstrap_ci(
            metric, y, score, patients, n_boot=BOOTSTRAPS, seed=seed
        )

    brier, brier_low, brier_high = bootstrap(stats.brier_score)
    intercept, *intercept_ci = bootstrap(lambda a, b: stats.calibration_intercept_slope(a, b)[0])
    slope, *slope_ci = bootstrap(lambda a, b: stats.calibration_intercept_slope(a, b)[1])
    return {
        **_auc(first),
        "auc_repeats_mean": float(np.mean(per_repeat)),
        "auc_repeats_sd": float(np.std(per_repeat, ddof=1)) if len(per_repeat) > 1 else 0.0,
        **decision_metrics(first),
        "brier": brier,
        "brier_ci": [brier_low, brier_high],
        "calibration_slope": slope,
        "calibration_slope_ci": slope_ci,
        "calibration_intercept": intercept,
        "calibration_intercept_ci": intercept_ci,
    }


def _difference(frame: pd.DataFrame, rule: str, label: int) -> dict:
    """Paired difference model - rule of sensitivity (label 1) or specificity (label 0)."""
    cases = frame[frame["y_true"] == label]
    result = stats.paired_difference(
        (cases["y_pred"] == label).to_numpy(int),
        (cases[f"rule_{rule}"] == label).to_numpy(int),
        cases[CLUSTER_COLUMN].to_numpy(),
    )
    return {
        "difference": result.difference,
        "ci": [result.ci_low, result.ci_high],
        "p": result.p_value,
    }


def _decision_comparison(applies: pd.DataFrame, rule: str) -> dict:
    """The rule's decision against the model's on the same cases."""
    y = applies["y_true"].to_numpy(int)
    model, decided = applies["y_pred"].to_numpy(int), applies[f"rule_{rule}"].to_numpy(int)
    rule_cells = decision_metrics(applies, f"rule_{rule}")
    model_cells = decision_metrics(applies)
    mcnemar = stats.mcnemar_test(y, model, decided, applies[CLUSTER_COLUMN].to_numpy())
    return {
        **rule_cells,
        "model_same_cases": {
            key: model_cells[key]
            for key in (
                "sensitivity",
                "sensitivity_ci",
                "specificity",
                "specificity_ci",
                "tp",
                "fp",
                "tn",
                "fn",
            )
        },
        "sensitivity_difference": _difference(applies, rule, 1),
        "specificity_difference": _difference(applies, rule, 0),
        "mcnemar_p_vs_model": mcnemar.p_value,
    }


def _auc_comparison(applies: pd.DataFrame, rule: str, direction: str) -> dict:
    """The AUC of the rule's parameter against the model's on the cases with the parameter."""
    scored = (
        applies[applies[f"param_{rule}"].notna()]
        if f"param_{rule}" in applies
        else applies.iloc[:0]
    )
    result: dict = {
        "n_with_parameter": len(scored),
        "auc": None,
        "auc_ci": [None, None],
        "delong_p_vs_model": None,
    }
    y = scored["y_true"].to_numpy(int)
    if not _two_classes(y):
        return result
    param = scored[f"param_{rule}"].to_numpy(float) * (-1.0 if direction == "lower" else 1.0)
    scored = scored.assign(parameter=param)
    result |= _auc(scored, "parameter")
    model = _auc(scored)
    result |= {"model_auc_same_cases": model["auc"], "model_auc_same_cases_ci": model["auc_ci"]}
    try:
        paired = stats.delong_test(
            y, scored["y_score"].to_numpy(float), param, groups=scored[CLUSTER_COLUMN].to_numpy()
        )
    except stats.StatisticsInputError:
        return result
    return result | {
        "delong_p_vs_model": paired.p_value,
        "auc_difference": paired.difference,
        "auc_difference_ci": [paired.ci_low, paired.ci_high],
    }


def rule_metrics(oof: pd.DataFrame, rule: str, direction: str = "higher") -> dict:
    """One rule on the cases where it applies, and its paired comparison with the model.

    The parameter's AUC is computed with its sign turned when `direction` is "lower"
    (lower values point to recurrence).
    """
    applies = first_repeat(oof)
    applies = applies[applies[f"rule_{rule}"].notna()]
    y = applies["y_true"].to_numpy(int)
    result: dict = {
        "n": len(applies),
        "n_patients": int(applies[CLUSTER_COLUMN].nunique()),
        "direction": direction,
    }
    if not _two_classes(y):
        return result | {
            "auc": None,
            "auc_ci": [None, None],
            "sensitivity": None,
            "specificity": None,
            "delong_p_vs_model": None,
            "mcnemar_p_vs_model": None,
        }
    return result | _decision_comparison(applies, rule) | _auc_comparison(applies, rule, direction)


def _adjust(rules: dict[str, dict]) -> None:
    """Holm-adjusted p-values across the rules, beside the raw ones (in place)."""
    families = ("delong_p_vs_model", "mcnemar_p_vs_model")
    for key in families:
        adjusted = stats.holm([values.get(key) for values in rules.values()])
        for values, p in zip(rules.values(), adjusted, strict=True):
            values[key.replace("_p_", "_p_holm_")] = p


def _level_metrics(frame: pd.DataFrame) -> dict:
    """n, patients, AUC and decision proportions of one subgroup."""
    result = {
        "n": len(frame),
        "n_patients": int(frame[CLUSTER_COLUMN].nunique()),
        "n_positive": int(frame["y_true"].sum()),
        **_auc(frame),
    }
    if len(frame):
        cells = decision_metrics(frame)
        result |= {
            key: cells[key]
            for key in ("sensitivity", "sensitivity_ci", "specificity", "specificity_ci")
        }
    return result


def _level_comparisons(frame: pd.DataFrame, column: str) -> list[dict]:
    """Unpaired clustered DeLong tests between every two levels of `column` (Holm within)."""
    comparisons = []
    for a, b in itertools.combinations(sorted(frame[column].dropna().astype(str).unique()), 2):
        first, second = frame[frame[column].astype(str) == a], frame[frame[column].astype(str) == b]
        try:
            test = stats.delong_unpaired_test(
                first["y_true"].to_numpy(int),
                first["y_score"].to_numpy(float),
                second["y_true"].to_numpy(int),
                second["y_score"].to_numpy(float),
                first[CLUSTER_COLUMN].to_numpy(),
                second[CLUSTER_COLUMN].to_numpy(),
            )
        except stats.StatisticsInputError as error:
            comparisons.append({"a": a, "b": b, "p": None, "note": str(error)})
            continue
        comparisons.append({"a": a, "b": b, "auc_difference": test.difference, "p": test.p_value})
    for comparison, p in zip(comparisons, stats.holm([c["p"] for c in comparisons]), strict=True):
        comparison["p_holm"] = p
    return comparisons


def subgroup_metrics(oof: pd.DataFrame) -> dict:
    """Per tracer, primary tumour and site: the model's metrics per level and unpaired
    comparisons between levels; only columns with at least two levels."""
    first = first_repeat(oof)
    result = {}
    for column in SUBGROUP_COLUMNS:
        if column not in first.columns or first[column].nunique() < 2:
            continue
        levels = {
            str(level): _level_metrics(part)
            for level, part in first.groupby(first[column].astype(str))
        }
        result[column] = {"levels": levels, "comparisons": _level_comparisons(first, column)}
    return result


def decision_curves(oof: pd.DataFrame) -> dict:
    """Net benefit of the model, treat-all and each rule on that rule's own population (the
    model on the same cases), and of the model and treat-all on all cases."""
    first = first_repeat(oof)
    thresholds = list(NET_BENEFIT_THRESHOLDS)

    def curves(frame: pd.DataFrame) -> dict:
        return stats.decision_curve(
            frame["y_true"].to_numpy(int), frame["y_score"].to_numpy(float), thresholds
        )

    result = {"all": curves(first)}
    for rule in rule_ids(first):
        applies = first[first[f"rule_{rule}"].notna()]
        if applies.empty:
            continue
        y, decided = applies["y_true"].to_numpy(int), applies[f"rule_{rule}"].to_numpy(int)
        result[rule] = curves(applies) | {
            "rule": [stats.net_benefit(y, decided, t) for t in thresholds]
        }
    return result


def experiment_metrics(
    oof: pd.DataFrame, seed: int = 0, directions: dict[str, str] | None = None
) -> dict:
    """The whole `metrics.json` dictionary (JSON-safe); `directions` maps rule id to
    "higher" or "lower" (default higher)."""
    first = first_repeat(oof)
    directions = directions or {}
    rules = {
        rule: rule_metrics(oof, rule, directions.get(rule, "higher")) for rule in rule_ids(oof)
    }
    _adjust(rules)
    return _clean(
        {
            "model": model_metrics(oof, seed),
            "rules": rules,
            "subgroups": subgroup_metrics(oof),
            "decision_curves": decision_curves(oof),
            "clustered_by": CLUSTER_COLUMN,
            "n_cases": int(first["case_id"].nunique()),
            "n_patients": int(first[CLUSTER_COLUMN].nunique()),
        }
    )


def feature_group_metrics(
    first: pd.DataFrame, scores: dict[str, pd.Series | None], n_features: dict[str, int]
) -> dict:
    """The full model against a model of each feature group alone on the same cases and
    folds: AUCs with clustered intervals, the paired clustered difference (group - all)
    with its interval, raw and Holm-adjusted p-values across the groups."""
    y, patients = first["y_true"].to_numpy(int), first[CLUSTER_COLUMN].to_numpy()
    groups: dict[str, dict] = {}
    for group, score in scores.items():
        if score is None:
            groups[group] = {
                "n_features": 0,
                "p": None,
                "note": "no feature of this group in the table",
            }
            continue
        frame = first.assign(group_score=score.reindex(first["case_id"]).to_numpy(float))
        paired = stats.delong_test(
            y,
            frame["group_score"].to_numpy(float),
            frame["y_score"].to_numpy(float),
            groups=patients,
        )
        groups[group] = {
            "n_features": n_features[group],
            **_auc(frame, "group_score"),
            "auc_difference_vs_all": paired.difference,
            "auc_difference_ci": [paired.ci_low, paired.ci_high],
            "p": paired.p_value,
        }
    for values, p in zip(
        groups.values(), stats.holm([v["p"] for v in groups.values()]), strict=True
    ):
        values["p_holm"] = p
    return _clean({"all": _auc(first), "groups": groups})
