"""Statistics every comparison in radiomix uses.

Plain functions on arrays: AUC with a DeLong confidence interval, the paired DeLong test,
McNemar's exact test, Wilson intervals, confusion-matrix metrics, patient-clustered bootstrap
intervals, the Youden threshold, the Brier score and calibration intercept and slope.
Each docstring names the source of its formula. Labels are 1 (positive, recurrence) and 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from radiomix.errors import RadiomixError


class StatisticsInputError(RadiomixError, ValueError):
    """The arrays given to a statistic are unusable (length, labels, values)."""


@dataclass(frozen=True)
class AucResult:
    """An AUC with its DeLong variance and confidence interval."""

    auc: float
    ci_low: float
    ci_high: float
    variance: float


@dataclass(frozen=True)
class PairedAucResult:
    """The paired DeLong test of two AUCs measured on the same cases."""

    auc_a: float
    auc_b: float
    difference: float
    z: float
    p_value: float


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test: b = only A correct, c = only B correct."""

    b: int
    c: int
    p_value: float


def _binary_labels(y_true, name: str = "y_true") -> np.ndarray:
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


def _values(x, n: int, name: str) -> np.ndarray:
    """Return `x` as a finite 1-D float array of length `n`, or raise."""
    v = np.asarray(x, dtype=float)
    if v.ndim != 1 or v.shape[0] != n:
        raise StatisticsInputError(f"{name} has shape {v.shape}; expected ({n},) like y_true")
    if not np.isfinite(v).all():
        raise StatisticsInputError(f"{name} contains NaN or infinite values")
    return v


def _both_classes(y: np.ndarray) -> None:
    """Raise unless `y` holds at least one positive and one negative."""
    if y.min() == y.max():
        raise StatisticsInputError(
            f"y_true needs both classes; all {y.size} labels are {int(y[0]) if y.size else '-'}")


def _z(alpha: float) -> float:
    """The two-sided standard-normal quantile for a 1 - alpha interval."""
    if not 0.0 < alpha < 1.0:
        raise StatisticsInputError(f"alpha must be in (0, 1), got {alpha}")
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and DeLong covariance matrix of k scores (rows of `scores`) on labels `y`.

    Fast midrank algorithm of Sun & Xu, IEEE Signal Process Lett 2014;21:1389-1393,
    which gives the structural components of DeLong, DeLong & Clarke-Pearson,
    Biometrics 1988;44:837-845 in O(n log n).
    """
    positives, negatives = scores[:, y == 1], scores[:, y == 0]
    m, n = positives.shape[1], negatives.shape[1]
    rank_x = stats.rankdata(positives, axis=1)
    rank_y = stats.rankdata(negatives, axis=1)
    rank_z = stats.rankdata(np.hstack([positives, negatives]), axis=1)
    aucs = (rank_z[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (rank_z[:, :m] - rank_x) / n
    v01 = 1.0 - (rank_z[:, m:] - rank_y) / m
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


def auc_score(y_true, y_score) -> float:
    """Area under the ROC curve, ties counted one half (Mann-Whitney U / (m n)).

    Hanley & McNeil, Radiology 1982;143:29-36. Needs both classes.
    """
    y = _binary_labels(y_true)
    score = _values(y_score, y.size, "y_score")
    _both_classes(y)
    positives, negatives = score[y == 1], score[y == 0]
    ranks = stats.rankdata(np.concatenate([positives, negatives]))
    m = positives.size
    return float((ranks[:m].sum() - m * (m + 1) / 2.0) / (m * negatives.size))


def auc_delong(y_true, y_score, alpha: float = 0.05) -> AucResult:
    """AUC with the DeLong variance and a Wald interval on the AUC scale.

    Variance: DeLong et al., Biometrics 1988;44:837-845, computed by the fast midrank
    algorithm of Sun & Xu 2014. Interval: AUC ± z(1-alpha/2)·sqrt(variance), clipped to
    [0, 1], as pROC's `ci.auc(method = "delong")` does. Higher scores mean positive.
    """
    y = _binary_labels(y_true)
    score = _values(y_score, y.size, "y_score")
    _both_classes(y)
    aucs, cov = _delong_components(y, score[np.newaxis, :])
    auc, variance = float(aucs[0]), float(cov[0, 0])
    half = _z(alpha) * np.sqrt(max(variance, 0.0))
    return AucResult(auc=auc, ci_low=float(max(0.0, auc - half)),
                     ci_high=float(min(1.0, auc + half)),
                     variance=variance)


def delong_test(y_true, score_a, score_b) -> PairedAucResult:
    """Paired two-sided DeLong test of AUC(a) = AUC(b) on the same cases.

    z = (AUC_a - AUC_b) / sqrt(var_a + var_b - 2 cov_ab) with the DeLong covariance
    (DeLong et al. 1988; fast algorithm Sun & Xu 2014), as pROC's `roc.test`.
    When both scores rank the cases identically the difference and its variance are 0:
    then z = 0 and p = 1.
    """
    y = _binary_labels(y_true)
    a = _values(score_a, y.size, "score_a")
    b = _values(score_b, y.size, "score_b")
    _both_classes(y)
    aucs, cov = _delong_components(y, np.vstack([a, b]))
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    if variance <= 1e-15:
        z, p_value = (0.0, 1.0) if abs(difference) < 1e-12 else (float("nan"), float("nan"))
    else:
        z = difference / np.sqrt(variance)
        p_value = float(2.0 * stats.norm.sf(abs(z)))
    return PairedAucResult(auc_a=float(aucs[0]), auc_b=float(aucs[1]), difference=difference,
                           z=float(z), p_value=p_value)


def mcnemar_exact(y_true, pred_a, pred_b) -> McNemarResult:
    """Exact (binomial) McNemar test on the discordant correctness of two decisions.

    b = cases only A classifies correctly, c = cases only B classifies correctly;
    p = min(1, 2·P[Bin(b + c, 1/2) ≤ min(b, c)]) (McNemar, Psychometrika 1947;12:153-157;
    exact form: Fagerland, Lydersen & Laake, BMC Med Res Methodol 2013;13:91).
    """
    y = _binary_labels(y_true)
    a = _binary_labels(pred_a, "pred_a")
    b_pred = _binary_labels(pred_b, "pred_b")
    if a.size != y.size or b_pred.size != y.size:
        raise StatisticsInputError(
            f"pred_a ({a.size}) and pred_b ({b_pred.size}) must match y_true ({y.size})")
    correct_a, correct_b = a == y, b_pred == y
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    p_value = 1.0 if b + c == 0 else min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), b + c, 0.5)))
    return McNemarResult(b=b, c=c, p_value=p_value)


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaN, NaN when n = 0).

    Wilson, JASA 1927;22:209-212; method 3 of Newcombe, Stat Med 1998;17:857-872.
    """
    if n < 0 or not 0 <= successes <= n:
        raise StatisticsInputError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return float("nan"), float("nan")
    z = _z(alpha)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, NaN when the denominator is 0."""
    return numerator / denominator if denominator else float("nan")


def binary_metrics(y_true, y_pred, alpha: float = 0.05) -> dict:
    """Confusion counts, sensitivity, specificity, accuracy, PPV, NPV with Wilson intervals.

    Returns tp, fp, tn, fn, n and for each proportion `<name>` its `<name>_ci`
    (Wilson interval, see `wilson_interval`); NaN when its denominator is 0.
    """
    y = _binary_labels(y_true)
    pred = _binary_labels(y_pred, "y_pred")
    if pred.size != y.size:
        raise StatisticsInputError(f"y_pred has {pred.size} values, y_true has {y.size}")
    tp = int(np.sum((pred == 1) & (y == 1)))
    fp = int(np.sum((pred == 1) & (y == 0)))
    tn = int(np.sum((pred == 0) & (y == 0)))
    fn = int(np.sum((pred == 0) & (y == 1)))
    result: dict = {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": int(y.size)}
    proportions = {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "accuracy": (tp + tn, y.size),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
    }
    for name, (successes, total) in proportions.items():
        result[name] = _ratio(successes, total)
        result[f"{name}_ci"] = wilson_interval(successes, total, alpha)
    return result


def clustered_bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true,
    y_score,
    groups,
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


def youden_threshold(y_true, y_score) -> float:
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


def _probabilities(y_prob, n: int) -> np.ndarray:
    """Return `y_prob` as finite probabilities in [0, 1], or raise."""
    p = _values(y_prob, n, "y_prob")
    if (p < 0).any() or (p > 1).any():
        raise StatisticsInputError("y_prob must lie in [0, 1]")
    return p


def brier_score(y_true, y_prob) -> float:
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


def calibration_intercept_slope(y_true, y_prob) -> tuple[float, float]:
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
