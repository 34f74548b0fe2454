"""Statistics checked against published numbers, textbook formulas and slow reference code."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from radiomix.errors import RadiomixError
from radiomix.stats import (
    StatisticsInputError,
    auc_delong,
    auc_score,
    binary_metrics,
    brier_score,
    calibration_intercept_slope,
    clustered_bootstrap_ci,
    delong_test,
    mcnemar_test,
    wilson_interval,
    youden_threshold,
)


def _psi(x: float, y: float) -> float:
    """DeLong 1988 kernel: 1 if the positive scores higher, 1/2 on a tie."""
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _slow_delong(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and covariance straight from DeLong et al. 1988 (structural components, O(m n))."""
    v10_all, v01_all = [], []
    for score in scores:
        xs, ys = score[y == 1], score[y == 0]
        kernel = np.array([[_psi(x, v) for v in ys] for x in xs])
        v10_all.append(kernel.mean(axis=1))
        v01_all.append(kernel.mean(axis=0))
    v10, v01 = np.array(v10_all), np.array(v01_all)
    aucs = v10.mean(axis=1)
    m, n = v10.shape[1], v01.shape[1]
    s10 = (v10 - aucs[:, None]) @ (v10 - aucs[:, None]).T / (m - 1)
    s01 = (v01 - aucs[:, None]) @ (v01 - aucs[:, None]).T / (n - 1)
    return aucs, s10 / m + s01 / n


@pytest.fixture(scope="module")
def tied_scores() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated scores rounded so that ties occur."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 120)
    a = np.round(y * 1.0 + rng.normal(size=120), 1)
    b = np.round(0.6 * a + y * 0.3 + rng.normal(scale=0.8, size=120), 1)
    return y, a, b


def test_delong_variance_by_hand() -> None:
    # positives 2, 3; negatives 1, 2: V10 = (0.75, 1), V01 = (1, 0.75)
    # var = s10/m + s01/n = 0.03125/2 + 0.03125/2
    result = auc_delong([1, 1, 0, 0], [2, 3, 1, 2])
    assert result.auc == pytest.approx(0.875)
    assert result.variance == pytest.approx(0.03125)
    half = 1.959964 * np.sqrt(0.03125)
    assert result.ci_low == pytest.approx(0.875 - half, abs=1e-6)
    assert result.ci_high == 1.0  # clipped


def test_delong_on_hanley_mcneil_ratings() -> None:
    # Hanley & McNeil, Radiology 1982, Table 1: 58 normal, 51 abnormal CT ratings;
    # published area 0.893 with standard error 0.032 (their exponential approximation).
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(58), np.ones(51)]
    result = auc_delong(y, np.r_[normal, abnormal])
    assert result.auc == pytest.approx(0.893, abs=5e-4)
    assert np.sqrt(result.variance) == pytest.approx(0.032, abs=0.002)


def test_delong_matches_slow_structural_components(tied_scores) -> None:
    y, a, b = tied_scores
    aucs, cov = _slow_delong(y, [a, b])
    single = auc_delong(y, a)
    assert single.auc == pytest.approx(aucs[0], abs=1e-12)
    assert single.auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert single.variance == pytest.approx(cov[0, 0], rel=1e-10)
    paired = delong_test(y, a, b)
    z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert paired.auc_b == pytest.approx(aucs[1], abs=1e-12)
    assert paired.z == pytest.approx(z, rel=1e-9)
    assert paired.p_value == pytest.approx(2 * sps.norm.sf(abs(z)), rel=1e-9)


def test_delong_test_identical_and_swapped(tied_scores) -> None:
    y, a, b = tied_scores
    same = delong_test(y, a, a)
    assert (same.difference, same.z, same.p_value) == (0.0, 0.0, 1.0)
    forward, backward = delong_test(y, a, b), delong_test(y, b, a)
    assert forward.z == pytest.approx(-backward.z)
    assert forward.p_value == pytest.approx(backward.p_value)


def test_auc_score_agrees_with_sklearn(tied_scores) -> None:
    y, a, _ = tied_scores
    assert auc_score(y, a) == pytest.approx(roc_auc_score(y, a), abs=1e-12)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998(successes, n, low, high) -> None:
    # Newcombe, Stat Med 1998;17:857, Table II, method 3 (score interval)
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=5e-5)


def test_wilson_empty_and_invalid() -> None:
    assert all(np.isnan(wilson_interval(0, 0)))
    with pytest.raises(StatisticsInputError):
        wilson_interval(5, 3)


def test_mcnemar_small_table_by_hand() -> None:
    # b = 1, c = 7: p = 2 * (C(8,0) + C(8,1)) / 2^8 = 18/256
    y = np.ones(10, dtype=int)
    a = np.array([1, 0, 0, 0, 0, 0, 0, 0, 1, 0])
    b = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    result = mcnemar_test(y, a, b)
    assert (result.b, result.c) == (1, 7)
    assert result.p_value == pytest.approx(18 / 256)


def test_mcnemar_agresti_approval_table() -> None:
    # Agresti, Categorical Data Analysis: presidential approval, 794/150/86/570.
    # Rater "A" = first survey, "B" = second; correctness against approval = 1.
    y = np.ones(1600, dtype=int)
    first = np.r_[np.ones(794 + 150), np.zeros(86 + 570)]
    second = np.r_[np.ones(794), np.zeros(150), np.ones(86), np.zeros(570)]
    result = mcnemar_test(y, first, second)
    assert (result.b, result.c) == (150, 86)
    assert result.p_value == pytest.approx(sps.binomtest(86, 236, 0.5).pvalue, rel=1e-9)
    # the continuity-free chi-square (b-c)^2/(b+c) = 17.36 gives p ~ 3.1e-5: same order
    assert 1e-5 < result.p_value < 1e-4


def test_binary_metrics_counts_and_intervals() -> None:
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    pred = [1, 1, 1, 0, 0, 0, 0, 1, 0, 0]
    m = binary_metrics(y, pred)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 1, 4, 2)
    assert m["sensitivity"] == pytest.approx(3 / 5)
    assert m["specificity"] == pytest.approx(4 / 5)
    assert m["accuracy"] == pytest.approx(7 / 10)
    assert m["ppv"] == pytest.approx(3 / 4)
    assert m["npv"] == pytest.approx(4 / 6)
    assert m["sensitivity_ci"] == pytest.approx(wilson_interval(3, 5))


def test_binary_metrics_no_positive_predictions_gives_nan_ppv() -> None:
    m = binary_metrics([1, 0, 0], [0, 0, 0])
    assert np.isnan(m["ppv"]) and all(np.isnan(m["ppv_ci"]))
    assert m["npv"] == pytest.approx(2 / 3)


def test_youden_known_optimum_and_tie_rule() -> None:
    assert youden_threshold([0, 0, 0, 1, 1, 1], [1, 2, 3, 4, 5, 6]) == 4.0
    # J = 0.5 at both 0.8 and 0.35: the more specific cut-off wins
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.8


def test_brier_by_formula() -> None:
    assert brier_score([1, 0, 1, 0], [0.9, 0.2, 0.6, 0.5]) == pytest.approx(
        (0.01 + 0.04 + 0.16 + 0.25) / 4
    )


@pytest.fixture(scope="module")
def calibrated() -> tuple[np.ndarray, np.ndarray]:
    """Large sample whose outcomes are drawn from the predicted probabilities."""
    rng = np.random.default_rng(3)
    logit = rng.normal(0.0, 1.5, 100_000)
    p = 1.0 / (1.0 + np.exp(-logit))
    return rng.binomial(1, p), logit


def test_calibration_of_perfect_probabilities(calibrated) -> None:
    y, logit = calibrated
    intercept, slope = calibration_intercept_slope(y, 1.0 / (1.0 + np.exp(-logit)))
    assert intercept == pytest.approx(0.0, abs=0.03)
    assert slope == pytest.approx(1.0, abs=0.03)


def test_calibration_detects_overconfidence_and_shift(calibrated) -> None:
    y, logit = calibrated
    _, slope = calibration_intercept_slope(y, 1.0 / (1.0 + np.exp(-2.0 * logit)))
    assert slope == pytest.approx(0.5, abs=0.02)
    intercept, slope = calibration_intercept_slope(y, 1.0 / (1.0 + np.exp(-(logit + 1.0))))
    assert intercept == pytest.approx(-1.0, abs=0.03)
    assert slope == pytest.approx(1.0, abs=0.03)


def test_calibration_separation_gives_nan_slope() -> None:
    # logit(p) separates the classes: the slope has no maximum-likelihood estimate, while
    # the intercept (offset model) exists and is 0 because the probabilities are symmetric
    intercept, slope = calibration_intercept_slope([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert intercept == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(slope)


def _mean_metric(_y: np.ndarray, score: np.ndarray) -> float:
    return float(np.mean(score))


def test_clustered_bootstrap_mean_matches_normal_theory() -> None:
    rng = np.random.default_rng(11)
    score = rng.normal(5.0, 2.0, 400)
    y = rng.integers(0, 2, 400)
    estimate, low, high = clustered_bootstrap_ci(
        _mean_metric, y, score, np.arange(400), n_boot=2000, seed=1
    )
    half = 1.959964 * score.std(ddof=1) / np.sqrt(400)
    assert estimate == pytest.approx(score.mean())
    assert low == pytest.approx(score.mean() - half, abs=0.03)
    assert high == pytest.approx(score.mean() + half, abs=0.03)


def test_clustered_bootstrap_resamples_whole_patients() -> None:
    rng = np.random.default_rng(12)
    score = rng.normal(0.0, 1.0, 200)
    y = rng.integers(0, 2, 200)
    patients = np.arange(200)
    unique = clustered_bootstrap_ci(_mean_metric, y, score, patients, n_boot=500, seed=4)
    # every patient contributes two identical lesions: resampling patients must give
    # exactly the interval of the de-duplicated data; resampling rows would be narrower
    doubled = clustered_bootstrap_ci(
        _mean_metric,
        np.repeat(y, 2),
        np.repeat(score, 2),
        np.repeat(patients, 2),
        n_boot=500,
        seed=4,
    )
    assert doubled == pytest.approx(unique, abs=1e-12)


def test_clustered_bootstrap_skips_single_class_resamples() -> None:
    y = np.array([1, 0, 1, 0, 1, 0])
    score = np.array([0.9, 0.1, 0.8, 0.3, 0.7, 0.2])
    estimate, low, high = clustered_bootstrap_ci(
        auc_score, y, score, [1, 1, 2, 2, 3, 3], n_boot=200
    )
    assert estimate == 1.0 and low == 1.0 and high == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: auc_delong([0, 1, 2], [0.1, 0.2, 0.3]),
        lambda: auc_delong([0, 1, 1], [0.1, 0.2]),
        lambda: auc_delong([1, 1, 1], [0.1, 0.2, 0.3]),
        lambda: auc_delong([0, 1, 1], [0.1, np.nan, 0.3]),
        lambda: mcnemar_test([0, 1], [0, 1], [1]),
        lambda: brier_score([0, 1], [0.2, 1.5]),
        lambda: clustered_bootstrap_ci(_mean_metric, [0, 1], [0.1, 0.2], [1]),
    ],
)
def test_bad_input_raises_clear_value_error(call) -> None:
    with pytest.raises(StatisticsInputError) as info:
        call()
    assert isinstance(info.value, ValueError) and isinstance(info.value, RadiomixError)
