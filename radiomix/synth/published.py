"""Published decision rules applied to the simulator's nominal parameters (Se/Sp vs papers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from scipy.stats import binomtest

from radiomix.synth.config import SynthConfig
from radiomix.synth.sampler import parameter_rows, sample_patient


@dataclass(frozen=True)
class PublishedRule:
    """A rule ⇒ recurrence with the sensitivity/specificity its paper reports."""

    rule_id: str
    tracer: str | None
    column: str
    positive: Callable[[pd.DataFrame], pd.Series]
    sensitivity: float
    specificity: float
    n_positive: int | None  # None for pooled meta-analyses
    n_negative: int | None
    source: str


RULES = (
    PublishedRule("fet_dynamic", "FET", "dyn_TTP_min",
                  lambda t: (t["pet_TBRmean"] >= 2.0) | (t["dyn_TTP_min"] < 45.0),
                  0.93, 1.00, 121, 11, "Galldiks 2015: TBRmean >= 2.0 or TTP < 45 min"),
    PublishedRule("fdopa_visual", "FDOPA", "fdopa_LS_max_over_max",
                  lambda t: t["fdopa_LS_max_over_max"] >= 1.0,
                  0.813, 0.843, 32, 51, "Lizarraga 2014: L/S max >= 1.0 (visual score proxy)"),
    PublishedRule("fdg_dual_phase", "FDG", "fdg_dual_phase_index",
                  lambda t: t["fdg_dual_phase_index"] > 0.19,
                  0.85, 0.88, None, None,
                  "Horky 2011 cut-off: retention index > 0.19; Li 2018 pooled PET in metastases"),
    PublishedRule("rcbv_mean", None, "mri_rCBV_mean", lambda t: t["mri_rCBV_mean"] >= 1.8,
                  0.88, 0.88, None, None, "Patel 2017 pooled mean rCBV; cut-off 1.8 (Gasparetto)"),
    PublishedRule("mrs_cho_naa", None, "mrs_cho_naa", lambda t: t["mrs_cho_naa"] > 1.8,
                  0.88, 0.86, None, None, "Zhang 2014 pooled Cho/NAA; cut-off 1.8 (Weybright)"),
    PublishedRule("adc_ratio", None, "mri_ADC_ratio", lambda t: t["mri_ADC_ratio"] < 1.6,
                  0.71, 0.87, None, None,
                  "van Dijken 2017 pooled ADC; cut-off 1.6 = midpoint of Hein 2004 class means"),
)
META_ANALYSIS_MARGIN = 0.08


def nominal_parameters(config: SynthConfig, n_patients: int, seed: int) -> pd.DataFrame:
    """Nominal parameters (one row per lesion) of a cohort, without making images."""
    rows = [row for index in range(n_patients)
            for row in parameter_rows(config, sample_patient(config, seed, index))]
    return pd.DataFrame(rows)


def published_interval(proportion: float, n: int | None) -> tuple[float, float]:
    """95% Clopper-Pearson interval of a published proportion (fixed margin when pooled)."""
    if n is None:
        return proportion - META_ANALYSIS_MARGIN, proportion + META_ANALYSIS_MARGIN
    interval = binomtest(round(proportion * n), n).proportion_ci(0.95)
    return float(interval.low), float(interval.high)


def rule_performance(truth: pd.DataFrame) -> pd.DataFrame:
    """Sensitivity and specificity of every published rule on the truth's nominal values."""
    rows = []
    for rule in RULES:
        table = truth if rule.tracer is None else truth[truth["tracer"] == rule.tracer]
        table = table[table[rule.column].notna()]
        positive = rule.positive(table).to_numpy(bool)
        label = table["label"].to_numpy(int)
        se_low, se_high = published_interval(rule.sensitivity, rule.n_positive)
        sp_low, sp_high = published_interval(rule.specificity, rule.n_negative)
        rows.append({
            "rule": rule.rule_id, "n_recurrence": int(label.sum()),
            "n_radionecrosis": int((label == 0).sum()),
            "sensitivity": float(positive[label == 1].mean()),
            "specificity": float(1.0 - positive[label == 0].mean()),
            "published_sensitivity": rule.sensitivity, "published_specificity": rule.specificity,
            "se_interval": (se_low, se_high), "sp_interval": (sp_low, sp_high),
            "source": rule.source,
        })
    return pd.DataFrame(rows)


def markdown_table(performance: pd.DataFrame) -> str:
    """The rule performance as a Markdown table."""
    lines = ["| rule | n rec / n nec | Se simulated | Se published (95% CI) "
             "| Sp simulated | Sp published (95% CI) | source |",
             "|---|---|---|---|---|---|---|"]
    for row in performance.itertuples():
        def published(value: float, interval: tuple[float, float]) -> str:
            return f"{value:.2f} ({max(interval[0], 0):.2f}–{min(interval[1], 1):.2f})"
        lines.append(
            f"| `{row.rule}` | {row.n_recurrence} / {row.n_radionecrosis} "
            f"| {row.sensitivity:.2f} | {published(row.published_sensitivity, row.se_interval)} "
            f"| {row.specificity:.2f} | {published(row.published_specificity, row.sp_interval)} "
            f"| {row.source} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from radiomix.synth.config import load_config

    print(markdown_table(rule_performance(nominal_parameters(load_config(), 2000, 2024))), end="")
