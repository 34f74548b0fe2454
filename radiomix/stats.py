"""Statistics every comparison in radiomix uses.

Plain functions on arrays: AUC with a confidence interval, the paired and unpaired AUC
tests, McNemar's test, proportions with intervals, paired differences of proportions,
Holm-adjusted p-values, patient-clustered bootstrap intervals, the Youden threshold, the Brier
score, calibration intercept and slope, and net benefit.

Every interval and test takes an optional `groups` array (the patient of each case): cases of
one patient are correlated, so they are resampled or summed per patient (clustered statistics,
Obuchowski 1997). Without `groups` each case is its own patient and every clustered formula
reduces exactly to its classical form (DeLong, Wilson, McNemar). Each docstring names the
source of its formula. Labels are 1 (positive, recurrence) and 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from radiomix.errors import RadiomixError


class StatisticsInputError(RadiomixError, ValueError):
    """The arrays given to a statistic are unusable (length, labels, values)."""


@dataclass(frozen=True)
class AucResult:
    """An AUC with its (clustered) DeLong variance and confidence interval."""

    auc: float
    ci_low: float
    ci_high: float
    variance: float


@dataclass(frozen=True)
class PairedAucResult:
    """The paired test of two AUCs measured on the same cases, with an interval for the
    difference."""

    auc_a: float
    auc_b: float
    difference: float
    z: float
    p_value: float
    ci_low: float = float("nan")
    ci_high: float = float("nan")


@dataclass(frozen=True)
class UnpairedAucResult:
    """The unpaired test of two AUCs measured on different patients."""

    auc_a: float
    auc_b: float
    difference: float
    statistic: float
    df: float
    p_value: float


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test: b = cases only A gets right, c = cases only B gets right."""

    b: int
    c: int
    p_value: float


@dataclass(frozen=True)
class DifferenceResult:
    """A paired difference of two proportions with a Wald interval and its test."""

    proportion_a: float
    proportion_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float


def _binary_labels(y_true: ArrayLike, name: str = "y_true") -> np.ndarray:
    """Return `y_true` as a 1-D int array of 0/1, or raise a StatisticsInputError."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise StatisticsInputError(f"{name} must be one-dimensional, got shape {y.shape}")
    if y.dtype.kind == "b":
        return y.astype(int)
    try:
        values = y.astype(float)
    except (TypeError, ValueError) as exc:
        raise StatisticsInputError(f"{name} must hold only 0 and 1") from exc
    if not np.isin(values, (0.0, 1.0)).all():
        bad = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5]
        raise StatisticsInputError(f"{name} must hold only 0 and 1, found {bad.tolist()}")
    return values.astype(int)


def _values(x: ArrayLike, n: int, name: str) -> np.ndarray:
    """Return `x` as a finite 1-D float array of length `n`, or raise."""
    v = np.asarray(x, dtype=float)
    if v.ndim != 1 or v.shape[0] != n:
        raise StatisticsInputError(f"{name} has shape {v.shape}; expected ({n},) like y_true")
    if not np.isfinite(v).all():
        raise StatisticsInputError(f"{name} contains NaN or infinite values")
    return v


def _clusters(groups: ArrayLike | None, n: int) -> np.ndarray:
    """Integer cluster codes 0..I-1 of the `n` cases; each case its own cluster if None."""
    if groups is None:
        return np.arange(n)
    group = np.asarray(groups)
    if group.ndim != 1 or group.size != n:
        raise StatisticsInputError(f"groups has shape {group.shape}; expected ({n},)")
    if pd.isna(group).any():
        raise StatisticsInputError("groups (patient ids) must not be missing")
    return np.unique(group.astype(str), return_inverse=True)[1]


def _both_classes(y: np.ndarray) -> None:
    """Raise unless `y` holds at least one positive and one negative."""
    if y.min() == y.max():
        raise StatisticsInputError(
            f"y_true needs both classes; all {y.size} labels are {int(y[0]) if y.size else '-'}"
        )


def _z(alpha: float) -> float:
    """The two-sided standard-normal quantile for a 1 - alpha interval."""
    if not 0.0 < alpha < 1.0:
        raise StatisticsInputError(f"alpha must be in (0, 1), got {alpha}")
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def _placements(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs of k scores (rows of `scores`) and their placement values V10 (per positive) and
    V01 (per negative), the structural components of DeLong, DeLong & Clarke-Pearson,
    Biometrics 1988;44:837-845, by the midrank algorithm of Sun & Xu, IEEE Signal Process
    Lett 2014;21:1389-1393 (ties count one half)."""
    positives, negatives = scores[:, y == 1], scores[:, y == 0]
    m, n = positives.shape[1], negatives.shape[1]
    rank_x = stats.rankdata(positives, axis=1)
    rank_y = stats.rankdata(negatives, axis=1)
    rank_z = stats.rankdata(np.hstack([positives, negatives]), axis=1)
    aucs = (rank_z[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (rank_z[:, :m] - rank_x) / n
    v01 = 1.0 - (rank_z[:, m:] - rank_y) / m
    return aucs, v10, v01


def _auc_covariance(
    y: np.ndarray, scores: np.ndarray, clusters: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of k scores and their covariance matrix for clustered cases.

    Obuchowski, Biometrics 1997;53:567-578, eq. 3-5: the placement values are summed per
    cluster (patient) i, X_i = sum V10 over its m_i positives, Y_i = sum V01 over its n_i
    negatives; with M = sum m_i, N = sum n_i, I10 / I01 / I the clusters holding positives /
    negatives / any case,
    S10 = I10 / ((I10 - 1) M) sum (X_i - m_i A)(X_i - m_i A)',
    S01 = I01 / ((I01 - 1) N) sum (Y_i - n_i A)(Y_i - n_i A)',
    S11 = I / (I - 1) sum (X_i - m_i A)(Y_i - n_i A)',
    cov = S10 / M + S01 / N + (S11 + S11') / (M N).
    With one case per cluster S11 = 0 and this is the DeLong covariance exactly.
    """
    aucs, v10, v01 = _placements(y, scores)
    count = clusters.max() + 1
    pos, neg = clusters[y == 1], clusters[y == 0]
    m_i = np.bincount(pos, minlength=count)
    n_i = np.bincount(neg, minlength=count)
    x = np.array([np.bincount(pos, weights=row, minlength=count) for row in v10])
    w = np.array([np.bincount(neg, weights=row, minlength=count) for row in v01])
    dx = x - aucs[:, None] * m_i
    dy = w - aucs[:, None] * n_i
    i10, i01, i_all = (m_i > 0).sum(), (n_i > 0).sum(), count
    if min(i10, i01) < 2:
        raise StatisticsInputError(
            f"a variance needs positives and negatives from at least 2 patients each; "
            f"got {i10} and {i01}"
        )
    big_m, big_n = m_i.sum(), n_i.sum()
    s10 = i10 / ((i10 - 1) * big_m) * dx @ dx.T
    s01 = i01 / ((i01 - 1) * big_n) * dy @ dy.T
    s11 = i_all / (i_all - 1) * dx @ dy.T
    return aucs, s10 / big_m + s01 / big_n + (s11 + s11.T) / (big_m * big_n)


def auc_score(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve, ties counted one half (Mann-Whitney U / (m n)).

    Hanley & McNeil, Radiology 1982;143:29-36. Needs both classes.
    """
    y = _binary_labels(y_true)
    score = _values(y_score, y.size, "y_score")
    _both_classes(y)
    return float(_placements(y, score[np.newaxis, :])[0][0])


def auc_delong(
    y_true: ArrayLike, y_score: ArrayLike, alpha: float = 0.05, groups: ArrayLike | None = None
) -> AucResult:
    """AUC with the (clustered) DeLong variance and a Wald interval on the AUC scale.

    Variance: Obuchowski 1997 over the patients in `groups` (see `_auc_covariance`); without
    `groups` the DeLong et al. 1988 variance. Interval: AUC ± z(1-alpha/2)·sqrt(variance),
    clipped to [0, 1], as pROC's `ci.auc(method = "delong")`. Higher scores mean positive.
    """
    y = _binary_labels(y_true)
    score = _values(y_score, y.size, "y_score")
    _both_classes(y)
    aucs, cov = _auc_covariance(y, score[np.newaxis, :], _clusters(groups, y.size))
    auc, variance = float(aucs[0]), float(cov[0, 0])
    half = _z(alpha) * np.sqrt(max(variance, 0.0))
    return AucResult(
        auc=auc,
        ci_low=float(max(0.0, auc - half)),
        ci_high=float(min(1.0, auc + half)),
        variance=variance,
    )


def delong_test(
    y_true: ArrayLike,
    score_a: ArrayLike,
    score_b: ArrayLike,
    groups: ArrayLike | None = None,
    alpha: float = 0.05,
) -> PairedAucResult:
    """Paired two-sided test of AUC(a) = AUC(b) on the same cases, with a Wald interval for
    the difference.

    z = (AUC_a - AUC_b) / sqrt(var_a + var_b - 2 cov_ab) with the covariance of Obuchowski
    1997 over the patients in `groups` (without `groups`: DeLong et al. 1988, as pROC's
    `roc.test`). When both scores rank the cases identically the difference and its variance
    are 0: then z = 0 and p = 1.
    """
    y = _binary_labels(y_true)
    a = _values(score_a, y.size, "score_a")
    b = _values(score_b, y.size, "score_b")
    _both_classes(y)
    aucs, cov = _auc_covariance(y, np.vstack([a, b]), _clusters(groups, y.size))
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    if variance <= 1e-15:
        z, p_value = (0.0, 1.0) if abs(difference) < 1e-12 else (float("nan"), float("nan"))
    else:
        z = difference / np.sqrt(variance)
        p_value = float(2.0 * stats.norm.sf(abs(z)))
    half = _z(alpha) * np.sqrt(max(variance, 0.0))
    return PairedAucResult(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        difference=difference,
        z=float(z),
        p_value=p_value,
        ci_low=difference - half,
        ci_high=difference + half,
    )


def delong_unpaired_test(
    y_a: ArrayLike,
    score_a: ArrayLike,
    y_b: ArrayLike,
    score_b: ArrayLike,
    groups_a: ArrayLike | None = None,
    groups_b: ArrayLike | None = None,
) -> UnpairedAucResult:
    """Two-sided test of AUC(a) = AUC(b) measured on two different sets of patients.

    D = (AUC_a - AUC_b) / sqrt(V_a + V_b) against Student's t with
    df = (V_a + V_b)^2 / (V_a^2 / (n_a - 1) + V_b^2 / (n_b - 1)), as pROC's
    `roc.test(paired = FALSE, method = "delong")` (Robin et al., BMC Bioinformatics
    2011;12:77). V is the clustered variance of `auc_delong` and n the number of patients
    (of cases without groups, which is pROC's choice). A patient in both sets makes them
    dependent: that is an error.
    """
    if groups_a is not None and groups_b is not None:
        shared = set(np.asarray(groups_a).astype(str)) & set(np.asarray(groups_b).astype(str))
        if shared:
            raise StatisticsInputError(
                f"unpaired AUC test: patients {sorted(shared)[:5]} are in both groups"
            )
    first = auc_delong(y_a, score_a, groups=groups_a)
    second = auc_delong(y_b, score_b, groups=groups_b)
    n_a = _clusters(groups_a, len(np.asarray(y_a))).max() + 1
    n_b = _clusters(groups_b, len(np.asarray(y_b))).max() + 1
    total = first.variance + second.variance
    difference = first.auc - second.auc
    if total <= 1e-15:
        return UnpairedAucResult(first.auc, second.auc, difference, 0.0, float("nan"), 1.0)
    statistic = difference / np.sqrt(total)
    df = total**2 / (first.variance**2 / (n_a - 1) + second.variance**2 / (n_b - 1))
    p_value = float(2.0 * stats.t.sf(abs(statistic), df))
    return UnpairedAucResult(
        first.auc, second.auc, difference, float(statistic), float(df), p_value
    )


def _cluster_sums(values: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Per-cluster sums of `values` over the clusters present."""
    sums = np.bincount(clusters, weights=values)
    return sums[np.bincount(clusters) > 0]


def mcnemar_test(
    y_true: ArrayLike, pred_a: ArrayLike, pred_b: ArrayLike, groups: ArrayLike | None = None
) -> McNemarResult:
    """Two-sided McNemar test on the discordant correctness of two decisions.

    b = cases only A classifies correctly, c = cases only B classifies correctly. With one
    case per patient: the exact (binomial) test, p = min(1, 2·P[Bin(b + c, 1/2) ≤ min(b, c)])
    (McNemar, Psychometrika 1947;12:153-157; Fagerland et al., BMC Med Res Methodol
    2013;13:91). With several cases per patient: the clustered test of Durkalski et al.,
    Stat Med 2003;22:2417-2428, X² = (sum_i (b_i - c_i))² / sum_i (b_i - c_i)² on 1 df.
    """
    y = _binary_labels(y_true)
    a = _binary_labels(pred_a, "pred_a")
    b_pred = _binary_labels(pred_b, "pred_b")
    if a.size != y.size or b_pred.size != y.size:
        raise StatisticsInputError(
            f"pred_a ({a.size}) and pred_b ({b_pred.size}) must match y_true ({y.size})"
        )
    clusters = _clusters(groups, y.size)
    only_a = ((a == y) & (b_pred != y)).astype(float)
    only_b = ((a != y) & (b_pred == y)).astype(float)
    b, c = int(only_a.sum()), int(only_b.sum())
    if b + c == 0:
        return McNemarResult(b=b, c=c, p_value=1.0)
    if clusters.max() + 1 == y.size:
        p_value = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), b + c, 0.5)))
        return McNemarResult(b=b, c=c, p_value=p_value)
    d = _cluster_sums(only_a - only_b, clusters)
    chi2 = d.sum() ** 2 / np.sum(d**2)
    return McNemarResult(b=b, c=c, p_value=float(stats.chi2.sf(chi2, 1)))


def wilson_interval(successes: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaN, NaN when n = 0).

    Wilson, JASA 1927;22:209-212; method 3 of Newcombe, Stat Med 1998;17:857-872; computed
    by statsmodels' `proportion_confint(method="wilson")`. `n` may be an effective sample
    size (not a whole number), see `proportion_interval`.
    """
    from statsmodels.stats.proportion import proportion_confint

    if n < 0 or not 0 <= successes <= n:
        raise StatisticsInputError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return float("nan"), float("nan")
    _z(alpha)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(max(0.0, low)), float(min(1.0, high))


def proportion_interval(
    successes: ArrayLike, groups: ArrayLike | None = None, alpha: float = 0.05
) -> tuple[float, float]:
    """Wilson interval of the proportion of 1s in `successes`, cases clustered in `groups`.

    Ratio estimator p = sum a_i / sum n_i over patients i with its cluster variance
    v = sum (a_i - p n_i)² / N² (Rao & Scott, Biometrika 1992;79:781-790); the design
    effect d = v / (p (1 - p) / N) gives the effective sample size N / d, on which the
    Wilson interval is computed (Korn & Graubard, Surv Methodol 1998;24:193-201; Dean &
    Pagano, J Surv Stat Methodol 2015;3:484-503). When the cluster variance is 0 (p is 0
    or 1, or every patient at exactly p) the effective size is the number of patients.
    With one case per patient d = 1: the plain Wilson interval. d is not truncated, so
    copies of a patient's cases never change the interval (d < 1 when a patient's cases
    disagree more than chance).
    """
    values = _binary_labels(successes, "successes").astype(float)
    clusters = _clusters(groups, values.size)
    total = values.size
    if total == 0:
        return float("nan"), float("nan")
    p = values.mean()
    a_i = _cluster_sums(values, clusters)
    n_i = _cluster_sums(np.ones(total), clusters)
    variance = np.sum((a_i - p * n_i) ** 2) / total**2
    if variance <= 1e-15:  # p is 0 or 1, or every patient at exactly p
        effective = float(a_i.size)
    else:
        effective = total / (variance / (p * (1.0 - p) / total))
    return wilson_interval(p * effective, effective, alpha)


def paired_difference(
    success_a: ArrayLike, success_b: ArrayLike, groups: ArrayLike | None = None, alpha: float = 0.05
) -> DifferenceResult:
    """Difference of two proportions measured on the same cases (e.g. the sensitivities of
    two tests on the same positives), with a Wald interval and test.

    d = sum (a_i - b_i) / N over patients i, variance sum (d_i - d n_i)² / N² (ratio
    estimator with cluster variance, Obuchowski, Stat Med 1998;17:1495-1507). With one case
    per patient this is the Wald interval for paired proportions, variance
    (b + c - (b - c)² / N) / N² (Agresti, Categorical Data Analysis, 2nd ed., 10.1.2).
    The p-value is that of `mcnemar_test` on the same cases.
    """
    a = _binary_labels(success_a, "success_a").astype(float)
    b = _binary_labels(success_b, "success_b").astype(float)
    if a.size != b.size:
        raise StatisticsInputError(f"success_a ({a.size}) and success_b ({b.size}) differ")
    if a.size == 0:
        nan = float("nan")
        return DifferenceResult(nan, nan, nan, nan, nan, nan)
    clusters = _clusters(groups, a.size)
    difference = float(a.mean() - b.mean())
    d_i = _cluster_sums(a - b, clusters)
    n_i = _cluster_sums(np.ones(a.size), clusters)
    half = _z(alpha) * np.sqrt(np.sum((d_i - difference * n_i) ** 2)) / a.size
    ones = np.ones(a.size, dtype=int)
    p_value = mcnemar_test(ones, a.astype(int), b.astype(int), groups).p_value
    return DifferenceResult(
        float(a.mean()),
        float(b.mean()),
        difference,
        float(max(-1.0, difference - half)),
        float(min(1.0, difference + half)),
        p_value,
    )


def holm(p_values: Iterable[float | None]) -> list[float]:
    """Holm step-down adjusted p-values (Holm, Scand J Stat 1979;6:65-70) by statsmodels'
    `multipletests`; missing p-values stay missing and do not count in the family."""
    from statsmodels.stats.multitest import multipletests

    values = np.array([np.nan if p is None else p for p in p_values], dtype=float)
    adjusted = np.full(values.size, np.nan)
    present = np.isfinite(values)
    if present.any():
        adjusted[present] = multipletests(values[present], method="holm")[1]
    return adjusted.tolist()


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, NaN when the denominator is 0."""
    return numerator / denominator if denominator else float("nan")


def binary_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, alpha: float = 0.05, groups: ArrayLike | None = None
) -> dict:
    """Confusion counts, sensitivity, specificity, accuracy, PPV, NPV with intervals.

    Returns tp, fp, tn, fn, n and for each proportion `<name>` its `<name>_ci`: the Wilson
    interval clustered by patient (see `proportion_interval`); NaN when its denominator
    is 0.
    """
    y = _binary_labels(y_true)
    pred = _binary_labels(y_pred, "y_pred")
    if pred.size != y.size:
        raise StatisticsInputError(f"y_pred has {pred.size} values, y_true has {y.size}")
    group = np.arange(y.size) if groups is None else np.asarray(groups)
    _clusters(groups, y.size)
    tp = int(np.sum((pred == 1) & (y == 1)))
    fp = int(np.sum((pred == 1) & (y == 0)))
    tn = int(np.sum((pred == 0) & (y == 0)))
    fn = int(np.sum((pred == 0) & (y == 1)))
    result: dict = {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": int(y.size)}
    proportions = {  # denominator cases, and which of them count as successes
        "sensitivity": (y == 1, pred == 1),
        "specificity": (y == 0, pred == 0),
        "accuracy": (np.ones(y.size, dtype=bool), pred == y),
        "ppv": (pred == 1, y == 1),
        "npv": (pred == 0, y == 0),
    }
    for name, (cases, success) in proportions.items():
        result[name] = _ratio(int(success[cases].sum()), int(cases.sum()))
        result[f"{name}_ci"] = proportion_interval(success[cases].astype(int), group[cases], alpha)
    return result


def clustered_bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: ArrayLike,
    y_score: ArrayLike,
    groups: ArrayLike,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Estimate and percentile interval of `metric(y_true, y_score)`, resampling patients.

    Whole groups (patients) are drawn with replacement so that lesions of one patient
    stay together (cluster bootstrap: Davison & Hinkley 1997, section 3.8; Field & Welsh,
    JRSS B 2007;69:369-390). Resamples on which the metric is undefined (it raises a
    StatisticsInputError, e.g. one class only, or returns NaN) are dropped; if more than
    half are dropped the interval is (NaN, NaN).
    """
    y = _binary_labels(y_true)
    score = _values(y_score, y.size, "y_score")
    group = np.asarray(groups)
    if group.ndim != 1 or group.size != y.size:
        raise StatisticsInputError(f"groups has shape {group.shape}; expected ({y.size},)")
    if n_boot < 1:
        raise StatisticsInputError(f"n_boot must be positive, got {n_boot}")
    _z(alpha)
    estimate = float(metric(y, score))
    _, group_codes = np.unique(group, return_inverse=True)
    members = [np.flatnonzero(group_codes == g) for g in range(group_codes.max() + 1)]
    rng = np.random.default_rng(seed)
    replicates = np.full(n_boot, np.nan)
    for i in range(n_boot):
        drawn = rng.integers(0, len(members), size=len(members))
        index = np.concatenate([members[g] for g in drawn])
        try:
            replicates[i] = metric(y[index], score[index])
        except StatisticsInputError:
            continue
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size < n_boot / 2:
        return estimate, float("nan"), float("nan")
    low, high = np.quantile(replicates, [alpha / 2.0, 1.0 - alpha / 2.0])
    return estimate, float(low), float(high)


def youden_threshold(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Cut-off t maximising Youden's J = sensitivity + specificity - 1 for `score >= t`.

    Youden, Cancer 1950;3:32-35. Candidates are the observed scores; among equal J the
    highest (most specific) cut-off is returned. Higher scores mean positive.
    """
    y = _binary_labels(y_true)
    score = _values(y_score, y.size, "y_score")
    _both_classes(y)
    candidates = np.unique(score)[::-1]
    positive = score[np.newaxis, :] >= candidates[:, np.newaxis]
    sensitivity = (positive & (y == 1)).sum(axis=1) / (y == 1).sum()
    specificity = (~positive & (y == 0)).sum(axis=1) / (y == 0).sum()
    return float(candidates[np.argmax(sensitivity + specificity - 1.0)])


def _probabilities(y_prob: ArrayLike, n: int) -> np.ndarray:
    """Return `y_prob` as finite probabilities in [0, 1], or raise."""
    p = _values(y_prob, n, "y_prob")
    if (p < 0).any() or (p > 1).any():
        raise StatisticsInputError("y_prob must lie in [0, 1]")
    return p


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean squared difference between probability and outcome (Brier, Mon Weather Rev 1950)."""
    y = _binary_labels(y_true)
    p = _probabilities(y_prob, y.size)
    return float(np.mean((p - y) ** 2))


def _logistic_fit(design: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Maximum-likelihood logistic coefficients with an offset, by Newton-Raphson.

    Returns NaNs when the fit does not converge (e.g. perfect separation, one class).
    """
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        eta = np.clip(design @ beta + offset, -30.0, 30.0)
        mu = 1.0 / (1.0 + np.exp(-eta))
        weights = mu * (1.0 - mu)
        hessian = design.T @ (design * weights[:, np.newaxis])
        try:
            step = np.linalg.solve(hessian, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            return beta
    return np.full(design.shape[1], np.nan)


def calibration_intercept_slope(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[float, float]:
    """Calibration intercept (calibration-in-the-large) and slope of predicted probabilities.

    Logistic recalibration on the linear predictor L = logit(p) (Cox, Biometrika 1958;
    Van Calster et al., J Clin Epidemiol 2016;74:167-176 and BMC Med 2019;17:230):
    slope b from logit P(y=1) = a + b·L; intercept a from logit P(y=1) = a + offset(L).
    Perfect calibration gives (0, 1). Probabilities are clipped to [1e-12, 1 - 1e-12].
    A value is NaN when its maximum-likelihood fit does not exist (e.g. the slope when
    logit(p) separates the classes, both when y holds one class).
    """
    y = _binary_labels(y_true)
    p = np.clip(_probabilities(y_prob, y.size), 1e-12, 1.0 - 1e-12)
    logit = np.log(p / (1.0 - p))
    ones = np.ones((y.size, 1))
    intercept = _logistic_fit(ones, y, offset=logit)[0]
    slope = _logistic_fit(np.hstack([ones, logit[:, np.newaxis]]), y, np.zeros(y.size))[1]
    return float(intercept), float(slope)


def net_benefit(y_true: ArrayLike, decision: ArrayLike, threshold: float) -> float:
    """Net benefit of treating the cases with `decision` = 1 at threshold probability pt:
    TP / n - FP / n · pt / (1 - pt) (Vickers & Elkin, Med Decis Making 2006;26:565-574)."""
    y = _binary_labels(y_true)
    positive = _binary_labels(decision, "decision")
    if positive.size != y.size:
        raise StatisticsInputError(f"decision has {positive.size} values, y_true {y.size}")
    if not 0.0 < threshold < 1.0:
        raise StatisticsInputError(f"threshold probability must be in (0, 1), got {threshold}")
    tp = np.sum((positive == 1) & (y == 1))
    fp = np.sum((positive == 1) & (y == 0))
    return float(tp / y.size - fp / y.size * threshold / (1.0 - threshold))


def decision_curve(
    y_true: ArrayLike, y_prob: ArrayLike, thresholds: Sequence[float]
) -> dict[str, list[float]]:
    """Net benefit of the model (treat when probability >= pt) and of treating everyone, at
    each threshold probability pt (Vickers & Elkin 2006); treating no one has net benefit 0."""
    y = _binary_labels(y_true)
    p = _probabilities(y_prob, y.size)
    ones = np.ones(y.size, dtype=int)
    return {
        "threshold": [float(t) for t in thresholds],
        "model": [net_benefit(y, (p >= t).astype(int), t) for t in thresholds],
        "treat_all": [net_benefit(y, ones, t) for t in thresholds],
    }
