"""Feature-filtering transformers used inside the modelling pipeline (sklearn conventions)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin, f_classif
from sklearn.utils.validation import check_is_fitted, validate_data


class RedundancyFilter(SelectorMixin, BaseEstimator):
    """Drop near-constant features, then one of each pair correlated above a threshold.

    A feature is near-constant when its most frequent value covers at least
    `near_constant_fraction` of the training rows. Among the rest, features are visited in
    column order and a feature is dropped when its absolute Pearson correlation with an
    already kept feature exceeds `correlation_threshold`.
    """

    def __init__(self, near_constant_fraction: float = 0.95, correlation_threshold: float = 0.95):
        self.near_constant_fraction = near_constant_fraction
        self.correlation_threshold = correlation_threshold

    def fit(self, X, y=None):
        """Learn which features to keep from training data X."""
        X = validate_data(self, X, dtype=np.float64)
        varying = np.array([self._top_share(column) < self.near_constant_fraction
                            for column in X.T], dtype=bool)
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        candidates = np.flatnonzero(varying)
        if candidates.size:
            kept = self._uncorrelated(X[:, candidates])
            self.support_[candidates[kept]] = True
        return self

    @staticmethod
    def _top_share(column: np.ndarray) -> float:
        """Share of rows holding the most frequent value."""
        _, counts = np.unique(column, return_counts=True)
        return counts.max() / column.size

    def _uncorrelated(self, X: np.ndarray) -> np.ndarray:
        """Indices of the columns kept by the greedy correlation filter."""
        centred = X - X.mean(axis=0)
        norms = np.linalg.norm(centred, axis=0)
        norms[norms == 0] = 1.0
        correlation = np.abs((centred / norms).T @ (centred / norms))
        keep = np.ones(X.shape[1], dtype=bool)
        for j in range(X.shape[1]):
            if keep[j]:
                later = np.arange(X.shape[1]) > j
                keep[later & (correlation[j] > self.correlation_threshold)] = False
        return np.flatnonzero(keep)

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_


class KBestSelector(SelectorMixin, BaseEstimator):
    """The k features of highest ANOVA F (f_classif), k clipped to the number available."""

    def __init__(self, k: int = 10):
        self.k = k

    def fit(self, X, y):
        """Score the features on training data X, y."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        scores, _ = f_classif(X, y)
        scores = np.nan_to_num(scores, nan=-np.inf)
        order = np.argsort(-scores, kind="stable")
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[order[: max(1, min(int(self.k), X.shape[1]))]] = True
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_
