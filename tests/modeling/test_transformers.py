"""The selectors and the class-balancing wrapper of the modelling pipeline: sklearn
conventions, parameter validation, and values against independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from radiomix.modeling.transformers import (
    KBestSelector,
    LassoSelector,
    MRMRSelector,
    Rebalanced,
    RedundancyFilter,
    StabilitySelector,
)
from radiomix.modeling.zoo import SELECTORS, make_selector


@parametrize_with_checks(
    [
        MRMRSelector(k=2),
        LassoSelector(k=2, C=10.0),
        StabilitySelector(k=2, n_resamples=5, random_state=0),
        Rebalanced(LogisticRegression(), "weight"),
        Rebalanced(LogisticRegression(), "oversample", random_state=0),
    ]
)
def test_sklearn_conventions(estimator, check):
    check(estimator)


def _signal(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """f0 and its near-copy f1 carry a strong signal, f2 a weaker independent one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    strong = 1.5 * y + rng.normal(0, 1, n)
    X = pd.DataFrame(
        {"f0": strong, "f1": strong + rng.normal(0, 0.05, n), "f2": 0.8 * y + rng.normal(0, 1, n)}
    )
    noise = pd.DataFrame(rng.normal(0, 1, (n, 5)), columns=[f"n{j}" for j in range(5)])
    return pd.concat([X, noise], axis=1), y


def test_mrmr_skips_the_redundant_copy_that_anova_keeps():
    X, y = _signal()
    anova = KBestSelector(k=2).fit(X, y).get_feature_names_out()
    mrmr = MRMRSelector(k=2).fit(X, y).get_feature_names_out()
    assert set(anova) == {"f0", "f1"}
    assert "f2" in mrmr and len(mrmr) == 2
    # By hand with pandas: relevance |point-biserial r|, then relevance - |r| with the first.
    relevance = X.corrwith(pd.Series(y, index=X.index)).abs()
    first = relevance.idxmax()
    criterion = relevance - X.corrwith(X[first]).abs()
    assert set(mrmr) == {first, criterion.drop(first).idxmax()}


def test_lasso_selector_keeps_the_largest_l1_coefficients():
    X, y = _signal(seed=1)
    reference = LogisticRegression(C=0.05, l1_ratio=1.0, solver="liblinear").fit(X, y)
    magnitude = np.abs(reference.coef_[0])
    kept = set(LassoSelector(k=2, C=0.05).fit(X, y).get_feature_names_out())
    assert kept == set(X.columns[np.argsort(-magnitude)[:2]]) or kept <= {"f0", "f1", "f2"}
    assert len(kept) <= 2 and kept & {"f0", "f1"}


def test_stability_selection_finds_the_signal_and_reports_frequencies():
    X, y = _signal(seed=2)
    selector = StabilitySelector(k=2, n_resamples=20, C=0.1, random_state=0).fit(X, y)
    assert set(selector.get_feature_names_out()) <= {"f0", "f1", "f2"}
    assert ((selector.frequency_ >= 0) & (selector.frequency_ <= 1)).all()
    assert selector.frequency_[X.columns.get_loc("n0")] < selector.frequency_.max()


def test_every_selector_of_the_table_is_built_and_keeps_at_most_k():
    X, y = _signal(seed=3)
    for name in SELECTORS:
        kept = make_selector(name, 3, seed=0).fit(X, y).get_support().sum()
        assert 1 <= kept <= 3, name


def test_class_weights_equal_sklearn_balanced_weighting():
    X, y = _signal(seed=4)
    y = np.where(np.arange(len(y)) < 100, 0, y)  # imbalanced
    ours = Rebalanced(LogisticRegression(), "weight").fit(X, y)
    reference = LogisticRegression(class_weight="balanced").fit(X, y)
    np.testing.assert_allclose(ours.estimator_.coef_, reference.coef_, rtol=1e-4)


def test_oversampling_balances_the_classes():
    y = np.r_[np.zeros(30, int), np.ones(6, int)]
    X = pd.DataFrame({"x": np.arange(36.0)})
    seen = []

    class Recorder(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            seen.append(np.bincount(y))
            return super().fit(X, y)

    Rebalanced(Recorder(), "oversample", random_state=0).fit(X, y)
    assert seen[0].tolist() == [30, 30]


@pytest.mark.parametrize(
    "estimator",
    [
        KBestSelector(k=0),
        RedundancyFilter(1.5),
        MRMRSelector(k="3"),
        Rebalanced(LogisticRegression(), "smote"),
    ],
)
def test_bad_parameters_are_rejected_at_fit(estimator):
    X, y = _signal(n=20)
    with pytest.raises(ValueError):
        estimator.fit(X, y)
