"""The rules of ``configs/rules.yaml`` on the simulator's nominal parameters, through the rule
engine (``radiomix.rules``), next to the Se/Sp their papers report.

Nominal parameters are those of the object (before the PSF, without noise). Rules whose
inputs are image measures only (``pet_TWMmax``, ``pet_TBRmax``) are not evaluable here, and
ratios set on the object above what a reader measures (``pet_LNmax``) read differently; the
calibration benchmark measures every rule on images through ``radiomix extract``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from radiomix.synth.config import SynthConfig
from radiomix.synth.sampler import parameter_rows, sample_patient

META_ANALYSIS_MARGIN = 0.08
# "121 recurrence vs 11 treatment-related", "20 progression, 26 radionecrosis", ...
COHORT_COUNTS = re.compile(
    r"(\d+)\s+(?:tumou?r|recurren\w*|progression)\s*(?:vs\.?|,)\s*(\d+)", re.IGNORECASE
)


def nominal_parameters(config: SynthConfig, n_patients: int, seed: int) -> pd.DataFrame:
    """Nominal parameters (one row per lesion) of a cohort, without making images."""
    rows = [
        row
        for index in range(n_patients)
        for row in parameter_rows(config, sample_patient(config, seed, index))
    ]
    return pd.DataFrame(rows)


def published_counts(cohort: str) -> tuple[int | None, int | None]:
    """(n recurrence, n radionecrosis) of a rule's published cohort text, None if pooled."""
    found = COHORT_COUNTS.search(cohort or "")
    return (int(found.group(1)), int(found.group(2))) if found else (None, None)


def published_interval(proportion: float, n: int | None) -> tuple[float, float]:
    """95% Clopper-Pearson interval of a published proportion (fixed margin when pooled)."""
    if n is None:
        return (
            max(proportion - META_ANALYSIS_MARGIN, 0.0),
            min(proportion + META_ANALYSIS_MARGIN, 1.0),
        )
    interval = binomtest(round(proportion * n), n).proportion_ci(0.95)
    return float(interval.low), float(interval.high)


def with_published_intervals(report: pd.DataFrame) -> pd.DataFrame:
    """A baseline report with the published Se/Sp 95 % intervals and whether the measured
    Se/Sp fall inside them (``se_inside``, ``sp_inside``)."""
    report = report.copy()
    for what, position in (("sensitivity", 0), ("specificity", 1)):
        low: list[float] = []
        high: list[float] = []
        for row in report.itertuples():
            published = getattr(row, f"published_{what}")
            if pd.isna(published):
                low.append(np.nan)
                high.append(np.nan)
                continue
            counts = published_counts(row.published_cohort)
            interval = published_interval(published, counts[position])
            low.append(interval[0])
            high.append(interval[1])
        report[f"published_{what}_ci_low"], report[f"published_{what}_ci_high"] = low, high
        measured = report[what]
        report[f"{what[:2]}_inside"] = (measured >= report[f"published_{what}_ci_low"]) & (
            measured <= report[f"published_{what}_ci_high"]
        )
    return report


def rule_performance(table: pd.DataFrame) -> pd.DataFrame:
    """Every rule of ``configs/rules.yaml`` on a table of nominal (or measured) parameters."""
    from radiomix.rules import baseline_report, load_rules

    return with_published_intervals(baseline_report(table, load_rules()))


def markdown_table(performance: pd.DataFrame) -> str:
    """The rule performance as a Markdown table (rules without evaluated cases say so)."""
    lines = [
        "| rule | evidence | n rec / n nec | Se simulated | Se published (95% CI) "
        "| Sp simulated | Sp published (95% CI) |",
        "|---|---|---|---|---|---|---|",
    ]

    def published(value: float, low: float, high: float) -> str:
        return "–" if pd.isna(value) else f"{value:.2f} ({low:.2f}–{high:.2f})"

    for row in performance.itertuples():
        if row.n_evaluated == 0:
            counts, se, sp = "no case (image measure, or not simulated)", "–", "–"
        else:
            counts = f"{row.tp + row.fn} / {row.tn + row.fp}"
            se, sp = f"{row.sensitivity:.2f}", f"{row.specificity:.2f}"
        published_se = published(
            row.published_sensitivity,
            row.published_sensitivity_ci_low,
            row.published_sensitivity_ci_high,
        )
        published_sp = published(
            row.published_specificity,
            row.published_specificity_ci_low,
            row.published_specificity_ci_high,
        )
        lines.append(
            f"| `{row.rule_id}` | {row.published_evidence} | {counts} | {se} "
            f"| {published_se} | {sp} | {published_sp} |"
        )
    return "\n".join(lines) + "\n"
