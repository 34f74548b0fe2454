"""Novelty detection: how far a new case lies from the training cases.

The score is the Mahalanobis distance of a case from the training cases, on features
imputed with the training medians and standardised with the training means and standard
deviations, under a Ledoit-Wolf shrunk covariance (well defined when there are more features
than cases). The threshold is the `QUANTILE` quantile of cross-fitted training distances
(each training case scored with a covariance fitted without its fold, on the same
standardisation), so that about 1 % of new cases like the training ones are flagged;
in-sample distances would be too small to calibrate it. Separately, every value beyond the
training range of its column by more than `RANGE_MARGIN` of that range is reported by column.

New cases are scored on the values they have, not on imputed ones: a case with missing
features is measured in the marginal distribution of its observed features (the rows and
columns of the covariance for them), against the threshold scaled by
sqrt(chi2_q(p_observed) / chi2_q(p)) (Mahalanobis distances of Gaussian data are chi-distributed
with one degree of freedom per feature). A case with no observed feature is always novel.

The detector is stored as plain arrays (`.npz`, no pickle) and its column list as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import chi2
from sklearn.covariance import LedoitWolf
from sklearn.model_selection import KFold

QUANTILE = 0.99
RANGE_MARGIN = 0.25
CROSS_FIT_FOLDS = 5


@dataclass
class _Standardiser:
    """Training medians (for imputation), means and standard deviations."""

    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> _Standardiser:
        median = np.nanmedian(X, axis=0)
        median = np.where(np.isnan(median), 0.0, median)
        filled = np.where(np.isnan(X), median, X)
        scale = filled.std(axis=0)
        return cls(median, filled.mean(axis=0), np.where(scale > 0, scale, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (np.where(np.isnan(X), self.median, X) - self.mean) / self.scale


def _precision(Z: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf shrunk precision matrix of standardised rows."""
    return LedoitWolf(assume_centered=True).fit(Z).precision_


def _partial_distance(z: np.ndarray, observed: np.ndarray, covariance: np.ndarray) -> float:
    """Mahalanobis distance of the observed coordinates of one standardised row."""
    sub = covariance[np.ix_(observed, observed)]
    value = z[observed] @ np.linalg.solve(sub, z[observed])
    return float(np.sqrt(max(value, 0.0)))


def _distance(Z: np.ndarray, precision: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Z, precision, Z), 0.0))


@dataclass
class NoveltyDetector:
    """Mahalanobis novelty score with a training-quantile threshold, and per-column ranges."""

    columns: list[str]
    standardiser: _Standardiser
    precision: np.ndarray
    threshold: float
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, X: pd.DataFrame, seed: int = 0) -> NoveltyDetector:
        """Fit on the numeric training features X (NaN allowed)."""
        values = X.to_numpy(dtype=float)
        standardiser = _Standardiser.fit(values)
        Z = standardiser(values)
        cross_fitted = np.empty(len(Z))
        folds = KFold(min(CROSS_FIT_FOLDS, len(Z)), shuffle=True, random_state=seed)
        for train, test in folds.split(Z):
            cross_fitted[test] = _distance(Z[test], _precision(Z[train]))
        minimum, maximum = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        span = maximum - minimum
        span = np.where(span > 0, span, np.maximum(np.abs(maximum), 1.0))
        return cls(
            list(X.columns),
            standardiser,
            _precision(Z),
            float(np.quantile(cross_fitted, QUANTILE)),
            minimum - RANGE_MARGIN * span,
            maximum + RANGE_MARGIN * span,
        )

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Novelty score (Mahalanobis distance) of each row of X on its observed features;
        NaN for a row with none."""
        values = X[self.columns].to_numpy(dtype=float)
        observed = ~np.isnan(values)
        Z = (values - self.standardiser.mean) / self.standardiser.scale
        scores = _distance(np.where(observed, Z, 0.0), self.precision)
        covariance = np.linalg.inv(self.precision)
        for row in np.flatnonzero(~observed.all(axis=1)):
            scores[row] = (
                _partial_distance(Z[row], observed[row], covariance)
                if observed[row].any()
                else np.nan
            )
        return scores

    def thresholds(self, X: pd.DataFrame) -> np.ndarray:
        """Per row, the threshold for its number of observed features (see module notes)."""
        n_observed = X[self.columns].notna().sum(axis=1).to_numpy()
        full = chi2.ppf(QUANTILE, len(self.columns))
        return self.threshold * np.sqrt(chi2.ppf(QUANTILE, np.maximum(n_observed, 1)) / full)

    def novel(self, X: pd.DataFrame, scores: np.ndarray) -> np.ndarray:
        """Whether each row is novel: above its threshold, or with no observed feature."""
        with np.errstate(invalid="ignore"):
            return np.isnan(scores) | (scores > self.thresholds(X))

    def out_of_range(self, X: pd.DataFrame) -> list[list[str]]:
        """Per row, the columns whose value lies beyond the widened training range."""
        values = X[self.columns].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            outside = (values < self.low) | (values > self.high)
        return [
            [self._describe(int(j), row[j]) for j in np.flatnonzero(flags)]
            for row, flags in zip(values, outside, strict=True)
        ]

    def _describe(self, j: int, value: float) -> str:
        return f"{self.columns[j]}={value:.4g} outside [{self.low[j]:.4g}, {self.high[j]:.4g}]"

    def save(self, folder: Path) -> list[Path]:
        """Write `novelty.npz` and `novelty.json` into `folder`; return their paths."""
        arrays, meta = folder / "novelty.npz", folder / "novelty.json"
        st = self.standardiser
        np.savez(
            arrays,
            median=st.median,
            mean=st.mean,
            scale=st.scale,
            precision=self.precision,
            low=self.low,
            high=self.high,
        )
        meta.write_text(
            json.dumps(
                {
                    "columns": self.columns,
                    "threshold": self.threshold,
                    "quantile": QUANTILE,
                    "range_margin": RANGE_MARGIN,
                    "method": "Ledoit-Wolf Mahalanobis distance",
                },
                indent=2,
            )
        )
        return [arrays, meta]

    @classmethod
    def load(cls, folder: Path) -> NoveltyDetector:
        """Read a detector written by `save`."""
        meta = json.loads((folder / "novelty.json").read_text())
        with np.load(folder / "novelty.npz", allow_pickle=False) as a:
            standardiser = _Standardiser(a["median"], a["mean"], a["scale"])
            return cls(
                meta["columns"],
                standardiser,
                a["precision"],
                float(meta["threshold"]),
                a["low"],
                a["high"],
            )
