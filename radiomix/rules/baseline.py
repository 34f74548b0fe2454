"""The rule-based baseline: every published rule on a feature table, next to its paper."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from radiomix.data.manifest import parse_labels
from radiomix.errors import RadiomixError
from radiomix.evaluation.stats import auc_delong, binary_metrics
from radiomix.rules.apply import APPLICABLE, INDETERMINATE, MISSING_PREFIX, apply_rule
from radiomix.rules.config import Rule

PROPORTIONS = ("sensitivity", "specificity", "accuracy", "ppv", "npv")
PUBLISHED = (*PROPORTIONS, "auc")


def labels_of(table: pd.DataFrame) -> np.ndarray:
    """The `label` column as 1.0 / 0.0 / NaN, or a RadiomixError naming the bad case."""
    if "label" not in table.columns:
        raise RadiomixError("the feature table has no 'label' column")
    case_ids = table["case_id"] if "case_id" in table.columns else table.index.to_series()
    return parse_labels(table["label"], case_ids, "feature table")


def _reasons(status: np.ndarray) -> str:
    """'reason: count; ...' for the cases a rule does not apply to."""
    counts = Counter(s for s in status if s != APPLICABLE)
    return "; ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))


def _counts(status: np.ndarray, labelled: np.ndarray) -> dict:
    """How many cases a rule applies to, and why not for the rest."""
    applicable = status == APPLICABLE
    missing = np.array([s.startswith(MISSING_PREFIX) for s in status], dtype=bool)
    indeterminate = status == INDETERMINATE
    return {
        "n_cases": len(status),
        "n_applicable": int(applicable.sum()),
        "n_not_applicable": int((~applicable).sum()),
        "n_other_population": int((~applicable & ~missing & ~indeterminate).sum()),
        "n_missing_input": int(missing.sum()),
        "n_indeterminate": int(indeterminate.sum()),
        "not_applicable_reasons": _reasons(status),
        "n_unlabelled": int((applicable & ~labelled).sum()),
        "n_evaluated": int((applicable & labelled).sum()),
    }


def _decision_metrics(labels: np.ndarray, decision: np.ndarray, alpha: float) -> dict:
    """TP/FP/TN/FN and the proportions with Wilson intervals on the decided, labelled cases."""
    used = ~np.isnan(decision) & ~np.isnan(labels)
    metrics = binary_metrics(labels[used].astype(int), decision[used].astype(int), alpha)
    row = {name: metrics[name] for name in ("tp", "fp", "tn", "fn")}
    for name in PROPORTIONS:
        row[name] = metrics[name]
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = metrics[f"{name}_ci"]
    return row


def _parameter_auc(labels: np.ndarray, parameter: np.ndarray, direction: str,
                   alpha: float) -> dict:
    """AUC of the continuous parameter (oriented by the rule's direction) with DeLong CI."""
    used = ~np.isnan(parameter) & ~np.isnan(labels)
    y = labels[used].astype(int)
    row = {"n_auc": int(used.sum()), "auc": np.nan, "auc_ci_low": np.nan, "auc_ci_high": np.nan}
    if y.size and y.min() != y.max():
        score = parameter[used] if direction == "higher" else -parameter[used]
        result = auc_delong(y, score, alpha)
        row.update(auc=result.auc, auc_ci_low=result.ci_low, auc_ci_high=result.ci_high)
    return row


def _description(rule: Rule) -> dict:
    """What the rule is and where it comes from."""
    spec = rule.spec
    text = spec.positive if spec.negative is None else (
        f"{spec.positive} (negative: {spec.negative})")
    return {
        "rule_id": spec.id,
        "name": spec.name,
        "tracers": ", ".join(spec.tracers) or "any",
        "primary": ", ".join(spec.primary) or "any",
        "rule": text,
        "parameter": spec.parameter,
        "direction": spec.direction,
    }


def _published(rule: Rule) -> dict:
    """The published figures and provenance, prefixed `published_`."""
    published = rule.spec.published
    row = {f"published_{name}": getattr(published, name) for name in PUBLISHED}
    row.update(published_cohort=published.cohort, published_source=published.source,
               published_evidence=published.evidence, citation=rule.spec.citation,
               notes=rule.spec.notes)
    return {key: np.nan if value is None else value for key, value in row.items()}


def baseline_report(table: pd.DataFrame, rules: list[Rule], by_primary: bool = True,
                    alpha: float = 0.05) -> pd.DataFrame:
    """One row per rule: applicability counts (with reasons), TP/FP/TN/FN, sensitivity,
    specificity, accuracy, PPV, NPV with Wilson intervals, the AUC of the rule's parameter
    with a DeLong interval, and the published figures side by side.

    Metrics use the labelled cases the rule decides; indeterminate and not-applicable
    cases are counted, never scored as negative. `by_primary=False` ignores the rules'
    primary-tumour restriction and applies them by tracer only.
    """
    labels = labels_of(table)
    rows = []
    for rule in rules:
        outcome = apply_rule(table, rule, by_primary)
        rows.append({
            **_description(rule),
            **_counts(outcome.status, ~np.isnan(labels)),
            **_decision_metrics(labels, outcome.decision, alpha),
            **_parameter_auc(labels, outcome.parameter, rule.spec.direction, alpha),
            **_published(rule),
        })
    return pd.DataFrame(rows)
