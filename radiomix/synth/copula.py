"""Equicorrelated Gaussian copula: one latent factor shared by a lesion's markers.

Latent normal scores z_j = sqrt(rho) F + sqrt(1 - rho) e_j, with F and e_j independent
standard normals, so that every pair has correlation rho. A continuous marker is the
quantile of its class marginal at Phi(z_j) (its marginal is unchanged); a discrete one
(curve pattern, necrotic core) is the interval of z_j it falls in.

The joint log-density of observed continuous scores z (n of them) and discrete intervals is

    log c(z) + log E[ prod_items sum_k c_k P(z_item in [a_k, b_k] | F) | z ],

with the closed-form equicorrelated copula density c and, given F, independent items. The
expectation over the Gaussian posterior of F given z is a Gauss-Hermite sum.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

QUADRATURE_NODES = 64
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()

Interval = tuple[float, float, float]  # (weight c_k, low a_k, high b_k)


def latent_scores(
    rng: np.random.Generator, n: int, rho: float, factor: float | None = None
) -> np.ndarray:
    """``n`` standard-normal scores with pairwise correlation ``rho`` (one shared factor,
    drawn here unless given: a standard normal shared with other lesions of the patient)."""
    if factor is None:
        factor = rng.standard_normal()
    return np.sqrt(rho) * factor + np.sqrt(1.0 - rho) * rng.standard_normal(n)


def log_copula_density(scores: np.ndarray, rho: float) -> float:
    """Log density of the equicorrelated Gaussian copula at normal ``scores``.

    log phi_R(z) - sum log phi(z_j) with R = (1 - rho) I + rho 11', whose inverse and
    determinant are closed-form: det R = (1 - rho)^(n-1) (1 + (n-1) rho).
    """
    z = np.asarray(scores, float)
    n = z.size
    if n == 0:
        return 0.0
    spread = 1.0 + (n - 1) * rho
    log_det = (n - 1) * np.log1p(-rho) + np.log(spread)
    squares = float(z @ z)
    quadratic = (squares - rho / spread * float(z.sum()) ** 2) / (1.0 - rho)
    return float(-0.5 * log_det - 0.5 * (quadratic - squares))


def factor_posterior(scores: np.ndarray, rho: float) -> tuple[float, float]:
    """Mean and SD of the shared factor F given the observed scores."""
    z = np.asarray(scores, float)
    precision = 1.0 + z.size * rho / (1.0 - rho)
    mean = np.sqrt(rho) / (1.0 - rho) * float(z.sum()) / precision
    return mean, float(np.sqrt(1.0 / precision))


def interval_probability(factor: np.ndarray, low: float, high: float, rho: float) -> np.ndarray:
    """P(low <= z < high | F = factor) for each factor value."""
    shift, spread = np.sqrt(rho) * factor, np.sqrt(1.0 - rho)
    upper = (high - shift) / spread
    lower = (low - shift) / spread
    # Difference of lower tails below the centre, of upper tails above it (no cancellation).
    return np.where(lower > 0, ndtr(-lower) - ndtr(-upper), ndtr(upper) - ndtr(lower))


def log_joint_density(scores: np.ndarray, items: list[list[Interval]], rho: float) -> float:
    """Log copula density of ``scores`` times the probability of the discrete ``items``.

    Each item is a mixture ``[(c_k, a_k, b_k), ...]`` contributing
    sum_k c_k P(a_k <= z_item < b_k | F); the items and the scores share the factor F.
    """
    log_density = log_copula_density(scores, rho)
    if not items:
        return log_density
    mean, sd = factor_posterior(scores, rho)
    factor = mean + sd * _NODES
    product = np.ones_like(factor)
    for item in items:
        product *= sum(c * interval_probability(factor, a, b, rho) for c, a, b in item)
    return log_density + float(np.log(max(float(_WEIGHTS @ product), 1e-300)))
