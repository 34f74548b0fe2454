"""Patient-clustered statistics, checked against direct formulas, the patient bootstrap, the
classical unclustered statistics they reduce to, and published worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from radiomix.stats import (
    StatisticsInputError,
    auc_delong,
    binary_metrics,
    clustered_bootstrap_ci,
    decision_curve,
    delong_test,
    delong_unpaired_test,
    holm,
    mcnemar_test,
    net_benefit,
    paired_difference,
    proportion_interval,
    wilson_interval,
)


def _psi(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _slow_obuchowski(y, scores, groups):
    """AUCs and covariance written straight from Obuchowski, Biometrics 1997, section 2,
    loop by loop over clusters and units (independent of the vectorised code)."""
    ids = list(dict.fromkeys(groups))
    positives = [[j for j in range(len(y)) if groups[j] == g and y[j] == 1] for g in ids]
    negatives = [[j for j in range(len(y)) if groups[j] == g and y[j] == 0] for g in ids]
    all_pos = [j for j in range(len(y)) if y[j] == 1]
    all_neg = [j for j in range(len(y)) if y[j] == 0]
    big_m, big_n = len(all_pos), len(all_neg)
    aucs, xs, ys = [], [], []
    for s in scores:
        auc = sum(_psi(s[i], s[k]) for i in all_pos for k in all_neg) / (big_m * big_n)
        x = [sum(sum(_psi(s[i], s[k]) for k in all_neg) / big_n for i in pos) for pos in positives]
        w = [sum(sum(_psi(s[i], s[k]) for i in all_pos) / big_m for k in neg) for neg in negatives]
        aucs.append(auc)
        xs.append([x[c] - len(positives[c]) * auc for c in range(len(ids))])
        ys.append([w[c] - len(negatives[c]) * auc for c in range(len(ids))])
    i10 = sum(1 for p in positives if p)
    i01 = sum(1 for n in negatives if n)
    i_all = len(ids)
    k = len(scores)
    cov = np.zeros((k, k))

    def dot(u, v):
        return sum(p * q for p, q in zip(u, v, strict=True))

    for a in range(k):
        for b in range(k):
            s10 = i10 / ((i10 - 1) * big_m) * dot(xs[a], xs[b])
            s01 = i01 / ((i01 - 1) * big_n) * dot(ys[a], ys[b])
            s11_ab = i_all / (i_all - 1) * dot(xs[a], ys[b])
            s11_ba = i_all / (i_all - 1) * dot(xs[b], ys[a])
            cov[a, b] = s10 / big_m + s01 / big_n + (s11_ab + s11_ba) / (big_m * big_n)
    return np.array(aucs), cov


def _clustered_cohort(seed: int, patients: int = 60):
    """Patients with 1-4 lesions each; a patient effect shared by its lesions' scores and
    labels; scores rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, patients)
    groups = np.repeat([f"p{i}" for i in range(patients)], sizes)
    effect = np.repeat(rng.normal(size=patients), sizes)
    y = (effect + rng.normal(scale=0.7, size=groups.size) > 0).astype(int)
    a = np.round(y + effect + rng.normal(size=groups.size), 1)
    b = np.round(0.5 * a + y * 0.4 + rng.normal(scale=0.8, size=groups.size), 1)
    return y, a, b, groups


def _duplicated(*arrays):
    """Every case twice; groups are the case index, so each copy stays with its twin."""
    return [np.repeat(np.asarray(x), 2) for x in arrays]


def test_clustered_auc_matches_the_paper_loop_by_loop():
    y, a, b, groups = _clustered_cohort(1, patients=30)
    aucs, cov = _slow_obuchowski(y, [a, b], groups)
    single = auc_delong(y, a, groups=groups)
    assert single.auc == pytest.approx(aucs[0], abs=1e-12)
    assert single.variance == pytest.approx(cov[0, 0], rel=1e-10)
    paired = delong_test(y, a, b, groups=groups)
    z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert paired.z == pytest.approx(z, rel=1e-9)
    assert paired.p_value == pytest.approx(2 * sps.norm.sf(abs(z)), rel=1e-9)


def test_one_lesion_per_patient_is_exactly_delong():
    y, a, b, _ = _clustered_cohort(2)
    own = np.arange(y.size).astype(str)
    clustered, plain = auc_delong(y, a, groups=own), auc_delong(y, a)
    assert clustered.variance == pytest.approx(plain.variance, rel=1e-12)
    assert clustered.ci_low == pytest.approx(plain.ci_low, rel=1e-12)
    assert delong_test(y, a, b, groups=own).z == pytest.approx(delong_test(y, a, b).z, rel=1e-12)


def test_clustered_interval_agrees_with_the_patient_bootstrap():
    # one diagnosis per patient, lesions of a patient scoring alike: strong clustering
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 5, 150)
    groups = np.repeat(np.arange(150), sizes)
    y = np.repeat(rng.integers(0, 2, 150), sizes)
    a = y + np.repeat(rng.normal(size=150), sizes) + rng.normal(scale=0.3, size=groups.size)
    analytic = auc_delong(y, a, groups=groups)
    _, low, high = clustered_bootstrap_ci(
        lambda t, s: auc_delong(t, s).auc, y, a, groups, n_boot=1500, seed=4
    )
    assert (analytic.ci_high - analytic.ci_low) == pytest.approx(high - low, rel=0.12)
    naive = auc_delong(y, a)  # lesions as independent: too narrow here
    assert naive.ci_high - naive.ci_low < 0.9 * (analytic.ci_high - analytic.ci_low)


def test_duplicated_cases_keep_every_interval():
    y, a, b, _ = _clustered_cohort(5)
    pred = (a > 0.5).astype(int)
    cases = np.arange(y.size)
    y2, a2, b2, pred2, groups2 = _duplicated(y, a, b, pred, cases)
    assert auc_delong(y2, a2, groups=groups2).variance == pytest.approx(
        auc_delong(y, a).variance, rel=1e-10
    )
    assert delong_test(y2, a2, b2, groups=groups2).p_value == pytest.approx(
        delong_test(y, a, b).p_value, rel=1e-9
    )
    original, doubled = binary_metrics(y, pred), binary_metrics(y2, pred2, groups=groups2)
    for name in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
        assert doubled[f"{name}_ci"] == pytest.approx(original[f"{name}_ci"], abs=1e-12)
    unclustered = binary_metrics(y2, pred2)["sensitivity_ci"]
    assert np.diff(unclustered)[0] < 0.8 * np.diff(original["sensitivity_ci"])[0]


def test_proportion_without_clusters_is_wilson_and_all_successes_count_patients():
    outcomes = np.r_[np.ones(81), np.zeros(182)].astype(int)
    assert proportion_interval(outcomes) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    # all successes: the effective size is the number of patients (3), not of cases (6)
    assert proportion_interval(np.ones(6, dtype=int), list("aabbcc")) == pytest.approx(
        wilson_interval(3, 3)
    )


def test_clustered_proportion_agrees_with_the_patient_bootstrap():
    rng = np.random.default_rng(6)
    sizes = rng.integers(1, 5, 200)
    groups = np.repeat(np.arange(200), sizes)
    success = (
        np.repeat(rng.normal(size=200), sizes) + rng.normal(scale=0.5, size=groups.size) > -0.5
    )
    low, high = proportion_interval(success.astype(int), groups)
    _, b_low, b_high = clustered_bootstrap_ci(
        lambda t, s: float(np.mean(s)),
        success.astype(int),
        success.astype(float),
        groups,
        n_boot=1500,
    )
    assert high - low == pytest.approx(b_high - b_low, rel=0.12)


def test_paired_difference_matches_agresti_approval_example():
    # Agresti, Categorical Data Analysis: approval 794 / 150 / 86 / 570 of 1600;
    # difference 0.59 - 0.55 = 0.04 with estimated SE 0.0095.
    first = np.r_[np.ones(794 + 150), np.zeros(86 + 570)].astype(int)
    second = np.r_[np.ones(794), np.zeros(150), np.ones(86), np.zeros(570)].astype(int)
    result = paired_difference(first, second)
    assert result.difference == pytest.approx(0.04)
    se = (result.ci_high - result.ci_low) / (2 * 1.959964)
    assert se == pytest.approx(0.0095, abs=5e-5)
    assert result.p_value == pytest.approx(sps.binomtest(86, 236, 0.5).pvalue, rel=1e-9)


def test_clustered_mcnemar_on_duplicates_is_the_asymptotic_mcnemar():
    y = np.ones(40, dtype=int)
    rng = np.random.default_rng(8)
    a, b = rng.integers(0, 2, 40), rng.integers(0, 2, 40)
    y2, a2, b2, groups = _duplicated(y, a, b, np.arange(40))
    result = mcnemar_test(y2, a2, b2, groups)
    only_a, only_b = int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))
    chi2 = (only_a - only_b) ** 2 / (only_a + only_b)
    assert result.p_value == pytest.approx(sps.chi2.sf(chi2, 1), rel=1e-12)
    diff, diff2 = paired_difference(a, b), paired_difference(a2, b2, groups)
    assert (diff2.ci_low, diff2.ci_high) == pytest.approx((diff.ci_low, diff.ci_high))


def test_unpaired_test_is_procs_welch_form_on_delong_variances():
    y1, a1, _, g1 = _clustered_cohort(9, patients=40)
    y2, a2, _, g2 = _clustered_cohort(10, patients=50)
    first, second = auc_delong(y1, a1), auc_delong(y2, a2)
    result = delong_unpaired_test(y1, a1, y2, a2)
    total = first.variance + second.variance
    df = total**2 / (first.variance**2 / (y1.size - 1) + second.variance**2 / (y2.size - 1))
    assert result.statistic == pytest.approx((first.auc - second.auc) / np.sqrt(total))
    assert result.df == pytest.approx(df)
    assert result.p_value == pytest.approx(2 * sps.t.sf(abs(result.statistic), df))
    with pytest.raises(StatisticsInputError, match="in both groups"):
        delong_unpaired_test(y1, a1, y2, a2, g1, g2)  # same patient names p0, p1, ...


def test_holm_by_hand_keeps_missing_values_out_of_the_family():
    adjusted = holm([0.01, 0.04, 0.03, None])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])


def test_net_benefit_by_hand():
    y = [1, 1, 0, 0]
    assert net_benefit(y, [1, 1, 1, 1], 0.2) == pytest.approx(0.5 - 0.5 * 0.25)
    assert net_benefit(y, [1, 0, 0, 0], 0.5) == pytest.approx(0.25)
    curve = decision_curve(y, [0.9, 0.4, 0.3, 0.1], [0.2, 0.35])
    assert curve["model"] == pytest.approx([0.5 - 0.25 * 0.25, 0.5])
    assert curve["treat_all"][1] == pytest.approx(0.5 - 0.5 * 0.35 / 0.65)


def test_lesions_disagreeing_within_patients_still_ignore_copies():
    # patients whose two lesions disagree (negative intra-patient correlation, d < 1)
    success = np.r_[np.tile([1, 0], 30), np.ones(10), np.zeros(6)].astype(int)
    groups = np.repeat(np.arange(38), 2)
    once = proportion_interval(success, groups)
    twice = proportion_interval(np.repeat(success, 2), np.repeat(groups, 2))
    assert twice == pytest.approx(once)
    assert once[1] - once[0] < np.diff(wilson_interval(40, 76))[0]
