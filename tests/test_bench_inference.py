"""The statistics of benchmarks/bench_inference.py on small in-memory tables (no images)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import stats

from radiomix.features.texture import read_param_file, texture_features
from radiomix.paths import CONFIG_DIR
from radiomix.synth.cohort import synthesize_cohort

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inference.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_inference", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clustered_cases(rng: np.random.Generator, n_patients: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and patient ids: every patient has two lesions of the same class."""
    labels = rng.integers(0, 2, n_patients)
    labels[:2], labels[2:4] = 0, 1
    return np.repeat(labels, 2), np.repeat(np.arange(n_patients), 2)


def patient_scores(rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
    """Scores independent of the labels, strongly alike within a patient."""
    return rng.standard_normal(groups.max() + 1)[groups] + 0.3 * rng.standard_normal(groups.size)


def test_clustered_comparison_p_values_are_uniform_under_the_null(bench):
    # Two scores independent of the labels, correlated within patients: the one-sided
    # p-values of "AUC(a) > AUC(b)" must be uniform; ignoring the patients would make the
    # variance too small and the rejection rate too high.
    rng = np.random.default_rng(5)
    p_values = []
    for _ in range(400):
        y, groups = clustered_cases(rng, 100)
        a, b = patient_scores(rng, groups), patient_scores(rng, groups)
        p_values.append(bench.better(y, a, b, groups)["p"])
    p_values = np.array(p_values)
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    # rejection rate at 0.05 within 2.5 Monte Carlo SE (SE = 0.011 for 400 draws)
    assert abs((p_values < bench.ALPHA).mean() - bench.ALPHA) < 0.028


def test_unclustered_comparison_would_be_anti_conservative(bench):
    # The same draws each counted as 200 independent cases: the case-level DeLong variance
    # ignores that the two lesions of a patient are alike, and rejects far too often. This is
    # why the benchmark passes the patients.
    rng = np.random.default_rng(5)
    rejected = 0
    for _ in range(400):
        y, groups = clustered_cases(rng, 100)
        a, b = patient_scores(rng, groups), patient_scores(rng, groups)
        rejected += bench.better(y, a, b, np.arange(y.size))["p"] < bench.ALPHA
    assert rejected / 400 > 0.08


def feature_table(rng: np.random.Generator, n_patients: int, texture_effect: float):
    """One case per patient: a rule parameter carrying the class, and three texture columns
    carrying `texture_effect` standard deviations of class shift (0: pure noise)."""
    y = np.r_[0, 0, 1, 1, rng.integers(0, 2, n_patients - 4)]
    rule = y + rng.standard_normal(n_patients)
    texture = texture_effect * y[:, None] + rng.standard_normal((n_patients, 3))
    table = pd.DataFrame(texture, columns=["t1", "t2", "t3"]).assign(
        label=y, patient_id=np.arange(n_patients).astype(str), rule=rule
    )
    return table, {"rule": rule}


@pytest.mark.slow  # 800 pipeline fits: ~25 s of CPU each
@pytest.mark.parametrize(("effect", "low", "high"), [(0.0, 0.0, 0.12), (1.0, 0.6, 1.0)])
def test_texture_comparison_level_and_power(bench, effect, low, high):
    # Out-of-fold scores of the benchmark's models: with texture columns that are pure noise
    # the one-sided test rejects at most at the nominal rate (+ 2 MC SE of 40 draws); with
    # texture carrying one SD of class shift per column it mostly rejects.
    rng = np.random.default_rng(11)
    rejected = []
    for seed in range(40):
        table, parameters = feature_table(rng, 60, effect)
        result = bench.comparisons(table, ["rule"], ["t1", "t2", "t3"], parameters, seed)
        rejected.append(result["texture_p"] < bench.ALPHA)
    assert low <= np.mean(rejected) <= high


def test_summary_flags_a_null_rate_above_the_nominal_level(bench):
    # 20 seeds: MC SE at 0.05 is sqrt(0.05 * 0.95 / 20) = 0.049, so 1/20 passes and 3/20 does
    # not; the interval is Clopper-Pearson (1/20: 0.0013-0.249, 3/20: 0.032-0.379).
    def rows(scenario, n_significant):
        p = np.r_[np.full(n_significant, 0.01), np.full(20 - n_significant, 0.5)]
        return pd.DataFrame(
            {
                "scenario": scenario,
                "n_patients": 40,
                "n_cases": 44,
                "texture_p": p,
                "texture_auc_gain": 0.0,
                "best_rule_p": 0.5,
                "best_rule_auc_gain": 0.0,
                "commit": "abc1234",
            }
        )

    lines = bench.summary(pd.concat([rows("null", 1), rows("informative", 3)])).splitlines()
    null, informative = lines[2].split(" | "), lines[3].split(" | ")
    assert null[3] == "1/20 = 0.05 (0.00–0.25)"
    assert null[4] == "0.049" and null[5] == "yes"
    assert informative[3] == "3/20 = 0.15 (0.03–0.38)" and informative[5] == "(power)"
    assert bench.summary(rows("null", 3)).splitlines()[2].split(" | ")[5] == "NO"
    # one row per cohort size, commit (in order of appearance) and scenario: smaller cohorts
    # first, null before informative
    larger = pd.concat([rows("informative", 3), rows("null", 0)]).assign(n_patients=100)
    later = rows("null", 2).assign(commit="0000123")
    both = pd.concat([larger, rows("informative", 3), later, rows("null", 1)])
    cells = [
        [line.split(" | ")[i] for i in (0, 1, 2, 3, 9)]
        for line in bench.summary(both).splitlines()[2:]
    ]
    assert cells == [
        ["| null", "20", "40 (44)", "1/20 = 0.05 (0.00–0.25)", "abc1234 |"],
        ["| informative", "20", "40 (44)", "3/20 = 0.15 (0.03–0.38)", "abc1234 |"],
        ["| null", "20", "40 (44)", "2/20 = 0.10 (0.01–0.32)", "0000123 |"],
        ["| null", "20", "100 (44)", "0/20 = 0.00 (0.00–0.17)", "abc1234 |"],
        ["| informative", "20", "100 (44)", "3/20 = 0.15 (0.03–0.38)", "abc1234 |"],
    ]


def feature_params(image: str, glcm_feature: str) -> dict:
    """The default extraction's parameter set of `image`, one GLCM feature only."""
    params = read_param_file(CONFIG_DIR / "extraction" / f"{image}.yaml")
    return params | {"featureClass": {"glcm": [glcm_feature]}}


# |Spearman| of each pre-specified texture feature with the simulated amplitude. On a
# 200-patient informative cohort (bench_texture_signal.py) it is 0.4-0.7; on 30 patients one
# SE is about 0.15, so 0.25 fails only when the signal is lost.
MIN_SPEARMAN = 0.25


@pytest.mark.slow  # synthesis and GLCM of 30 patients: ~20 s
def test_prespecified_texture_follows_the_simulated_amplitude(bench, tmp_path):
    manifest = synthesize_cohort(
        tmp_path / "cohort", 30, 3, bench.synth_config(tmp_path), 1, "informative"
    )
    cases = pd.read_csv(manifest).merge(
        pd.read_csv(manifest.parent / "truth.csv")[["case_id", "heterogeneity"]], on="case_id"
    )
    glcm_feature = bench.TEXTURE_FEATURE.removeprefix("original_glcm_")
    for image in bench.TEXTURE_IMAGES:
        present = cases.dropna(subset=[image])  # FDG cases have no static "pet" image
        values = [
            texture_features(
                sitk.ReadImage(str(manifest.parent / case[image])),
                sitk.ReadImage(str(manifest.parent / case["lesion_mask"])),
                feature_params(image, glcm_feature),
                image,
            )[f"{image}_{bench.TEXTURE_FEATURE}"]
            for _, case in present.iterrows()
        ]
        rho = stats.spearmanr(values, present["heterogeneity"])[0]
        assert abs(rho) > MIN_SPEARMAN, f"{image}: Spearman {rho:.2f}"
