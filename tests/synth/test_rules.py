"""A large nominal cohort (no images) against the literature and against probability theory.

Single parameters reproduce the pooled accuracies they were derived from; markers are
correlated within a class as configured; the oracle is a calibrated log-likelihood ratio
that no single parameter beats. Tolerances are three binomial (or AUC) standard errors of
the simulated sample plus, where stated, the effect of truncating the distributions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr
from sklearn.metrics import roc_auc_score

from radiomix.synth.config import load_config
from radiomix.synth.published import nominal_parameters, rule_performance

N_PATIENTS, SEED = 2000, 2024
POOLED_RULES = ("fdopa_visual", "fdg_dual_phase", "rcbv_mean", "mrs_cho_naa", "adc_ratio")
TRUNCATION_SLACK = 0.02  # Se/Sp derived from untruncated normals; the bounds move them < 0.02


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def nominal(config) -> pd.DataFrame:
    return nominal_parameters(config, N_PATIENTS, SEED)


@pytest.fixture(scope="module")
def performance(nominal) -> pd.DataFrame:
    return rule_performance(nominal).set_index("rule")


def binomial_tolerance(p: float, n: int) -> float:
    return 3.0 * np.sqrt(p * (1.0 - p) / n) + TRUNCATION_SLACK


def auc_tolerance(auc: float, n_positive: int, n_negative: int) -> float:
    """Three Hanley-McNeil standard errors of an AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (n_positive - 1) * (q1 - auc**2)
                + (n_negative - 1) * (q2 - auc**2)) / (n_positive * n_negative)
    return 3.0 * np.sqrt(variance)


@pytest.mark.parametrize("rule", POOLED_RULES)
def test_rule_reproduces_the_pooled_accuracy(performance, rule):
    """Se/Sp at the published cut-off: van Dijken (ADC), Patel (rCBV), Zhang (Cho/NAA),
    Li (PET in metastases, FDG index), Lizarraga (FDOPA)."""
    row = performance.loc[rule]
    assert abs(row.sensitivity - row.published_sensitivity) <= binomial_tolerance(
        row.published_sensitivity, row.n_recurrence)
    assert abs(row.specificity - row.published_specificity) <= binomial_tolerance(
        row.published_specificity, row.n_radionecrosis)


def test_fet_dynamic_rule_is_only_moderately_specific(performance):
    """TBRmean >= 2 or TTP < 45 min: Se 0.85-0.93, Sp 0.70-0.85 (not Galldiks' 11 negatives)."""
    row = performance.loc["fet_dynamic"]
    se_slack = 3 * np.sqrt(0.89 * 0.11 / row.n_recurrence)
    sp_slack = 3 * np.sqrt(0.78 * 0.22 / row.n_radionecrosis)
    assert 0.85 - se_slack <= row.sensitivity <= 0.93 + se_slack
    assert 0.70 - sp_slack <= row.specificity <= 0.85 + sp_slack


def _auc(table: pd.DataFrame, column: str, sign: int = 1) -> tuple[float, int, int]:
    table = table[table[column].notna()]
    label = table["label"].to_numpy()
    return (roc_auc_score(label, sign * table[column].to_numpy(float)),
            int(label.sum()), int((label == 0).sum()))


@pytest.mark.parametrize(("column", "sign", "expected"), [
    # binormal AUC Phi((mu1 - mu0) / sqrt(sd1^2 + sd0^2)) of the configured marginals
    ("mri_ADC_ratio", -1, float(ndtr(0.39 / np.hypot(0.307, 0.195)))),
    ("mrs_cho_naa", 1, float(ndtr(1.1 / np.hypot(0.511, 0.463)))),
    ("mrs_cho_cr", 1, float(ndtr(0.7 / np.hypot(0.367, 0.367)))),
    # log-normal: Phi(ln(median1 / median0) / sqrt(sigma1^2 + sigma0^2))
    ("mri_rCBV_mean", 1, float(ndtr(np.log(3.0) / np.hypot(0.435, 0.5)))),
    ("heterogeneity", 1, float(ndtr(np.log(0.20 / 0.16) / np.hypot(0.3, 0.3)))),
])
def test_single_parameter_auc_follows_its_marginals(nominal, column, sign, expected):
    auc, n1, n0 = _auc(nominal, column, sign)
    assert auc == pytest.approx(expected, abs=auc_tolerance(expected, n1, n0) + 0.01)


def test_texture_amplitude_is_a_modest_marker(nominal):
    assert 0.6 <= _auc(nominal, "heterogeneity")[0] <= 0.75


def test_markers_are_correlated_within_each_class(nominal, config):
    """Spearman of a Gaussian copula: (6 / pi) asin(rho / 2); ADC runs against rCBV."""
    rho = config.latent.correlation
    expected = 6.0 / np.pi * np.arcsin(rho / 2.0)
    for label, group in nominal.groupby("label"):
        both = group.dropna(subset=["mri_ADC_ratio", "mri_rCBV_mean"])
        adc_rcbv = both["mri_ADC_ratio"].corr(both["mri_rCBV_mean"], method="spearman")
        level_het = group["heterogeneity"].corr(group["pet_TBRmean"], method="spearman")
        tolerance = 3.0 * (1 - expected**2) / np.sqrt(len(both) - 3)
        assert adc_rcbv == pytest.approx(-expected, abs=tolerance), label
        assert level_het == pytest.approx(expected, abs=3.0 / np.sqrt(group["pet_TBRmean"]
                                                                   .notna().sum())), label


def test_oracle_is_a_calibrated_log_likelihood_ratio(nominal, config):
    """P(recurrence | llr) = logistic(llr + log prior odds) within binomial error per decile."""
    prior = config.cohort.prevalence
    posterior = 1.0 / (1.0 + np.exp(-(nominal["oracle_llr"] + np.log(prior / (1 - prior)))))
    deciles = pd.qcut(posterior.rank(method="first"), 10, labels=False)
    frame = pd.DataFrame({"p": posterior, "y": nominal["label"], "bin": deciles})
    for _, group in frame.groupby("bin"):
        p = group["p"].mean()
        spread = 3 * np.sqrt(max(p * (1 - p), 0.01) / len(group))
        assert group["y"].mean() == pytest.approx(p, abs=spread + 0.01)


def test_oracle_auc_band_and_no_single_parameter_beats_it(nominal):
    oracle = roc_auc_score(nominal["label"], nominal["oracle_llr"])
    assert 0.93 <= oracle <= 0.985
    singles = [("pet_TBRmean", 1), ("dyn_TTP_min", -1), ("fdopa_LS_max_over_max", 1),
               ("fdg_lesion_gm_ratio", 1), ("fdg_dual_phase_index", 1), ("mri_ADC_ratio", -1),
               ("mri_rCBV_mean", 1), ("mrs_cho_naa", 1), ("mrs_cho_cr", 1)]
    for column, sign in singles:
        cases = nominal[nominal[column].notna()]
        single, _, _ = _auc(cases, column, sign)
        assert roc_auc_score(cases["label"], cases["oracle_llr"]) > single, column


def test_sampled_parameters_follow_the_configured_class_means(nominal):
    fet = nominal[nominal.tracer == "FET"].groupby("label")
    tbr = fet["pet_TBRmean"].agg(["mean", "count"])
    assert tbr.loc[1, "mean"] == pytest.approx(2.2, abs=3 * 0.4 / np.sqrt(tbr.loc[1, "count"]))
    assert tbr.loc[0, "mean"] == pytest.approx(1.7, abs=3 * 0.3 / np.sqrt(tbr.loc[0, "count"]))
    assert fet["dyn_TTP_min"].median()[1] < 35.0 and fet["dyn_TTP_min"].median()[0] > 40.0
    assert fet["dyn_slope_suv_per_h"].median()[1] < 0 <= fet["dyn_slope_suv_per_h"].median()[0]
    adc = nominal.groupby("label")["mri_ADC_ratio"].agg(["mean", "count"])
    for label, mean, sd in ((1, 1.43, 0.307), (0, 1.82, 0.195)):
        assert adc.loc[label, "mean"] == pytest.approx(
            mean, abs=3 * sd / np.sqrt(adc.loc[label, "count"]) + 0.01)
