"""Applying rules to a feature table: decisions, parameters and why a rule does not apply.

A rule applies to a case when the case is in the rule's population and the rule's
expressions can be decided. The population is the tracer, the primary tumour, the WHO grade
and the radiotherapy technique the rule names, and its `applies_if` expression (e.g. a size
criterion). A case whose grade or RT technique is unknown stays in the population and is
counted as `unchecked`; a known other value puts it out. A missing input never makes a case
negative: it makes the rule not applicable to that case, unless the rest of the expression
already decides it (3-valued logic, see `radiomix.rules.expression`).

A rule's score (`param_<id>`) is its parameter for a one-parameter rule and its own 0/1
decision for a composite rule, so a composite rule is compared on what it decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiomix.errors import RadiomixError, RuleError
from radiomix.rules.config import Rule
from radiomix.rules.expression import Feature, evaluate, features_of

APPLICABLE = "applicable"
INDETERMINATE = "indeterminate"
MISSING_PREFIX = "missing "


@dataclass(frozen=True)
class RuleOutcome:
    """One rule on every case: decision 1/0/NaN and score (NaN outside the population),
    status (`APPLICABLE` or why the rule does not apply), `inside` the population, and
    `unchecked`: inside with a grade or RT technique the rule restricts left unknown."""

    decision: np.ndarray
    score: np.ndarray
    status: np.ndarray
    inside: np.ndarray
    unchecked: np.ndarray


def _case_ids(table: pd.DataFrame, mask: np.ndarray) -> list:
    """Up to five case ids (or row labels) where `mask` holds."""
    ids = table["case_id"] if "case_id" in table.columns else table.index.to_series()
    return ids[mask].head(5).tolist()


def _normalised(table: pd.DataFrame, column: str, case: str) -> pd.Series:
    """A text column in one case (`upper` or `lower`), missing cells as NaN."""
    column_values = table[column]
    if pd.api.types.is_numeric_dtype(column_values):  # grade 3.0 -> "3"
        column_values = column_values.map(lambda v: f"{v:g}" if pd.notna(v) else pd.NA)
    values = column_values.astype("string").str.strip()
    values = values.str.upper() if case == "upper" else values.str.lower()
    return values.mask(values == "")


def _match(
    table: pd.DataFrame, column: str, allowed: tuple[str, ...], case: str, what: str
) -> np.ndarray:
    """Per case: '' when the column's value is allowed, else the reason it is not."""
    if column not in table.columns:
        return np.full(len(table), f"{what} unknown", dtype=object)
    values = _normalised(table, column, case)
    wanted = [v.upper() if case == "upper" else v.lower() for v in allowed]
    reason = np.where(values.isin(wanted).to_numpy(dtype=bool), "", f"other {what}")
    return np.where(values.isna().to_numpy(), f"{what} unknown", reason).astype(object)


def population_status(table: pd.DataFrame, rule: Rule, by_primary: bool = True) -> np.ndarray:
    """Per case: '' inside the rule's population, else why not (tracer, primary, grade, RT
    technique, then the `applies_if` criterion)."""
    status = np.full(len(table), "", dtype=object)
    restrictions = [
        ("rt_technique", tuple(rule.spec.rt_techniques), "RT technique"),
        ("grade", tuple(str(g) for g in rule.spec.grades), "grade"),
    ]
    for column, allowed, what in restrictions:
        if allowed:
            reason = _match(table, column, allowed, "lower", what)
            status = np.where(reason == f"other {what}", reason, status)
    if rule.spec.primary and by_primary:
        by_primary_status = _match(table, "primary", rule.spec.primary, "lower", "primary")
        status = np.where(by_primary_status != "", by_primary_status, status)
    if rule.spec.tracers:
        if "tracer" not in table.columns:
            raise RadiomixError(
                f"rule {rule.id!r} applies by tracer but the feature table has no 'tracer' column"
            )
        by_tracer = _match(table, "tracer", rule.spec.tracers, "upper", "tracer")
        status = np.where(by_tracer != "", by_tracer, status)
    if rule.applies_if is not None:
        criterion = evaluate(rule.applies_if, table)
        status = np.where(
            (status == "") & (criterion == 0), f"outside {rule.spec.applies_if}", status
        )
    return status


def unchecked_population(table: pd.DataFrame, rule: Rule) -> np.ndarray:
    """Per case: the grade or RT technique the rule restricts is unknown."""
    unknown = np.zeros(len(table), dtype=bool)
    for column, allowed in (("grade", rule.spec.grades), ("rt_technique", rule.spec.rt_techniques)):
        if allowed:
            values = (
                _normalised(table, column, "lower")
                if column in table.columns
                else pd.Series(np.nan, index=table.index)
            )
            unknown |= values.isna().to_numpy()
    return unknown


def _missing_reasons(table: pd.DataFrame, rule: Rule) -> np.ndarray:
    """Per case: 'missing a, b' listing the rule's inputs that are missing."""
    names = features_of(rule.positive)
    for node in (rule.negative, rule.applies_if):
        if node is not None:
            names = list(dict.fromkeys(names + features_of(node)))
    missing = pd.DataFrame(
        {
            name: table[name].isna().to_numpy()
            if name in table.columns
            else np.ones(len(table), dtype=bool)
            for name in names
        }
    )
    return missing.apply(lambda row: MISSING_PREFIX + ", ".join(row.index[row]), axis=1).to_numpy(
        dtype=object
    )


def _decide(table: pd.DataFrame, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """Decision 1/0/NaN on every case, and the mask of the indeterminate band (both the
    positive and the negative expression known to be false)."""
    positive = evaluate(rule.positive, table)
    if rule.negative is None:
        return positive, np.zeros(len(table), dtype=bool)
    negative = evaluate(rule.negative, table)
    clash = (positive == 1) & (negative == 1)
    if clash.any():
        raise RuleError(
            f"rule {rule.id!r}: positive and negative expressions both hold for "
            f"cases {_case_ids(table, clash)}"
        )
    decision = np.select([positive == 1, negative == 1], [1.0, 0.0], np.nan)
    return decision, (positive == 0) & (negative == 0)


def rule_score(table: pd.DataFrame, rule: Rule, decision: np.ndarray) -> np.ndarray:
    """The parameter of a one-parameter rule, the decision of a composite rule."""
    return decision if rule.composite else Feature(rule.parameters[0]).values(table)


def apply_rule(table: pd.DataFrame, rule: Rule, by_primary: bool = True) -> RuleOutcome:
    """Decision, score and applicability status of one rule on every case."""
    decision, indeterminate = _decide(table, rule)
    status = np.where(indeterminate, INDETERMINATE, APPLICABLE).astype(object)
    outside = population_status(table, rule, by_primary)
    if rule.applies_if is not None:
        unknown = np.isnan(evaluate(rule.applies_if, table)) & (outside == "")
        decision = np.where(unknown, np.nan, decision)
    missing = np.isnan(decision) & ~indeterminate
    if missing.any():
        status[missing] = _missing_reasons(table, rule)[missing]
    inside = outside == ""
    return RuleOutcome(
        decision=np.where(inside, decision, np.nan),
        score=np.where(inside, rule_score(table, rule, decision), np.nan),
        status=np.where(inside, status, outside),
        inside=inside,
        unchecked=inside & unchecked_population(table, rule),
    )


def evaluate_rules(table: pd.DataFrame, rules: list[Rule], by_primary: bool = True) -> pd.DataFrame:
    """Every rule on every case: columns `rule_<id>` (1.0 recurrence, 0.0 radionecrosis,
    NaN not applicable) and `param_<id>` (the rule's score: its parameter, or its decision
    for a composite rule; NaN outside the rule's population), indexed like `table`.
    `by_primary=False` applies rules without their primary-tumour restriction."""
    columns = {}
    for rule in rules:
        outcome = apply_rule(table, rule, by_primary)
        columns[f"rule_{rule.id}"] = outcome.decision
        columns[f"param_{rule.id}"] = outcome.score
    return pd.DataFrame(columns, index=table.index)
