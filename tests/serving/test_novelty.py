"""The novelty detector of an exported model against the chi-square and Mahalanobis formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import mahalanobis

from radiomix.serving.novelty import NoveltyDetector


def test_novelty_threshold_matches_chi_square():
    """Gaussian training data: squared Mahalanobis distances follow chi-square(p)."""
    rng = np.random.default_rng(0)
    p = 4
    covariance = np.array([[1, 0.5, 0, 0], [0.5, 1, 0, 0], [0, 0, 4, 1], [0, 0, 1, 1]], float)
    train = pd.DataFrame(rng.multivariate_normal(np.zeros(p), covariance, 3000))
    detector = NoveltyDetector.fit(train)
    assert detector.threshold == pytest.approx(np.sqrt(stats.chi2.ppf(0.99, p)), rel=0.05)
    fresh = pd.DataFrame(rng.multivariate_normal(np.zeros(p), covariance, 4000))
    assert 0.005 <= (detector.score(fresh) > detector.threshold).mean() <= 0.02
    inverse = np.linalg.inv(np.cov(train.to_numpy(), rowvar=False))
    expected = [
        mahalanobis(row, train.mean().to_numpy(), inverse) for row in fresh.head(20).to_numpy()
    ]
    np.testing.assert_allclose(detector.score(fresh.head(20)), expected, rtol=0.02)


def test_novelty_is_measured_on_the_observed_inputs():
    """A case missing features is scored in the marginal distribution of the others
    (one feature: |x - mean| / sd), not on training medians put in their place."""
    rng = np.random.default_rng(1)
    covariance = np.array([[1, 0.6, 0], [0.6, 2, 0], [0, 0, 1]], float)
    train = pd.DataFrame(
        rng.multivariate_normal(np.zeros(3), covariance, 3000), columns=["a", "b", "c"]
    )
    detector = NoveltyDetector.fit(train)
    cases = pd.DataFrame(
        {
            "a": [np.nan, np.nan, np.nan, 0.5],
            "b": [12.0, 0.1, np.nan, np.nan],
            "c": [np.nan, np.nan, np.nan, 0.2],
        }
    )
    scores = detector.score(cases)
    sd_b = train["b"].std(ddof=0)
    assert scores[0] == pytest.approx(abs(12.0 - train["b"].mean()) / sd_b, rel=0.02)
    pair = train[["a", "c"]]
    expected = mahalanobis(
        [0.5, 0.2], pair.mean().to_numpy(), np.linalg.inv(np.cov(pair.to_numpy(), rowvar=False))
    )
    assert scores[3] == pytest.approx(expected, rel=0.05)
    assert list(detector.novel(cases, scores)) == [True, False, True, False]
