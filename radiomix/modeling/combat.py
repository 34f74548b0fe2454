"""ComBat harmonisation of multi-site feature tables as a scikit-learn transformer.

ComBat (Johnson, Li & Rabinovic 2007, Biostatistics 8:118) models each feature as
``x = mean + gamma_site + sqrt(delta_site) * error`` and removes the additive (gamma) and
multiplicative (delta) site effects, borrowing strength across features with empirical Bayes.
Fortin et al. (NeuroImage 2017, 2018) brought it to imaging as ``neuroCombat``; this module
reproduces that algorithm, but learns the estimates in ``fit`` and applies them in
``transform`` so that held-out rows are harmonised with training estimates only.

The site travels with the data: X holds a batch column (``site`` by default) next to the
feature columns, so a plain ``Pipeline``, SHAP and serving pass it along without extra
plumbing. ``transform`` returns the feature columns only, as an array (a DataFrame under
``set_output(transform="pandas")``).

Choices made here, where the published algorithm leaves a gap:

* No biological covariates are modelled. The covariate that matters (the label) is unknown at
  prediction time, and a transform fitted with it could not be applied to new cases; feeding
  the label into the harmonisation would also leak it into the features.
* One batch (``batch_column=None`` or the column is absent from X): nothing to harmonise, the
  transform is the identity.
* A batch seen at transform but not at fit keeps its rows unadjusted (no batch effect is
  known for it) and one ``UnseenBatchWarning`` names it.
* A batch with a single sample at fit has no within-batch variance: only its location is
  adjusted (``delta = 1``, as in mean-only ComBat), with a warning. This keeps tiny sites in
  cross-validation folds usable instead of failing the fold.
* A single feature column cannot inform the empirical Bayes priors: it gets the plain
  per-batch estimates (as ``eb=False``), with a warning. So does a batch whose priors have
  no finite estimate (its features all share one within-batch variance, as happens with
  two or three rows in a small cross-validation fold).
* Non-finite values are rejected with an error naming the column: impute before ComBat.
* A feature with zero pooled variance is standardised with variance 1 (as neuroCombat does
  in practice), so it is never divided by zero; a feature constant over all training rows
  is left as it is (empirical Bayes would otherwise lend it the other features' site shifts
  and turn it into a site indicator).
* The parametric empirical Bayes iteration runs to a relative change of 1e-10; sva and
  neuroCombat stop at 1e-4, short of the fixed point by about 1e-5 in the output.
* Non-parametric empirical Bayes weighs features by their likelihood in log space, which
  gives neuroCombat's result where it is finite and avoids its 0/0 when likelihoods underflow.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from radiomix.errors import ModelError

CONVERGENCE_TOLERANCE = 1e-10
"""Relative change at which the parametric empirical Bayes iteration stops."""

MAX_ITERATIONS = 1000

NONPARAMETRIC_BLOCK = 512
"""Features weighed at once by non-parametric EB: memory grows as block × features."""


class ComBatInputError(ModelError, ValueError):
    """ComBat cannot use its input: non-finite or non-numeric features, a bad batch column."""


class BatchLabelError(ModelError, TypeError):
    """A batch label is neither a string nor a number."""


class UnseenBatchWarning(UserWarning):
    """Rows of a batch not seen at fit were left without batch adjustment."""


class ComBat(TransformerMixin, BaseEstimator):
    """ComBat harmonisation; the batch (site) is a column of X and is dropped on output.

    Parameters
    ----------
    parametric : parametric (True) or non-parametric (False) empirical Bayes priors.
    eb : shrink the per-batch estimates with empirical Bayes; False uses the plain
        per-batch location and scale estimates.
    mean_only : adjust only the location of each batch, not its scale.
    batch_column : name (DataFrame input) or position of the batch column in X; None, or a
        name that X does not have, means a single batch (the transform is the identity).

    Fitted attributes: ``batches_`` (batch labels), ``batch_sizes_``, ``grand_mean_``,
    ``pooled_variance_``, ``gamma_`` and ``delta_`` (per-batch location and scale, batches ×
    features), ``batch_index_`` (position of the batch column in X, or None),
    ``n_features_in_`` and ``feature_names_in_``.
    """

    _parameter_constraints: ClassVar[dict] = {
        "parametric": ["boolean"],
        "eb": ["boolean"],
        "mean_only": ["boolean"],
        "batch_column": [str, Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        parametric: bool = True,
        eb: bool = True,
        mean_only: bool = False,
        batch_column: str | int | None = "site",
    ) -> None:
        self.parametric = parametric
        self.eb = eb
        self.mean_only = mean_only
        self.batch_column = batch_column

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Estimate grand mean, pooled variance and per-batch location/scale from X."""
        self._validate_params()
        table = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
        self.batch_index_ = self._find_batch_index()
        batch = self._batch_labels(table, X)
        features = self._feature_matrix(table, X)
        self.batches_, codes, self.batch_sizes_ = np.unique(
            batch, return_inverse=True, return_counts=True
        )
        self.grand_mean_, self.pooled_variance_ = _mean_and_pooled_variance(
            features, codes, len(self.batches_)
        )
        standardized = (features - self.grand_mean_) / np.sqrt(self.pooled_variance_)
        self.gamma_, self.delta_ = self._batch_effects(standardized, codes)
        constant = np.ptp(features, axis=0) == 0
        self.gamma_[:, constant], self.delta_[:, constant] = 0.0, 1.0
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Harmonise X with the fitted estimates; returns the feature columns only."""
        check_is_fitted(self, "gamma_")
        table = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        features = self._feature_matrix(table, X)
        gamma, delta = self._row_effects(self._batch_labels(table, X))
        scale = np.sqrt(self.pooled_variance_)
        harmonised = (features - self.grand_mean_ - scale * gamma) / np.sqrt(delta)
        return harmonised + self.grand_mean_

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Names of the harmonised columns: the input columns without the batch column."""
        check_is_fitted(self, "n_features_in_")
        names = self._input_names(input_features)
        if self.batch_index_ is None:
            return names
        return np.delete(names, self.batch_index_)

    def _input_names(self, input_features: ArrayLike | None) -> np.ndarray:
        """The fitted input column names (x0, x1, ... for arrays), or `input_features` when
        they match them."""
        fitted = getattr(self, "feature_names_in_", None)
        if input_features is None:
            if fitted is not None:
                return fitted
            return np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        names = np.asarray(input_features, dtype=object)
        if len(names) != self.n_features_in_ or (
            fitted is not None and not np.array_equal(names, fitted)
        ):
            raise ComBatInputError(
                f"input_features {list(names)} do not match the "
                f"{self.n_features_in_} columns ComBat was fitted on"
            )
        return names

    def _find_batch_index(self) -> int | None:
        """Position of the batch column in the fitted X, or None when there is none."""
        column = self.batch_column
        if column is None:
            return None
        if isinstance(column, str):
            names = list(getattr(self, "feature_names_in_", []))
            return names.index(column) if column in names else None
        if isinstance(column, int | np.integer) and not isinstance(column, bool):
            return int(column) if 0 <= column < self.n_features_in_ else None
        raise ComBatInputError(
            f"ComBat batch_column must be a column name, a position or None, not {column!r}"
        )

    def _batch_labels(self, table: np.ndarray, original: ArrayLike) -> np.ndarray:
        """Batch label of each row (a single batch 0 when there is no batch column)."""
        if self.batch_index_ is None:
            return np.zeros(table.shape[0], dtype=int)
        labels = table[:, self.batch_index_]
        column = self._batch_name()
        for row, label in enumerate(labels):
            _check_batch_label(label, column, _row_name(original, row))
        return labels

    def _batch_name(self) -> str | int | None:
        """Printable name of the batch column (None without one)."""
        names = getattr(self, "feature_names_in_", None)
        return names[self.batch_index_] if names is not None else self.batch_index_

    def _feature_matrix(self, table: np.ndarray, original: ArrayLike) -> np.ndarray:
        """The feature columns as float64, rejecting non-numeric or non-finite columns."""
        names = self.get_feature_names_out()
        columns = np.arange(table.shape[1])
        if self.batch_index_ is not None:
            columns = np.delete(columns, self.batch_index_)
        if columns.size == 0:
            raise ComBatInputError(
                f"ComBat needs feature columns besides the batch column; X has "
                f"{table.shape[1]} feature(s)"
            )
        features = np.empty((table.shape[0], columns.size), dtype=np.float64)
        for position, (column, name) in enumerate(zip(columns, names, strict=True)):
            try:
                features[:, position] = table[:, column].astype(np.float64)
            except ValueError as error:
                raise ComBatInputError(
                    f"ComBat feature column {name!r} is not numeric: {error}"
                ) from error
        _check_finite(features, names, original)
        return features

    def _batch_effects(
        self, standardized: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-batch location (gamma) and scale (delta) of the standardised data."""
        n_batches, n_features = len(self.batches_), standardized.shape[1]
        if n_batches == 1:
            return np.zeros((1, n_features)), np.ones((1, n_features))
        location_only = self._location_only_batches()
        shrink = self._use_empirical_bayes(n_features)
        gamma = np.empty((n_batches, n_features))
        delta = np.empty((n_batches, n_features))
        plain = []
        for b in range(n_batches):
            rows = standardized[codes == b]
            gamma[b], delta[b] = self._one_batch_effects(rows, location_only[b], shrink)
            if not (np.isfinite(gamma[b]).all() and np.isfinite(delta[b]).all()):
                gamma[b], delta[b] = self._one_batch_effects(rows, location_only[b], False)
                plain.append(self.batches_[b])
        if plain:
            warnings.warn(
                f"ComBat: the empirical Bayes priors of batch(es) {plain} cannot be estimated "
                "(their features share one within-batch variance); their plain per-batch "
                "estimates are used",
                UserWarning,
                stacklevel=3,
            )
        return gamma, delta

    def _location_only_batches(self) -> np.ndarray:
        """Which batches get a location adjustment only (mean_only, or a single sample)."""
        single = self.batch_sizes_ < 2
        if single.any() and not self.mean_only:
            warnings.warn(
                f"ComBat: batch(es) {list(self.batches_[single])} have one sample in fit; "
                "only their location is adjusted",
                UserWarning,
                stacklevel=3,
            )
        return single | bool(self.mean_only)

    def _one_batch_effects(
        self, rows: np.ndarray, location_only: bool, shrink: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Location and scale of one batch: plain estimates or empirical Bayes shrunk."""
        gamma_hat = rows.mean(axis=0)
        if location_only:
            delta_hat = np.ones_like(gamma_hat)
        else:
            delta_hat = rows.var(axis=0, ddof=1)
            delta_hat[delta_hat == 0] = 1.0
        if not shrink:
            return gamma_hat, delta_hat
        if not self.parametric:
            return _nonparametric_posterior(rows, gamma_hat, delta_hat)
        if location_only:
            return _location_posterior(gamma_hat), delta_hat
        return _parametric_posterior(rows, gamma_hat, delta_hat)

    def _use_empirical_bayes(self, n_features: int) -> bool:
        """Whether to shrink: asked for and possible (priors need two features or more)."""
        if self.eb and n_features < 2:
            warnings.warn(
                "ComBat: empirical Bayes needs at least 2 features to estimate its priors; "
                "the single feature is adjusted with its plain per-batch estimates",
                UserWarning,
                stacklevel=4,
            )
            return False
        return self.eb

    def _row_effects(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row gamma and delta; rows of batches unseen at fit get no adjustment."""
        n_features = self.gamma_.shape[1]
        gamma = np.zeros((batch.shape[0], n_features))
        delta = np.ones((batch.shape[0], n_features))
        if self.batch_index_ is None:
            return gamma, delta
        seen = pd.Index(self.batches_).get_indexer(batch)
        known = seen >= 0
        gamma[known] = self.gamma_[seen[known]]
        delta[known] = self.delta_[seen[known]]
        if not known.all():
            unseen = list(pd.unique(batch[~known]))
            warnings.warn(
                f"ComBat: batch(es) {unseen} of column {self._batch_name()!r} were not seen "
                "in fit; their rows are left without batch adjustment",
                UnseenBatchWarning,
                stacklevel=3,
            )
        return gamma, delta


def _row_name(original: ArrayLike, row: int) -> object:
    """The case label of a row: its index label for a DataFrame, else its position."""
    return original.index[row] if isinstance(original, pd.DataFrame) else row


def _check_batch_label(label: object, column: str | int | None, row: object) -> None:
    """Raise unless the label is a string or a finite number."""
    if not isinstance(label, str | Real):
        raise BatchLabelError(
            f"ComBat batch column {column!r}, row {row!r}: the batch label argument must be a "
            f"string or a number, not {type(label).__name__}"
        )
    if isinstance(label, Real) and not math.isfinite(label):
        raise ComBatInputError(
            f"ComBat batch column {column!r}, row {row!r}: batch label {label} (NaN or inf); "
            "every row needs a batch"
        )


def _check_finite(features: np.ndarray, names: np.ndarray, original: ArrayLike) -> None:
    """Raise naming the first column (and row) that holds NaN or inf."""
    finite = np.isfinite(features)
    if finite.all():
        return
    column = int(np.flatnonzero(~finite.all(axis=0))[0])
    row = int(np.flatnonzero(~finite[:, column])[0])
    raise ComBatInputError(
        f"ComBat feature column {names[column]!r} holds NaN or inf "
        f"({int((~finite[:, column]).sum())} row(s), first row {_row_name(original, row)!r}); "
        "impute before harmonising"
    )


def _mean_and_pooled_variance(
    features: np.ndarray, codes: np.ndarray, n_batches: int
) -> tuple[np.ndarray, np.ndarray]:
    """Grand mean and pooled within-batch variance (zero variance replaced by 1)."""
    batch_means = np.stack([features[codes == b].mean(axis=0) for b in range(n_batches)])
    residuals = features - batch_means[codes]
    pooled = (residuals**2).mean(axis=0)
    pooled[pooled == 0] = 1.0
    return features.mean(axis=0), pooled


def _inverse_gamma_prior(delta_hat: np.ndarray) -> tuple[float, float]:
    """Method-of-moments shape and scale of the inverse-gamma prior on delta."""
    mean, variance = delta_hat.mean(), delta_hat.var(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (2 * variance + mean**2) / variance, (mean * variance + mean**3) / variance


def _posterior_mean(
    gamma_hat: np.ndarray,
    gamma_bar: float,
    n: int,
    delta: np.ndarray | float,
    tau2: float,
) -> np.ndarray:
    """Posterior mean of gamma under the normal prior N(gamma_bar, tau2)."""
    return (tau2 * n * gamma_hat + delta * gamma_bar) / (tau2 * n + delta)


def _location_posterior(gamma_hat: np.ndarray) -> np.ndarray:
    """Mean-only shrinkage of gamma, as sva/neuroCombat do it (n = 1, delta = 1)."""
    return _posterior_mean(gamma_hat, gamma_hat.mean(), 1, 1, gamma_hat.var(ddof=1))


def _parametric_posterior(
    rows: np.ndarray, gamma_hat: np.ndarray, delta_hat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Joint posterior gamma and delta by the fixed-point iteration of Johnson et al."""
    n = rows.shape[0]
    gamma_bar, tau2 = gamma_hat.mean(), gamma_hat.var(ddof=1)
    shape, scale = _inverse_gamma_prior(delta_hat)
    gamma, delta = gamma_hat, delta_hat
    for _ in range(MAX_ITERATIONS):
        new_gamma = _posterior_mean(gamma_hat, gamma_bar, n, delta, tau2)
        sum_squares = ((rows - new_gamma) ** 2).sum(axis=0)
        new_delta = (0.5 * sum_squares + scale) / (n / 2 + shape - 1)
        change = max(_relative_change(new_gamma, gamma), _relative_change(new_delta, delta))
        gamma, delta = new_gamma, new_delta
        if not change > CONVERGENCE_TOLERANCE:
            return gamma, delta
    warnings.warn("ComBat empirical Bayes did not converge", ConvergenceWarning, stacklevel=5)
    return gamma, delta


def _relative_change(new: np.ndarray, old: np.ndarray) -> float:
    """Largest relative change between two iterates (0/0 counts as no change)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.abs(new - old) / np.abs(old)
    return float(np.nanmax(change, initial=0.0))


def _nonparametric_posterior(
    rows: np.ndarray, gamma_hat: np.ndarray, delta_hat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gamma and delta as likelihood-weighted averages of the other features' estimates."""
    n = rows.shape[0]
    sums, sums_squares = rows.sum(axis=0), (rows**2).sum(axis=0)
    log_normaliser = -0.5 * n * np.log(2 * np.pi * delta_hat)
    gamma, delta = np.empty_like(gamma_hat), np.empty_like(delta_hat)
    for start in range(0, gamma_hat.size, NONPARAMETRIC_BLOCK):
        block = slice(start, start + NONPARAMETRIC_BLOCK)
        # squares[i, k] = sum over rows of (x_i - gamma_k)^2, for the features i of the block
        squares = sums_squares[block, None] - 2 * sums[block, None] * gamma_hat + n * gamma_hat**2
        log_likelihood = log_normaliser - squares / (2 * delta_hat)
        own = np.arange(log_likelihood.shape[0])
        log_likelihood[own, own + start] = -np.inf
        weights = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        gamma[block], delta[block] = weights @ gamma_hat, weights @ delta_hat
    return gamma, delta
