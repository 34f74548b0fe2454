"""Estimators used inside the modelling pipeline (scikit-learn conventions).

Feature filters and selectors (`RedundancyFilter`, and the k-feature selectors named in
`radiomix.modeling.zoo.SELECTORS`) and the class-balancing wrapper `Rebalanced`. Parameters
are validated by scikit-learn's `_parameter_constraints` at `fit`.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.feature_selection import SelectorMixin, f_classif
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data


class RedundancyFilter(SelectorMixin, BaseEstimator):
    """Drop near-constant features, then one of each pair correlated above a threshold.

    A feature is near-constant when its most frequent value covers at least
    `near_constant_fraction` of the training rows. Among the rest, features are visited in
    column order and a feature is dropped when its absolute Pearson correlation with an
    already kept feature exceeds `correlation_threshold`.
    """

    _parameter_constraints: ClassVar[dict] = {
        "near_constant_fraction": [Interval(Real, 0.0, 1.0, closed="right")],
        "correlation_threshold": [Interval(Real, 0.0, 1.0, closed="right")],
    }

    def __init__(self, near_constant_fraction: float = 0.95, correlation_threshold: float = 0.95):
        self.near_constant_fraction = near_constant_fraction
        self.correlation_threshold = correlation_threshold

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn which features to keep from training data X."""
        self._validate_params()
        values: np.ndarray = validate_data(self, X, dtype=np.float64)
        varying = np.array(
            [self._top_share(column) < self.near_constant_fraction for column in values.T],
            dtype=np.bool_,
        )
        self.support_ = np.zeros(values.shape[1], dtype=np.bool_)
        candidates = np.flatnonzero(varying)
        if candidates.size:
            kept = self._uncorrelated(values[:, candidates])
            self.support_[candidates[kept]] = True
        return self

    @staticmethod
    def _top_share(column: np.ndarray) -> float:
        """Share of rows holding the most frequent value."""
        _, counts = np.unique(column, return_counts=True)
        return counts.max() / column.size

    def _uncorrelated(self, X: np.ndarray) -> np.ndarray:
        """Indices of the columns kept by the greedy correlation filter."""
        correlation = np.abs(_correlation(X, X))
        keep = np.ones(X.shape[1], dtype=bool)
        for j in range(X.shape[1]):
            if keep[j]:
                later = np.arange(X.shape[1]) > j
                keep[later & (correlation[j] > self.correlation_threshold)] = False
        return np.flatnonzero(keep)

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


def _correlation(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson correlations between the columns of A and those of B (0 for a constant column)."""

    def unit(M: np.ndarray) -> np.ndarray:
        centred = M - M.mean(axis=0)
        norms = np.linalg.norm(centred, axis=0)
        norms[norms == 0] = 1.0
        return centred / norms

    return unit(A).T @ unit(B)


def _f_scores(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ANOVA F of each column; undefined F (constant column) scores lowest."""
    scores, _ = f_classif(X, y)
    return np.nan_to_num(scores, nan=-np.inf)


class _KSelector(SelectorMixin, BaseEstimator):
    """A selector keeping the k columns of highest `_score`, k clipped to [1, n_features]."""

    _parameter_constraints: ClassVar[dict] = {"k": [Interval(Integral, 1, None, closed="left")]}

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        """Score the features on training data X, y and keep the k best."""
        self._validate_params()
        values, labels = validate_data(self, X, y, dtype=np.float64)
        k = min(int(self.k), values.shape[1])
        self.support_ = np.zeros(values.shape[1], dtype=np.bool_)
        self.support_[self._choose(values, labels, k)] = True
        return self

    def _choose(self, X: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
        """Indices of the k columns kept (highest score first, ties in column order)."""
        return np.argsort(-self._score(X, y), kind="stable")[:k]

    def _score(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


class KBestSelector(_KSelector):
    """The k features of highest ANOVA F (f_classif), k clipped to the number available."""

    def __init__(self, k: int = 10):
        self.k = k

    def _score(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _f_scores(X, y)


def _l1_coefficients(X: np.ndarray, y: np.ndarray, C: float, l1_ratio: float) -> np.ndarray:
    """|Coefficients| of an L1 / elastic-net logistic regression (saga solver, seeded); the
    largest over classes when there are more than two."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=C, l1_ratio=l1_ratio, solver="saga", max_iter=2000, tol=1e-3, random_state=0
    )
    return np.abs(model.fit(X, y).coef_).max(axis=0)


class LassoSelector(_KSelector):
    """The k features of largest |coefficient| in an L1 (or elastic-net) logistic fit.

    Features with a zero coefficient are never kept, so fewer than k may remain; when the
    penalty zeroes every coefficient, the single feature of highest ANOVA F is kept.
    Features are expected on a common scale (the pipeline standardises before selection).
    """

    _parameter_constraints: ClassVar[dict] = {
        **_KSelector._parameter_constraints,
        "C": [Interval(Real, 0.0, None, closed="neither")],
        "l1_ratio": [Interval(Real, 0.0, 1.0, closed="right")],
    }

    def __init__(self, k: int = 10, C: float = 1.0, l1_ratio: float = 1.0):
        self.k = k
        self.C = C
        self.l1_ratio = l1_ratio

    def _choose(self, X: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
        magnitude = _l1_coefficients(X, y, self.C, self.l1_ratio)
        if not magnitude.any():
            return np.argsort(-_f_scores(X, y), kind="stable")[:1]
        order = np.argsort(-magnitude, kind="stable")[:k]
        return order[magnitude[order] > 0]


class MRMRSelector(_KSelector):
    """Minimum redundancy, maximum relevance, greedy difference form on correlations.

    Peng, Long & Ding, IEEE TPAMI 2005;27:1226 (the MID criterion), with correlations in place
    of mutual information so that relevance and redundancy share one scale: relevance is the
    correlation ratio eta of a feature with the class (|point-biserial r| for two classes,
    from the ANOVA F), redundancy the mean |Pearson r| with the features already kept. The
    first feature has the highest relevance; each next one maximises relevance - redundancy.
    (The quotient form F / |r| favours pure-noise features uncorrelated with the first pick.)
    Written here because the PyPI packages are unmaintained or pull heavy dependencies; it
    is a dozen lines of numpy.
    """

    def __init__(self, k: int = 10):
        self.k = k

    def _choose(self, X: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
        relevance = _correlation_ratio(X, y)
        chosen = [int(np.argmax(relevance))]
        redundancy = np.zeros(X.shape[1])
        while len(chosen) < k:
            redundancy += np.abs(_correlation(X, X[:, [chosen[-1]]]))[:, 0]
            criterion = relevance - redundancy / len(chosen)
            criterion[chosen] = -np.inf
            chosen.append(int(np.argmax(criterion)))
        return np.array(chosen)


def _correlation_ratio(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """eta = sqrt(between-class / total sum of squares), from the ANOVA F; 0 when undefined."""
    n_classes, n = len(np.unique(y)), len(y)
    F = np.maximum(_f_scores(X, y), 0.0)
    between = F * (n_classes - 1)
    with np.errstate(invalid="ignore"):
        eta = np.sqrt(between / (between + n - n_classes))
    return np.nan_to_num(eta, nan=0.0, posinf=1.0)


class StabilitySelector(_KSelector):
    """Stability selection: the k features most often kept by L1 logistic fits on half-samples.

    Meinshausen & Bühlmann, JRSS B 2010;72:417: `n_resamples` random halves of the rows
    (stratified by class), an L1 logistic regression with penalty `C` on each; a feature's
    score is the fraction of fits giving it a non-zero coefficient (ties by ANOVA F).
    """

    _parameter_constraints: ClassVar[dict] = {
        **_KSelector._parameter_constraints,
        "n_resamples": [Interval(Integral, 2, None, closed="left")],
        "C": [Interval(Real, 0.0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        k: int = 10,
        n_resamples: int = 30,
        C: float = 0.1,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.k = k
        self.n_resamples = n_resamples
        self.C = C
        self.random_state = random_state

    def _score(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        rng = check_random_state(self.random_state)
        classes = [np.flatnonzero(y == c) for c in np.unique(y)]
        counts = np.zeros(X.shape[1])
        for _ in range(self.n_resamples):
            rows = np.concatenate(
                [rng.choice(m, max(1, len(m) // 2), replace=False) for m in classes]
            )
            counts += _l1_coefficients(X[rows], y[rows], self.C, 1.0) > 0
        self.frequency_ = counts / self.n_resamples
        ranks = np.argsort(np.argsort(-_f_scores(X, y), kind="stable"), kind="stable")
        return self.frequency_ - ranks / (X.shape[1] * self.n_resamples + 1.0)


def _estimator_has(method: str) -> Callable[[Any], bool]:
    return lambda self: hasattr(self.estimator, method)


class Rebalanced(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """A classifier fitted on class-balanced training rows.

    `strategy`: "none" fits as given; "weight" passes balanced sample weights
    (n / (2 n_class), as scikit-learn's class_weight="balanced"); "oversample" draws minority
    rows with replacement until both classes are equally frequent. Only `fit` is affected:
    predictions are those of the fitted estimator (recalibrate them for probabilities).
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit"])],
        "strategy": [StrOptions({"none", "weight", "oversample"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator: Any,
        strategy: str = "none",
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.estimator = estimator
        self.strategy = strategy
        self.random_state = random_state

    def fit(self, X: Any, y: ArrayLike) -> Self:
        """Fit a clone of `estimator` on X, y balanced by `strategy`."""
        self._validate_params()
        validate_data(self, X, y, dtype=None, ensure_all_finite=False)  # checks only
        self.estimator_ = clone(self.estimator)
        labels = np.asarray(y)
        if self.strategy == "weight":
            self.estimator_.fit(X, labels, sample_weight=compute_sample_weight("balanced", labels))
        elif self.strategy == "oversample":
            rows = _oversampled_rows(labels, check_random_state(self.random_state))
            subset = X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows]
            self.estimator_.fit(subset, labels[rows])
        else:
            self.estimator_.fit(X, labels)
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Class predictions of the fitted estimator."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities of the fitted estimator."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Decision function of the fitted estimator."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)


def _oversampled_rows(y: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """All rows plus minority rows drawn with replacement up to the majority count."""
    classes, counts = np.unique(y, return_counts=True)
    extra = [
        rng.choice(np.flatnonzero(y == c), counts.max() - n, replace=True)
        for c, n in zip(classes, counts, strict=True)
    ]
    return np.concatenate([np.arange(len(y)), *extra])
