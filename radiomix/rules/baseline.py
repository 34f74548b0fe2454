"""The rule-based baseline: every published rule on a feature table, next to its paper.

Two tables. :func:`baseline_report` has one row per rule, scored on the rule's own decision
(a composite rule such as "TBRmean ≥ 2 or TTP < 45" on both halves): confusion cells,
proportions, the AUC of the 0/1 decision, the published figures and, for a rule with
published class distributions, the sensitivity and specificity its threshold implies under
them. :func:`parameter_report` has one row per parameter and population, with the AUC of the
continuous parameter: rules that threshold the same parameter in the same population share
that row, and each parameter of a composite rule gets its own.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from scipy.stats import norm

from radiomix.data.manifest import parse_labels
from radiomix.errors import RadiomixError
from radiomix.rules.apply import APPLICABLE, INDETERMINATE, MISSING_PREFIX, apply_rule
from radiomix.rules.config import Rule
from radiomix.rules.expression import Compare, Feature, Number
from radiomix.stats import (
    StatisticsInputError,
    auc_delong,
    auc_score,
    binary_metrics,
)

PROPORTIONS = ("sensitivity", "specificity", "accuracy", "ppv", "npv")
PUBLISHED = (*PROPORTIONS, "auc")
PATIENT = "patient_id"


def labels_of(table: pd.DataFrame) -> np.ndarray:
    """The `label` column as 1.0 / 0.0 / NaN, or a RadiomixError naming the bad case."""
    if "label" not in table.columns:
        raise RadiomixError("the feature table has no 'label' column")
    return parse_labels(table["label"], case_ids_of(table), "feature table")


def case_ids_of(table: pd.DataFrame) -> pd.Series:
    """The case ids (or row labels) of the table."""
    return table["case_id"] if "case_id" in table.columns else table.index.to_series()


def patients_of(table: pd.DataFrame) -> np.ndarray:
    """The patient of each case (`patient_id`), or the case itself when the table has no
    patient column; a missing patient id is an error naming the case. Every interval of the
    baseline is clustered by it: several lesions of one patient are one patient's evidence
    (Obuchowski's AUC variance, design-effect Wilson intervals)."""
    if PATIENT not in table.columns:
        return case_ids_of(table).astype(str).to_numpy()
    missing = table[PATIENT].isna().to_numpy()
    if missing.any():
        raise RadiomixError(
            f"cases {case_ids_of(table)[missing].head(5).tolist()} have no {PATIENT}"
        )
    return table[PATIENT].astype(str).to_numpy()


def _reasons(status: np.ndarray) -> str:
    """'reason: count; ...' for the cases a rule does not apply to."""
    counts = Counter(s for s in status if s != APPLICABLE)
    return "; ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))


def _counts(status: np.ndarray, labelled: np.ndarray, unchecked: np.ndarray) -> dict:
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
        "n_population_unchecked": int((applicable & unchecked).sum()),
    }


def _decision_metrics(
    labels: np.ndarray, decision: np.ndarray, patients: np.ndarray, alpha: float
) -> dict:
    """TP/FP/TN/FN and the proportions with patient-clustered Wilson intervals on the
    decided, labelled cases."""
    used = ~np.isnan(decision) & ~np.isnan(labels)
    metrics = binary_metrics(
        labels[used].astype(int), decision[used].astype(int), alpha, groups=patients[used]
    )
    row = {name: metrics[name] for name in ("tp", "fp", "tn", "fn")}
    for name in PROPORTIONS:
        row[name] = metrics[name]
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = metrics[f"{name}_ci"]
    return row


def _auc(
    labels: np.ndarray, score: np.ndarray, direction: str, patients: np.ndarray, alpha: float
) -> dict:
    """AUC of a score (oriented by its direction) with the patient-clustered DeLong
    (Obuchowski) CI, on the labelled cases that have it."""
    used = ~np.isnan(score) & ~np.isnan(labels)
    y = labels[used].astype(int)
    row = {"n_auc": int(used.sum()), "auc": np.nan, "auc_ci_low": np.nan, "auc_ci_high": np.nan}
    if y.size and y.min() != y.max():
        oriented = score[used] if direction == "higher" else -score[used]
        try:
            result = auc_delong(y, oriented, alpha, groups=patients[used])
        except StatisticsInputError:  # a class from a single patient: no variance
            row["auc"] = auc_score(y, oriented)
        else:
            row.update(auc=result.auc, auc_ci_low=result.ci_low, auc_ci_high=result.ci_high)
    return row


def _population(rule: Rule) -> dict:
    """The rule's population as text columns."""
    spec = rule.spec
    return {
        "tracers": ", ".join(spec.tracers) or "any",
        "primary": ", ".join(spec.primary) or "any",
        "grades": ", ".join(str(g) for g in spec.grades) or "any",
        "rt_techniques": ", ".join(spec.rt_techniques) or "any",
        "applies_if": spec.applies_if or "",
    }


def _description(rule: Rule) -> dict:
    """What the rule is and where it comes from."""
    spec = rule.spec
    text = (
        spec.positive if spec.negative is None else (f"{spec.positive} (negative: {spec.negative})")
    )
    return {
        "rule_id": spec.id,
        "name": spec.name,
        **_population(rule),
        "rule": text,
        "parameters": ", ".join(
            f"{name} ({direction})" for name, direction in spec.parameters.items()
        ),
        "evidence": str(spec.evidence),
    }


def _published(rule: Rule) -> dict:
    """The published figures and provenance, prefixed `published_`."""
    published = rule.spec.published
    row = {f"published_{name}": getattr(published, name) for name in PUBLISHED}
    row.update(
        published_cohort=published.cohort,
        published_source=published.source,
        published_evidence=published.evidence,
        citation=rule.spec.citation,
        notes=rule.spec.notes,
    )
    return {key: np.nan if value is None else value for key, value in row.items()}


def implied_performance(rule: Rule) -> tuple[float, float]:
    """Sensitivity and specificity the rule's threshold implies under its published class
    distributions (normal), for a rule that compares one parameter with a number; NaN
    otherwise."""
    distributions, node = rule.spec.class_distributions, rule.positive
    if distributions is None or not isinstance(node, Compare) or rule.negative is not None:
        return np.nan, np.nan
    if isinstance(node.left, Feature) and isinstance(node.right, Number):
        threshold, above = node.right.value, node.op in (">", ">=")
    elif isinstance(node.left, Number) and isinstance(node.right, Feature):
        threshold, above = node.left.value, node.op in ("<", "<=")
    else:
        return np.nan, np.nan
    share_above = {
        name: float(norm.sf(threshold, loc=d.mean, scale=d.sd))
        for name, d in (
            ("recurrence", distributions.recurrence),
            ("radionecrosis", distributions.radionecrosis),
        )
    }
    if above:
        return share_above["recurrence"], 1.0 - share_above["radionecrosis"]
    return 1.0 - share_above["recurrence"], share_above["radionecrosis"]


def _implied(rule: Rule) -> dict:
    sensitivity, specificity = implied_performance(rule)
    source = rule.spec.class_distributions.source if rule.spec.class_distributions else ""
    return {
        "implied_sensitivity": sensitivity,
        "implied_specificity": specificity,
        "implied_source": source,
    }


def baseline_report(
    table: pd.DataFrame, rules: list[Rule], by_primary: bool = True, alpha: float = 0.05
) -> pd.DataFrame:
    """One row per rule, scored on its own decision: applicability counts (with reasons),
    TP/FP/TN/FN, sensitivity, specificity, accuracy, PPV, NPV with Wilson intervals, the AUC
    of the 0/1 decision with a DeLong interval, the published figures and the implied ones.
    Every interval is clustered by patient (see `patients_of`).

    Metrics use the labelled cases the rule decides; indeterminate and not-applicable
    cases are counted, never scored as negative. `by_primary=False` ignores the rules'
    primary-tumour restriction.
    """
    labels = labels_of(table)
    patients = patients_of(table)
    rows = []
    for rule in rules:
        outcome = apply_rule(table, rule, by_primary)
        rows.append(
            {
                **_description(rule),
                **_counts(outcome.status, ~np.isnan(labels), outcome.unchecked),
                **_decision_metrics(labels, outcome.decision, patients, alpha),
                **_auc(labels, outcome.decision, "higher", patients, alpha),
                **_published(rule),
                **_implied(rule),
            }
        )
    return pd.DataFrame(rows)


def population_text(rule: Rule) -> str:
    """The rule's population in one line: ``FET, glioma, grade 3/4``."""
    population = _population(rule)
    parts = [population["tracers"], population["primary"]]
    parts += [f"grade {population['grades']}"] if rule.spec.grades else []
    parts += [population["rt_techniques"]] if rule.spec.rt_techniques else []
    parts += [population["applies_if"]] if rule.spec.applies_if else []
    return ", ".join(parts)


def parameter_report(
    table: pd.DataFrame, rules: list[Rule], by_primary: bool = True, alpha: float = 0.05
) -> pd.DataFrame:
    """One row per parameter, direction and set of cases: the rules that threshold it on
    those cases, and the AUC of the continuous parameter (DeLong interval) on the labelled
    ones that have it. Rules whose populations select the same (non-empty) set of cases of
    this table share the row: one piece of evidence, not several."""
    labels = labels_of(table)
    patients = patients_of(table)
    groups: dict[tuple, dict] = {}
    for rule in rules:
        inside = apply_rule(table, rule, by_primary).inside
        for name, direction in rule.spec.parameters.items():
            cases = inside.tobytes() if inside.any() else population_text(rule)
            group = groups.setdefault(
                (name, direction, cases),
                {
                    "parameter": name,
                    "direction": direction,
                    "rules": [],
                    "populations": [],
                    "inside": inside,
                },
            )
            group["rules"].append(rule.id)
            if population_text(rule) not in group["populations"]:
                group["populations"].append(population_text(rule))
    rows = []
    for group in groups.values():
        score = np.where(group.pop("inside"), Feature(group["parameter"]).values(table), np.nan)
        rows.append(
            {
                "parameter": group["parameter"],
                "direction": group["direction"],
                "rules": ", ".join(group["rules"]),
                "population": " / ".join(group["populations"]),
                **_auc(labels, score, group["direction"], patients, alpha),
            }
        )
    return pd.DataFrame(rows)
