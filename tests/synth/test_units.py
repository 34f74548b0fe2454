"""Simulator building blocks against textbook formulas and scipy's distributions."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from scipy import integrate, stats

from radiomix.errors import ConfigError
from radiomix.synth.config import DEFAULT_CONFIG, Dist, load_config
from radiomix.synth.copula import latent_scores, log_copula_density, log_joint_density
from radiomix.synth.kinetics import (
    feng_input,
    fine_grid,
    frame_means,
    tissue_curve,
    two_tissue_response,
)
from radiomix.synth.sampler import feature

FENG = dict(a1=851.1225, a2=21.8798, a3=20.8113, l1=-4.1339, l2=-0.0104, l3=-0.1191)


def test_feng_input_integral_matches_closed_form():
    t = np.linspace(0.0, 3000.0, 600_001)
    numeric = integrate.trapezoid(feng_input(t, **FENG), t)
    f = FENG
    exact = (
        f["a1"] / f["l1"] ** 2
        + (f["a2"] + f["a3"]) / f["l1"]
        - f["a2"] / f["l2"]
        - f["a3"] / f["l3"]
    )
    assert numeric == pytest.approx(exact, rel=1e-4)
    assert feng_input(np.array([0.0, 0.4]), **FENG, delay_min=0.5).tolist() == [0.0, 0.0]


def test_one_tissue_limit_is_single_exponential():
    t = np.linspace(0, 30, 301)
    np.testing.assert_allclose(
        two_tissue_response(t, 0.1, 0.2, 0.0, 0.0), 0.1 * np.exp(-0.2 * t), rtol=1e-12
    )


def test_constant_input_reaches_distribution_volume():
    """Steady state of the reversible 2TCM: VT = K1/k2 (1 + k3/k4)."""
    t = fine_grid(400.0)
    k1, k2, k3, k4 = 0.1, 0.15, 0.05, 0.08
    curve = tissue_curve(t, np.ones_like(t), (k1, k2, k3, k4), blood_fraction=0.0)
    assert curve[-1] == pytest.approx(k1 / k2 * (1 + k3 / k4), rel=2e-3)


def test_frame_means_of_a_line_are_mid_frame_values():
    t = fine_grid(50.0)
    starts, durations = np.array([0.0, 5.0, 20.0]), np.array([5.0, 15.0, 30.0])
    means = frame_means(t, (3.0 + 2.0 * t)[None], starts, durations)[0]
    np.testing.assert_allclose(means, 3.0 + 2.0 * (starts + durations / 2), rtol=1e-9)


def test_truncated_normal_matches_scipy():
    dist = Dist(kind="normal", mean=2.2, sd=0.4, low=1.1, high=4.5)
    a, b = (1.1 - 2.2) / 0.4, (4.5 - 2.2) / 0.4
    for x in (1.2, 2.0, 3.9):
        assert dist.logpdf(x) == pytest.approx(stats.truncnorm.logpdf(x, a, b, 2.2, 0.4))
    draws = np.array([dist.sample(np.random.default_rng(i)) for i in range(4000)])
    assert draws.min() >= 1.1 and draws.max() <= 4.5
    assert draws.mean() == pytest.approx(stats.truncnorm.mean(a, b, 2.2, 0.4), abs=0.02)


def test_lognormal_matches_scipy():
    dist = Dist(kind="lognormal", median=3.0, sigma=0.8)
    for x in (0.6, 3.0, 12.0):
        assert dist.logpdf(x) == pytest.approx(stats.lognorm.logpdf(x, 0.8, scale=3.0))


def test_bad_config_raises_config_error(tmp_path):
    content = yaml.safe_load(DEFAULT_CONFIG.read_text())
    content["mrs"]["cho_naa"]["recurrence"]["low"] = 0.9  # classes on different supports
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_normal_score_and_quantile_invert_scipy_cdfs():
    truncated = Dist(kind="normal", mean=1.43, sd=0.307, low=0.8, high=3.0)
    a, b = (0.8 - 1.43) / 0.307, (3.0 - 1.43) / 0.307
    lognormal = Dist(kind="lognormal", median=3.0, sigma=0.435)
    for x in (0.85, 1.2, 1.43, 2.1, 2.9):
        expected = stats.norm.ppf(stats.truncnorm.cdf(x, a, b, 1.43, 0.307))
        assert truncated.normal_score(x) == pytest.approx(expected, abs=1e-9)
        assert truncated.quantile(stats.norm.cdf(expected)) == pytest.approx(x, rel=1e-9)
    for x in (0.5, 3.0, 40.0):  # untruncated: the standardised log
        assert lognormal.normal_score(x) == pytest.approx(np.log(x / 3.0) / 0.435, abs=1e-9)
    # far upper tail keeps its precision (cdf rounds to 1 there)
    assert Dist(kind="normal", mean=0, sd=1).normal_score(9.0) == pytest.approx(9.0, rel=1e-9)


def _equicorrelation(n: int, rho: float) -> np.ndarray:
    return (1 - rho) * np.eye(n) + rho * np.ones((n, n))


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.5, 0.8])
def test_copula_density_matches_the_multivariate_normal(rho):
    z = np.array([0.3, -1.2, 2.0, 0.7, -0.1])
    for n in range(1, 6):
        expected = (
            stats.multivariate_normal(np.zeros(n), _equicorrelation(n, rho)).logpdf(z[:n])
            - stats.norm.logpdf(z[:n]).sum()
        )
        assert log_copula_density(z[:n], rho) == pytest.approx(expected, abs=1e-10)


def test_discrete_items_match_conditional_normal_probabilities():
    """Box probabilities of latent scores given the observed ones, by Schur complement."""
    rho, observed = 0.5, np.array([1.1, -0.4, 0.9])
    boxes = [(-0.3, 0.8), (0.5, np.inf)]  # a curve pattern interval, 'has a core'
    n_obs, n = observed.size, observed.size + len(boxes)
    cov = _equicorrelation(n, rho)
    gain = cov[n_obs:, :n_obs] @ np.linalg.inv(cov[:n_obs, :n_obs])
    mean = gain @ observed
    conditional = cov[n_obs:, n_obs:] - gain @ cov[:n_obs, n_obs:]
    lower, upper = np.array([b[0] for b in boxes]), np.array([b[1] for b in boxes])
    box = stats.multivariate_normal(mean, conditional).cdf(upper, lower_limit=lower)
    expected = log_copula_density(observed, rho) + np.log(box)
    items = [[(1.0, *boxes[0])], [(1.0, *boxes[1])]]
    assert log_joint_density(observed, items, rho) == pytest.approx(expected, abs=1e-5)
    # a mixture item is the weighted sum of its intervals' probabilities
    mixture = [[(0.25, -np.inf, -0.3), (2.0, -0.3, 0.8)], [(1.0, *boxes[1])]]
    below = stats.multivariate_normal(mean, conditional).cdf(
        [-0.3, np.inf], lower_limit=[-np.inf, 0.5]
    )
    expected = log_copula_density(observed, rho) + np.log(0.25 * below + 2.0 * box)
    assert log_joint_density(observed, mixture, rho) == pytest.approx(expected, abs=1e-5)


def test_latent_scores_have_the_configured_correlation():
    rng = np.random.default_rng(0)
    draws = np.stack([latent_scores(rng, 4, 0.5) for _ in range(20000)])
    correlation = np.corrcoef(draws, rowvar=False)[np.triu_indices(4, 1)]
    np.testing.assert_allclose(correlation, 0.5, atol=0.03)
    np.testing.assert_allclose(draws.std(axis=0), 1.0, atol=0.03)


def test_the_truth_table_speaks_the_extractors_feature_names():
    """Every tracer's lesion level is a feature the extractor declares; a name no family
    declares (an earlier FDG level was called `fdg_lesion_gm_ratio`) stops the simulator."""
    for tracer in load_config().pet.tracers.values():
        assert feature(tracer.lesion_level.name) == tracer.lesion_level.name
    with pytest.raises(ConfigError, match="'fdg_lesion_gm_ratio' is not a feature"):
        feature("fdg_lesion_gm_ratio")
