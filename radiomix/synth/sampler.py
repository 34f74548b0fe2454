"""Patient parameters: class, tracer, site, lesion levels, kinetics, MRI/MRS values, oracle.

The class-dependent markers of a lesion share one latent factor (an equicorrelated Gaussian
copula, see ``copula``): within a class they are correlated, each keeps its marginal.

Everything a patient needs is drawn here from its own random stream, so that a patient
does not depend on the others (nor on how many processes generate the cohort).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
from scipy.special import ndtr, ndtri

from radiomix.errors import ConfigError
from radiomix.features.config import ExtractionConfig
from radiomix.synth.config import (
    ClassDist,
    ClassName,
    ClassProbability,
    LabelSource,
    LesionKinetics,
    Primary,
    Site,
    SynthConfig,
    Tracer,
    TracerName,
)
from radiomix.synth.copula import latent_scores, log_joint_density
from radiomix.synth.kinetics import feng_input, fine_grid, frame_means, tissue_curve

LABEL_NAMES: dict[int, ClassName] = {1: "recurrence", 0: "radionecrosis"}
# Components of the latent vector, in draw order: the markers that depend on the class. The
# texture amplitude is drawn apart from the factor (``heterogeneity``); its component is still
# drawn so that the other markers, and so every cohort of a seed, keep their values.
LATENT_MARKERS = ("level", "heterogeneity", "kinetics", "core", "adc", "rcbv", "cho_naa", "cho_cr")


@dataclass(frozen=True)
class MixedPart:
    """The share of a mixed lesion with the other class's kinetics, and the normal of the
    plane through the lesion centre that bounds it."""

    fraction: float
    pattern: str
    rates: tuple[float, float, float]
    normal: tuple[float, float, float]


@dataclass
class LesionSpec:
    """Nominal parameters of one lesion."""

    label: int
    manifest_label: int
    label_source: str
    volume_cm3: float
    has_core: bool
    heterogeneity: float
    level: float
    uptake_leak: bool
    pattern: str
    rates: tuple[float, float, float]
    mixed: MixedPart | None
    adc_ratio: float
    rcbv_mean: float
    cho_naa: float
    cho_cr: float


@dataclass
class PatientSpec:
    """Everything drawn for one patient before images are made."""

    index: int
    draw: int
    patient_id: str
    site: Site
    tracer: TracerName
    primary: Primary
    prevalence: float
    static_series: bool
    age: float
    months_since_rt: float
    normal_levels: list[float]
    lesions: list[LesionSpec]
    has_dynamic: bool
    has_mri: bool
    has_rcbv: bool
    has_mrs: bool


def patient_streams(seed: int, index: int, draw: int = 0) -> tuple[np.random.Generator, ...]:
    """Independent generators (parameters, anatomy, noise) of draw ``draw`` of patient ``index``.

    Draw ``d`` uses children ``3d, 3d + 1, 3d + 2`` of ``SeedSequence([seed, index])``: a
    patient re-drawn because its lesions found no room depends on ``(seed, index)`` only.
    """
    root = np.random.SeedSequence([seed, index])
    return tuple(
        np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(3 * draw + j,)))
        for j in range(3)
    )


def patient_id(index: int) -> str:
    """The identifier of patient ``index`` (P0001 for index 0)."""
    return f"P{index + 1:04d}"


Name = TypeVar("Name", bound=str)


def _choice(rng: np.random.Generator, weights: Mapping[Name, float]) -> Name:
    names = list(weights)
    probabilities = np.asarray([weights[n] for n in names], float)
    return names[int(rng.choice(len(names), p=probabilities / probabilities.sum()))]


def marker_value(dist: ClassDist, label: int, score: float) -> float:
    """The class-``label`` value of a continuous marker at latent normal ``score``."""
    return dist.of(label).quantile(float(ndtr(dist.orientation * score)))


def marker_score(dist: ClassDist, label: int, value: float) -> float:
    """The latent normal score of ``value`` under the class-``label`` marginal."""
    return dist.orientation * dist.of(label).normal_score(value)


def pattern_intervals(kinetics: LesionKinetics, label: int) -> dict[str, tuple[float, float]]:
    """Latent-score interval of each curve pattern (listed least to most tumour-like)."""
    weights = kinetics.weights[LABEL_NAMES[label]]
    cumulative = np.cumsum([weights.get(name, 0.0) for name in kinetics.patterns])
    edges = ndtri(np.clip(np.concatenate([[0.0], cumulative / cumulative[-1]]), 0.0, 1.0))
    return {
        name: (float(edges[i]), float(edges[i + 1])) for i, name in enumerate(kinetics.patterns)
    }


def core_interval(probability: ClassProbability, label: int, has_core: bool) -> tuple[float, float]:
    """Latent-score interval meaning 'necrotic core' (or 'no core') in class ``label``."""
    p = probability.of(label)
    if probability.orientation > 0:
        threshold = float(ndtri(1.0 - p))
        return (threshold, np.inf) if has_core else (-np.inf, threshold)
    threshold = float(ndtri(p))
    return (-np.inf, threshold) if has_core else (threshold, np.inf)


def _pattern_at(intervals: dict[str, tuple[float, float]], score: float) -> str:
    return next(name for name, (low, high) in intervals.items() if low <= score < high)


def _draw_rates(
    rng: np.random.Generator, kinetics: LesionKinetics, pattern: str
) -> tuple[float, float, float]:
    chosen = kinetics.patterns[pattern]
    return chosen.k2.sample(rng), chosen.k3.sample(rng), chosen.k4.sample(rng)


def sample_mixed(
    rng: np.random.Generator, config: SynthConfig, tracer: Tracer, label: int
) -> MixedPart | None:
    """The other-class part of a lesion of class ``label``, or None (not a mixed lesion)."""
    mixed = config.pet.mixed_lesions
    if rng.random() >= mixed.probability.of(label):
        return None
    kinetics = tracer.lesion_kinetics
    pattern = _choice(rng, kinetics.weights[LABEL_NAMES[1 - label]])
    x, y, z = rng.standard_normal(3)
    length = float(np.sqrt(x * x + y * y + z * z))
    return MixedPart(
        fraction=mixed.fraction[LABEL_NAMES[label]].sample(rng),
        pattern=pattern,
        rates=_draw_rates(rng, kinetics, pattern),
        normal=(float(x) / length, float(y) / length, float(z) / length),
    )


def sample_lesion(
    rng: np.random.Generator,
    config: SynthConfig,
    tracer: Tracer,
    label: int,
    factor: float,
    histology_share: float,
) -> LesionSpec:
    """Nominal parameters of one lesion of class ``label``, dependent through the latent
    ``factor`` (standard normal, partly the patient's); its label comes from histology with
    probability ``histology_share``, else from follow-up."""
    cohort = config.cohort
    source: LabelSource = "histology" if rng.random() < histology_share else "follow-up"
    flipped = rng.random() < cohort.label_noise[source]
    z = dict(
        zip(
            LATENT_MARKERS,
            latent_scores(rng, len(LATENT_MARKERS), config.latent.correlation, factor),
            strict=True,
        )
    )
    pattern = _pattern_at(pattern_intervals(tracer.lesion_kinetics, label), z["kinetics"])
    core = config.anatomy.necrotic_core.probability
    low, high = core_interval(core, label, True)
    continuous = continuous_markers(config, tracer)
    leak = label == 0 and rng.random() < tracer.false_positive_uptake
    return LesionSpec(
        label=label,
        manifest_label=1 - label if flipped else label,
        label_source=source,
        volume_cm3=config.anatomy.lesion_volume_cm3.sample(rng),
        has_core=bool(low <= z["core"] < high),
        heterogeneity=heterogeneity(rng, config, label),
        level=marker_value(continuous["level"], 1 if leak else label, z["level"]),
        uptake_leak=bool(leak),
        pattern=pattern,
        rates=_draw_rates(rng, tracer.lesion_kinetics, pattern),
        mixed=sample_mixed(rng, config, tracer, label),
        adc_ratio=marker_value(continuous["adc"], label, z["adc"]),
        rcbv_mean=marker_value(continuous["rcbv"], label, z["rcbv"]),
        cho_naa=marker_value(continuous["cho_naa"], label, z["cho_naa"]),
        cho_cr=marker_value(continuous["cho_cr"], label, z["cho_cr"]),
    )


def lesion_classes(
    rng: np.random.Generator, config: SynthConfig, prevalence: float, n_lesions: int
) -> list[int]:
    """Classes of a patient's lesions: a further lesion copies the first one's class with
    probability ``same_class``, else is drawn at the population's ``prevalence``."""
    same = config.cohort.patient_effect.same_class
    labels = [int(rng.random() < prevalence)]
    for _ in range(n_lesions - 1):
        copy, own = rng.random() < same, int(rng.random() < prevalence)
        labels.append(labels[0] if copy else own)
    return labels


def lesion_factors(rng: np.random.Generator, config: SynthConfig, n_lesions: int) -> np.ndarray:
    """Standard-normal latent factors of a patient's lesions, sharing ``factor_share`` of
    their variance (the patient random effect)."""
    share = config.cohort.patient_effect.factor_share
    patient = rng.standard_normal()
    return np.sqrt(share) * patient + np.sqrt(1.0 - share) * rng.standard_normal(n_lesions)


def heterogeneity(rng: np.random.Generator, config: SynthConfig, label: int) -> float:
    """Texture amplitude, drawn apart from the latent factor: a class marker of its own
    (informative scenario; it carries class information the other markers do not) or a
    class-free draw (null scenario)."""
    if config.texture.scenario == "informative":
        return marker_value(config.texture.amplitude_informative, label, rng.standard_normal())
    return config.texture.amplitude_null.sample(rng)


def continuous_markers(config: SynthConfig, tracer: Tracer) -> dict[str, ClassDist]:
    """The class distribution of every continuous marker of a lesion under ``tracer`` that
    shares the latent factor (the texture amplitude does not: ``heterogeneity``)."""
    return {
        "level": tracer.lesion_level,
        "adc": config.mri.adc.lesion_ratio,
        "rcbv": config.mri.rcbv.lesion_mean,
        "cho_naa": config.mrs.cho_naa,
        "cho_cr": config.mrs.cho_cr,
    }


def spec_tracer(config: SynthConfig, spec: PatientSpec) -> Tracer:
    """The tracer settings of a patient (with its primary tumour's overrides)."""
    return config.pet.tracers[spec.tracer].for_primary(spec.primary, spec.static_series)


def sample_patient(config: SynthConfig, seed: int, index: int, draw: int = 0) -> PatientSpec:
    """The nominal parameters of draw ``draw`` of patient ``index`` of the cohort ``seed``."""
    rng = patient_streams(seed, index, draw)[0]
    cohort = config.cohort
    tracer_name = _choice(rng, cohort.tracer_mix)
    site = config.sites[
        int(rng.choice(len(config.sites), p=_normalised([s.weight for s in config.sites])))
    ]
    glioma = rng.random() < cohort.glioma_share.get(tracer_name, 0.0)
    primary: Primary = "glioma" if glioma else "metastasis"
    override = config.pet.tracers[tracer_name].primaries.get(primary)
    static = override.static_cohort if override is not None else None
    static_only = static is not None and bool(rng.random() < static.share)
    tracer = config.pet.tracers[tracer_name].for_primary(primary, static_only)
    prevalence = static.prevalence if static and static_only else cohort.prevalence[primary]
    n_lesions = 2 if rng.random() < cohort.two_lesion_fraction else 1
    labels = lesion_classes(rng, config, prevalence, n_lesions)
    factors = lesion_factors(rng, config, n_lesions)
    histology = cohort.histology_share if tracer.histology_share is None else tracer.histology_share
    lesions = [
        sample_lesion(rng, config, tracer, label, factor, histology)
        for label, factor in zip(labels, factors, strict=True)
    ]
    missing = cohort.missing
    has_mri = bool(rng.random() >= missing.mri)
    return PatientSpec(
        index=index,
        draw=draw,
        patient_id=patient_id(index),
        site=site,
        tracer=tracer_name,
        primary=primary,
        age=round(cohort.age.sample(rng), 1),
        months_since_rt=round(cohort.months_since_rt.of(labels[0]).sample(rng), 1),
        normal_levels=[level.target.sample(rng) for level in tracer.levels],
        lesions=lesions,
        prevalence=prevalence,
        static_series=static_only,
        has_dynamic=tracer.dynamic
        and not static_only
        and bool(rng.random() >= missing.pet_dynamic),
        has_mri=has_mri,
        has_rcbv=has_mri and bool(rng.random() >= missing.perfusion),
        has_mrs=bool(rng.random() >= missing.mrs),
    )


def _normalised(weights: list[float]) -> np.ndarray:
    array = np.asarray(weights, float)
    return array / array.sum()


@dataclass(frozen=True)
class TracerCurves:
    """Noise-free tissue curves of one patient: per frame and over the static window."""

    frames: dict[str, np.ndarray]
    static: dict[str, float]
    start_min: np.ndarray
    duration_min: np.ndarray

    @property
    def mid_min(self) -> np.ndarray:
        return self.start_min + self.duration_min / 2.0


def tracer_curves(config: SynthConfig, spec: PatientSpec) -> TracerCurves:
    """Frame means of every tissue (normal tissues and each lesion ``lesion<i>``)."""
    tracer = spec_tracer(config, spec)
    starts, durations = tracer.framing(spec.site, spec.tracer)
    t = fine_grid(float((starts + durations).max()))
    aif = config.pet.input_function
    plasma = feng_input(t, aif.a1, aif.a2, aif.a3, aif.l1, aif.l2, aif.l3, aif.delay_min)
    rates = {name: k for name, k in tracer.tissues.items() if name != "lesion"}
    base_k1 = tracer.tissues["lesion"][0]
    for i, lesion in enumerate(spec.lesions):
        rates[f"lesion{i}"] = (base_k1, *lesion.rates)
        if lesion.mixed is not None:
            rates[mixed_name(i)] = (base_k1, *lesion.mixed.rates)
    names = list(rates)
    curves = np.stack([tissue_curve(t, plasma, rates[n], tracer.blood_fraction) for n in names])
    window = np.asarray(tracer.static_window_min, float)
    per_frame = dict(zip(names, frame_means(t, curves, starts, durations), strict=True))
    window_means = frame_means(t, curves, window[:1], np.diff(window))[:, 0]
    static = dict(zip(names, window_means, strict=True))
    for i, lesion in enumerate(spec.lesions):
        if lesion.mixed is not None:  # the same static uptake, other kinetics
            name = mixed_name(i)
            per_frame[name] = per_frame[name] * static[f"lesion{i}"] / static[name]
            static[name] = static[f"lesion{i}"]
    return TracerCurves(per_frame, static, starts, durations)


def mixed_name(index: int) -> str:
    """The PET tissue name of the other-class part of lesion ``index``."""
    return f"lesion{index}_mixed"


def lesion_curve(curves: TracerCurves, spec: PatientSpec, index: int) -> np.ndarray:
    """Frame means of lesion ``index`` as a whole (its mixed part weighted by its share)."""
    curve = curves.frames[f"lesion{index}"]
    mixed = spec.lesions[index].mixed
    if mixed is None:
        return curve
    return (1.0 - mixed.fraction) * curve + mixed.fraction * curves.frames[mixed_name(index)]


@lru_cache(maxsize=1)
def extraction_settings() -> ExtractionConfig:
    """The extractor's default configuration: the simulator's nominal BTV threshold, TTP,
    slope and curve pattern are the features code's definitions."""
    from radiomix.features.config import load_config as load_extraction_config

    return load_extraction_config()


def btv_threshold() -> float:
    """The BTV threshold (times the background mean) of the extractor."""
    return extraction_settings().btv.threshold


@lru_cache(maxsize=1)
def _declared() -> Callable[[str], bool]:
    from radiomix.features.registry import declares

    return declares(extraction_settings())


def feature(name: str) -> str:
    """``name``, checked to be a feature the extractor declares under its default
    configuration: the truth table speaks the feature table's names, and a renamed feature
    stops the simulator here instead of leaving a column nothing reads."""
    if not _declared()(name):
        raise ConfigError(f"simulator: {name!r} is not a feature the extractor declares")
    return name


def nominal_kinetics(
    config: SynthConfig, spec: PatientSpec, curves: TracerCurves
) -> list[dict[str, float]]:
    """Kinetic nominal values of each lesion (object curves, before the PSF): TTP, slope,
    pattern and the 20-40 min BTV TBRmean of a dynamic series, FDG retention index."""
    from radiomix.features.pet_dynamic import curve_kinetics, tbr_names

    settings = extraction_settings().pet_dynamic.for_tracer(spec.tracer)
    dynamic_btv = tbr_names(extraction_settings())["btv"]
    values: list[dict[str, float]] = []
    tracer = spec_tracer(config, spec)
    for i, lesion in enumerate(spec.lesions):
        curve = lesion_curve(curves, spec, i)
        row: dict[str, float] = {}
        if spec.has_dynamic:
            suv = curve / curves.static[f"lesion{i}"] * lesion.level * spec.normal_levels[0]
            row.update(curve_kinetics(suv * spec.site.pet_scale, curves.mid_min, settings))
            if tracer.lesion_level.stat == "btv_mean":
                row[dynamic_btv] = lesion.level
        if spec.tracer == "FDG":
            early, late = curve / curves.frames["gm"]
            row[feature("fdg_dual_phase_index")] = float((late - early) / early)
            row[feature("fdg_lesion_volume_ml")] = lesion.volume_cm3  # Horky: > 0.5 ml
        values.append(row)
    return values


def visible_markers(config: SynthConfig, spec: PatientSpec, radius_mm: float) -> list[str]:
    """The class-dependent markers a reader could see for a lesion of ``spec``."""
    names = ["level"]
    if config.texture.scenario == "informative":
        names.append("heterogeneity")
    if spec.has_dynamic or spec.tracer == "FDG":
        names.append("kinetics")
    if radius_mm >= config.anatomy.necrotic_core.min_radius_mm:
        names.append("core")
    if spec.has_mri:
        names.append("adc")
    if spec.has_rcbv:
        names.append("rcbv")
    if spec.has_mrs:
        names += ["cho_naa", "cho_cr"]
    return names


def _rate_log_densities(
    kinetics: LesionKinetics, rates: tuple[float, float, float]
) -> dict[str, float]:
    return {
        name: sum(dist.logpdf(value) for dist, value in zip((p.k2, p.k3, p.k4), rates, strict=True))
        for name, p in kinetics.patterns.items()
    }


def class_log_likelihood(
    config: SynthConfig,
    tracer: Tracer,
    lesion: LesionSpec,
    visible: list[str],
    label: int,
    level_label: int | None = None,
) -> float:
    """log p(visible nominal parameters | class ``label``) under the copula model; the
    uptake level follows the marginal of class ``level_label`` (default ``label``)."""
    markers = continuous_markers(config, tracer)
    values = {
        "level": lesion.level,
        "adc": lesion.adc_ratio,
        "rcbv": lesion.rcbv_mean,
        "cho_naa": lesion.cho_naa,
        "cho_cr": lesion.cho_cr,
    }
    names = [name for name in visible if name in markers]
    of = {n: label if n != "level" or level_label is None else level_label for n in names}
    log_marginals = sum(markers[n].of(of[n]).logpdf(values[n]) for n in names)
    scores = np.array([marker_score(markers[n], of[n], values[n]) for n in names])
    items, log_scale = [], 0.0
    if "kinetics" in visible:
        log_rates = _rate_log_densities(tracer.lesion_kinetics, lesion.rates)
        log_scale = max(log_rates.values())
        intervals = pattern_intervals(tracer.lesion_kinetics, label)
        items.append(
            [
                (float(np.exp(log_rates[name] - log_scale)), low, high)
                for name, (low, high) in intervals.items()
            ]
        )
    if "core" in visible:
        items.append(
            [
                (
                    1.0,
                    *core_interval(
                        config.anatomy.necrotic_core.probability, label, lesion.has_core
                    ),
                )
            ]
        )
    if "heterogeneity" in visible:  # independent of the copula's markers given the class
        amplitude = config.texture.amplitude_informative.of(label)
        log_marginals += amplitude.logpdf(lesion.heterogeneity)
    rho = config.latent.correlation
    return float(log_marginals + log_scale + log_joint_density(scores, items, rho))


def radionecrosis_log_likelihood(
    config: SynthConfig, tracer: Tracer, lesion: LesionSpec, visible: list[str]
) -> float:
    """log p(parameters | radionecrosis): a mixture over a recurrence-like uptake level
    (false-positive uptake, probability ``tracer.false_positive_uptake``) or not."""
    p = tracer.false_positive_uptake
    plain = class_log_likelihood(config, tracer, lesion, visible, 0)
    if p == 0 or "level" not in visible:
        return plain
    leak = class_log_likelihood(config, tracer, lesion, visible, 0, level_label=1)
    return float(np.logaddexp(np.log1p(-p) + plain, np.log(p) + leak)) if p < 1 else leak


def oracle_llr(
    config: SynthConfig, spec: PatientSpec, lesion: LesionSpec, radius_mm: float
) -> float:
    """log p(parameters | recurrence) - log p(parameters | radionecrosis), visible ones only;
    the first lesion also carries the time since radiotherapy (drawn from its class)."""
    tracer = spec_tracer(config, spec)
    visible = visible_markers(config, spec, radius_mm)
    llr = class_log_likelihood(config, tracer, lesion, visible, 1) - radionecrosis_log_likelihood(
        config, tracer, lesion, visible
    )
    if lesion is spec.lesions[0]:
        months = config.cohort.months_since_rt
        llr += months.of(1).logpdf(spec.months_since_rt) - months.of(0).logpdf(spec.months_since_rt)
    return float(llr)


def nominal_radius_mm(volume_cm3: float) -> float:
    """Radius of the sphere of ``volume_cm3``."""
    return float((3.0 * volume_cm3 * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0))


def parameter_rows(config: SynthConfig, spec: PatientSpec) -> list[dict[str, object]]:
    """One truth row per lesion with the nominal (pre-image) parameters and the oracle."""
    curves = tracer_curves(config, spec)
    kinetics = nominal_kinetics(config, spec, curves)
    tracer = spec_tracer(config, spec)
    rows = []
    for i, lesion in enumerate(spec.lesions):
        row: dict[str, object] = {
            "case_id": f"{spec.patient_id}_L{i + 1}",
            "patient_id": spec.patient_id,
            "label": lesion.label,
            "manifest_label": lesion.manifest_label,
            "tracer": spec.tracer,
            "site": spec.site.name,
            "primary": spec.primary,
            "prevalence": spec.prevalence,
            feature(tracer.lesion_level.name): lesion.level,
            **kinetics[i],
            feature("mri_ADC_ratio"): lesion.adc_ratio if spec.has_mri else np.nan,
            feature("mri_rCBV_mean"): lesion.rcbv_mean if spec.has_rcbv else np.nan,
            feature("mrs_cho_naa"): lesion.cho_naa if spec.has_mrs else np.nan,
            feature("mrs_cho_cr"): lesion.cho_cr if spec.has_mrs else np.nan,
            "lesion_volume_cm3": lesion.volume_cm3,
            "necrotic_core": lesion.has_core,
            "uptake_leak": lesion.uptake_leak,
            "label_source": lesion.label_source,
            "heterogeneity": lesion.heterogeneity,
            "kinetic_pattern": lesion.pattern,
            "mixed_fraction": 0.0 if lesion.mixed is None else lesion.mixed.fraction,
            "mixed_pattern": "" if lesion.mixed is None else lesion.mixed.pattern,
            "k2": lesion.rates[0],
            "k3": lesion.rates[1],
            "k4": lesion.rates[2],
            "has_dynamic": spec.has_dynamic,
            "patient_draw": spec.draw,
            "texture_scenario": config.texture.scenario,
            "oracle_llr": oracle_llr(config, spec, lesion, nominal_radius_mm(lesion.volume_cm3)),
        }
        rows.append(row)
    return rows
