"""Marginals of the MET, FDOPA-glioma and mixed-lesion populations on sampled parameters
(no images). Tolerances are three binomial (or mean) standard errors of the sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from radiomix.synth.phantom import Lesion, coordinates
from radiomix.synth.published import nominal_parameters
from radiomix.synth.render import mixed_region
from radiomix.synth.sampler import MixedPart, sample_patient

N_PATIENTS, SEED = 1200, 77


@pytest.fixture(scope="module")
def nominal(config) -> pd.DataFrame:
    return nominal_parameters(config, N_PATIENTS, SEED)


def within(observed: pd.Series, expected: float) -> None:
    """A proportion within three binomial standard errors of ``expected``."""
    spread = 3 * np.sqrt(expected * (1 - expected) / len(observed)) + 1e-9
    assert observed.mean() == pytest.approx(expected, abs=spread)


def truncated(dist) -> stats.rv_continuous:
    """scipy's truncated normal of a configured normal distribution."""
    a, b = (dist.low - dist.mean) / dist.sd, (dist.high - dist.mean) / dist.sd
    return stats.truncnorm(a, b, dist.mean, dist.sd)


def test_met_lnr_follows_its_class_normals(nominal, config):
    """MET metastases: lesion max / background max from the configured normals (Yomo 2017),
    the radionecrosis lesions with false-positive uptake left out."""
    met = nominal[(nominal.tracer == "MET") & ~nominal.uptake_leak.astype(bool)]
    assert set(met.primary) == {"metastasis"} and len(met) > 100
    level = config.pet.tracers["MET"].lesion_level
    for label, group in met.groupby("label"):
        expected = truncated(level.of(label))
        assert group["pet_LNmax"].mean() == pytest.approx(
            expected.mean(), abs=3 * expected.std() / np.sqrt(len(group))
        )


def test_fdopa_metastases_follow_cicone_lognormals(nominal, config):
    """FDOPA metastases: log of lesion max / background max has the configured medians."""
    fdopa = nominal[
        (nominal.tracer == "FDOPA")
        & (nominal.primary == "metastasis")
        & ~nominal.uptake_leak.astype(bool)
    ]
    level = config.pet.tracers["FDOPA"].lesion_level
    for label, group in fdopa.groupby("label"):
        dist = level.of(label)
        assert np.median(group["pet_LNmax"]) == pytest.approx(
            dist.median, rel=3 * 1.2533 * dist.sigma / np.sqrt(len(group))
        )


def test_fdopa_gliomas_are_dynamic_with_class_dependent_slopes(nominal, config):
    """FDOPA gliomas have a dynamic series (unless missing) framed from injection; the
    falling pattern's share per class is its configured weight, and falling curves have a
    negative 10-30 min slope (Zaragori 2020: the slope predicts recurrence)."""
    tracer = config.pet.tracers["FDOPA"].for_primary("glioma")
    assert tracer.dynamic and tracer.start_min == 0
    assert not config.pet.tracers["FDOPA"].for_primary("metastasis").dynamic
    glioma = nominal[(nominal.tracer == "FDOPA") & (nominal.primary == "glioma")]
    within(~glioma["has_dynamic"].astype(bool), config.cohort.missing.pet_dynamic)
    dynamic = glioma[glioma["has_dynamic"].astype(bool)]
    for label, name in ((1, "recurrence"), (0, "radionecrosis")):
        group = dynamic[dynamic.label == label]
        weight = tracer.lesion_kinetics.weights[name]["washout"]
        within(group["kinetic_pattern"] == "washout", weight)
    plain = dynamic[dynamic.mixed_fraction == 0]
    falling = plain.kinetic_pattern == "washout"
    assert (plain.loc[falling, "dyn_slope_suv_per_h"] < 0).all()
    assert (plain.loc[~falling, "dyn_slope_suv_per_h"] > 0).all()
    assert nominal.loc[nominal.tracer != "FDOPA", "primary"].isin(["glioma", "metastasis"]).all()


def test_mixed_lesions_follow_the_configuration(nominal, config):
    """Share of mixed lesions per class, the fraction's bounds per class, and the mixed part's
    curve pattern drawn from the other class's weights (FET radionecrosis: tumour patterns)."""
    mixed = config.pet.mixed_lesions
    for label, name in ((1, "recurrence"), (0, "radionecrosis")):
        group = nominal[nominal.label == label]
        within(group["mixed_fraction"] > 0, mixed.probability.of(label))
        fractions = group.loc[group["mixed_fraction"] > 0, "mixed_fraction"]
        dist = mixed.fraction[name]
        assert fractions.between(dist.low, dist.high).all()
        uniform_se = (dist.high - dist.low) / np.sqrt(12 * len(fractions))
        assert fractions.mean() == pytest.approx((dist.low + dist.high) / 2, abs=3 * uniform_se)
    fet = config.pet.tracers["FET"].for_primary("metastasis").lesion_kinetics
    parts = nominal[(nominal.tracer == "FET") & (nominal.primary == "metastasis")]
    parts = parts[(parts.label == 0) & (parts.mixed_fraction > 0)]
    within(parts["mixed_pattern"] == "increasing", fet.weights["recurrence"]["increasing"])


def test_mixed_region_holds_its_fraction_of_the_viable_lesion(config):
    """The mixed part is the configured share of the viable voxels, on one side of a plane."""
    xyz = coordinates((24, 24, 24), 2.0)
    mask = np.linalg.norm(xyz, axis=0) <= 14.0
    lesion = Lesion(mask, np.zeros_like(mask), np.zeros(3), float(mask.sum() * 8e-3))
    normal = (0.6, 0.0, 0.8)
    part = MixedPart(fraction=0.3, pattern="increasing", rates=(0.1, 0.1, 0.01), normal=normal)
    region = mixed_region(lesion, part, 2.0)
    assert region.sum() / mask.sum() == pytest.approx(0.3, abs=0.01)
    along = np.tensordot(np.asarray(normal), xyz, axes=1)
    assert along[region].min() > along[mask & ~region].max()


def test_every_tracer_is_drawn_at_its_share(config):
    """The tracer mix (MET included) of 600 first draws, each within three binomial SEs."""
    tracers = pd.Series([sample_patient(config, 3, i).tracer for i in range(600)])
    total = sum(config.cohort.tracer_mix.values())
    for tracer, weight in config.cohort.tracer_mix.items():
        within(tracers == tracer, weight / total)


def test_label_sources_and_false_positive_uptake_follow_each_series(nominal, config):
    """Per series (tracer, primary, prevalence: Puranik's static FET gliomas apart), the share
    of histological labels and the false-positive uptake rate of its radionecroses are the
    series' own, else the cohort's or the tracer's; the histology shares are the sources'
    (Galldiks 2015: 95 % histology; Horky 2011: 16 of 25 patients by biopsy)."""
    static = config.pet.tracers["FET"].primaries["glioma"].static_cohort
    groups = nominal.groupby(["tracer", "primary", "prevalence"])
    for (tracer, primary, prevalence), group in groups:
        in_static = (tracer, primary, prevalence) == ("FET", "glioma", static.prevalence)
        settings = config.pet.tracers[tracer].for_primary(primary, in_static)
        histology = settings.histology_share
        within(group["label_source"] == "histology", histology or config.cohort.histology_share)
        necrosis = group[group["label"] == 0]
        within(necrosis["uptake_leak"].astype(bool), settings.false_positive_uptake)
    assert config.pet.tracers["FET"].for_primary("glioma").histology_share == 0.95
    assert config.pet.tracers["FDG"].for_primary("metastasis").histology_share == 16 / 25


def test_fet_gliomas_come_from_a_static_and_a_dynamic_series(nominal, config):
    """A share of the FET gliomas from Puranik's static series (prevalence 0.54, no dynamic
    scan), the others from Galldiks' dynamic series (prevalence 0.92)."""
    static = config.pet.tracers["FET"].primaries["glioma"].static_cohort
    fet = nominal[(nominal.tracer == "FET") & (nominal.primary == "glioma")]
    firsts = fet[fet["case_id"].str.endswith("_L1")]
    from_static = firsts["prevalence"] == static.prevalence
    within(from_static, static.share)
    within(firsts.loc[from_static, "label"], static.prevalence)
    within(firsts.loc[~from_static, "label"], config.cohort.prevalence["glioma"])
    assert not fet.loc[fet["prevalence"] == static.prevalence, "has_dynamic"].astype(bool).any()
