"""Applying rules to a feature table: decisions, parameters and why a rule does not apply.

A rule applies to a case when the case's tracer (and primary tumour, when the rule names
one) matches and the rule's expressions can be decided. A missing input never makes a
case negative: it makes the rule not applicable to that case, unless the rest of the
expression already decides it (3-valued logic, see `radiomix.rules.expression`).
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
    """One rule on every case: decision 1/0/NaN, parameter (NaN outside the population)
    and status: `APPLICABLE` or the reason the rule does not apply."""

    decision: np.ndarray
    parameter: np.ndarray
    status: np.ndarray


def _case_ids(table: pd.DataFrame, mask: np.ndarray) -> list:
    """Up to five case ids (or row labels) where `mask` holds."""
    ids = table["case_id"] if "case_id" in table.columns else table.index.to_series()
    return ids[mask].head(5).tolist()


def _normalised(table: pd.DataFrame, column: str, case: str) -> pd.Series:
    """A text column in one case (`upper` or `lower`), missing cells as NaN."""
    values = table[column].astype("string").str.strip()
    values = values.str.upper() if case == "upper" else values.str.lower()
    return values.mask(values == "")


def _match(table: pd.DataFrame, column: str, allowed: tuple[str, ...], case: str,
           what: str) -> np.ndarray:
    """Per case: '' when the column's value is allowed, else the reason it is not."""
    if column not in table.columns:
        return np.full(len(table), f"{what} unknown", dtype=object)
    values = _normalised(table, column, case)
    wanted = [v.upper() if case == "upper" else v.lower() for v in allowed]
    reason = np.where(values.isin(wanted).to_numpy(dtype=bool), "", f"other {what}")
    return np.where(values.isna().to_numpy(), f"{what} unknown", reason).astype(object)


def population_status(table: pd.DataFrame, rule: Rule, by_primary: bool = True) -> np.ndarray:
    """Per case: '' inside the rule's population, else why not (tracer, then primary)."""
    status = np.full(len(table), "", dtype=object)
    if rule.spec.primary and by_primary:
        status = _match(table, "primary", rule.spec.primary, "lower", "primary")
    if rule.spec.tracers:
        if "tracer" not in table.columns:
            raise RadiomixError(f"rule {rule.id!r} applies by tracer but the feature table "
                                "has no 'tracer' column")
        by_tracer = _match(table, "tracer", rule.spec.tracers, "upper", "tracer")
        status = np.where(by_tracer != "", by_tracer, status)
    return status


def _missing_reasons(table: pd.DataFrame, rule: Rule) -> np.ndarray:
    """Per case: 'missing a, b' listing the rule's inputs that are missing."""
    names = features_of(rule.positive)
    if rule.negative is not None:
        names = list(dict.fromkeys(names + features_of(rule.negative)))
    missing = pd.DataFrame({
        name: table[name].isna().to_numpy() if name in table.columns else np.ones(len(table),
                                                                                 dtype=bool)
        for name in names})
    return missing.apply(lambda row: MISSING_PREFIX + ", ".join(row.index[row]), axis=1
                         ).to_numpy(dtype=object)


def _decide(table: pd.DataFrame, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """Decision 1/0/NaN on every case, and the mask of the indeterminate band (both the
    positive and the negative expression known to be false)."""
    positive = evaluate(rule.positive, table)
    if rule.negative is None:
        return positive, np.zeros(len(table), dtype=bool)
    negative = evaluate(rule.negative, table)
    clash = (positive == 1) & (negative == 1)
    if clash.any():
        raise RuleError(f"rule {rule.id!r}: positive and negative expressions both hold for "
                        f"cases {_case_ids(table, clash)}")
    decision = np.select([positive == 1, negative == 1], [1.0, 0.0], np.nan)
    return decision, (positive == 0) & (negative == 0)


def apply_rule(table: pd.DataFrame, rule: Rule, by_primary: bool = True) -> RuleOutcome:
    """Decision, parameter and applicability status of one rule on every case."""
    decision, indeterminate = _decide(table, rule)
    status = np.where(indeterminate, INDETERMINATE, APPLICABLE).astype(object)
    missing = np.isnan(decision) & ~indeterminate
    if missing.any():
        status[missing] = _missing_reasons(table, rule)[missing]
    outside = population_status(table, rule, by_primary)
    inside = outside == ""
    parameter = Feature(rule.spec.parameter).values(table)
    return RuleOutcome(decision=np.where(inside, decision, np.nan),
                       parameter=np.where(inside, parameter, np.nan),
                       status=np.where(inside, status, outside))


def evaluate_rules(table: pd.DataFrame, rules: list[Rule], by_primary: bool = True
                   ) -> pd.DataFrame:
    """Every rule on every case: columns `rule_<id>` (1.0 recurrence, 0.0 radionecrosis,
    NaN not applicable) and `param_<id>` (the continuous parameter, NaN outside the rule's
    population), indexed like `table`. `by_primary=False` applies rules by tracer only."""
    columns = {}
    for rule in rules:
        outcome = apply_rule(table, rule, by_primary)
        columns[f"rule_{rule.id}"] = outcome.decision
        columns[f"param_{rule.id}"] = outcome.parameter
    return pd.DataFrame(columns, index=table.index)
