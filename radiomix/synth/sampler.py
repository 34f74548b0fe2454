"""Patient parameters: class, tracer, site, lesion levels, kinetics, MRI/MRS values, oracle.

Everything a patient needs is drawn here from its own random stream, so that a patient
does not depend on the others (nor on how many processes generate the cohort).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radiomix.synth.config import ClassDist, LesionKinetics, Site, SynthConfig, Tracer
from radiomix.synth.kinetics import (
    feng_input,
    fine_grid,
    frame_means,
    late_slope_per_hour,
    time_to_peak,
    tissue_curve,
)

LABEL_NAMES = {1: "recurrence", 0: "radionecrosis"}
SLOPE_WINDOW_MIN = (20.0, 50.0)
EARLY_PEAK_MIN = 20.0
RISING_PEAK_MIN = 40.0


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
    pattern: str
    rates: tuple[float, float, float]
    adc_ratio: float
    rcbv_mean: float
    cho_naa: float
    cho_cr: float
    llr_terms: dict[str, float] = field(default_factory=dict)


@dataclass
class PatientSpec:
    """Everything drawn for one patient before images are made."""

    index: int
    patient_id: str
    site: Site
    tracer: str
    primary: str
    age: float
    months_since_rt: float
    normal_levels: list[float]
    lesions: list[LesionSpec]
    has_dynamic: bool
    has_mri: bool
    has_rcbv: bool
    has_mrs: bool


def patient_streams(seed: int, index: int) -> tuple[np.random.Generator, ...]:
    """Independent generators (parameters, anatomy, noise) of patient ``index``."""
    children = np.random.SeedSequence([seed, index]).spawn(3)
    return tuple(np.random.default_rng(child) for child in children)


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    probabilities = np.asarray([weights[n] for n in names], float)
    return names[int(rng.choice(len(names), p=probabilities / probabilities.sum()))]


def _class_llr(dist: ClassDist, value: float) -> float:
    return dist.recurrence.logpdf(value) - dist.radionecrosis.logpdf(value)


def kinetic_llr(kinetics: LesionKinetics, rates: tuple[float, float, float]) -> float:
    """Log-likelihood ratio of the lesion rate constants under the two class mixtures."""
    densities = {
        name: np.exp(sum(dist.logpdf(value)
                         for dist, value in zip((p.k2, p.k3, p.k4), rates, strict=True)))
        for name, p in kinetics.patterns.items()
    }
    mixture = {label: sum(w * densities[name] for name, w in weights.items())
               for label, weights in kinetics.weights.items()}
    return float(np.log(mixture["recurrence"] + 1e-300) - np.log(mixture["radionecrosis"] + 1e-300))


def _draw_rates(rng: np.random.Generator, kinetics: LesionKinetics,
                label: int) -> tuple[str, tuple[float, float, float]]:
    pattern = _choice(rng, kinetics.weights[LABEL_NAMES[label]])
    chosen = kinetics.patterns[pattern]
    return pattern, (chosen.k2.sample(rng), chosen.k3.sample(rng), chosen.k4.sample(rng))


def sample_lesion(rng: np.random.Generator, config: SynthConfig, tracer: Tracer) -> LesionSpec:
    """Class and nominal parameters of one lesion."""
    cohort = config.cohort
    label = int(rng.random() < cohort.prevalence)
    flipped = rng.random() < cohort.label_noise
    pattern, rates = _draw_rates(rng, tracer.lesion_kinetics, label)
    core = config.anatomy.necrotic_core.probability.of(label)
    return LesionSpec(
        label=label,
        manifest_label=1 - label if flipped else label,
        label_source="histology" if rng.random() < cohort.histology_share else "follow-up",
        volume_cm3=config.anatomy.lesion_volume_cm3.sample(rng),
        has_core=bool(rng.random() < core),
        heterogeneity=config.anatomy.lesion_heterogeneity.of(label).sample(rng),
        level=tracer.lesion_level.of(label).sample(rng),
        pattern=pattern,
        rates=rates,
        adc_ratio=config.mri.adc.lesion_ratio.of(label).sample(rng),
        rcbv_mean=config.mri.rcbv.lesion_mean.of(label).sample(rng),
        cho_naa=config.mrs.cho_naa.of(label).sample(rng),
        cho_cr=config.mrs.cho_cr.of(label).sample(rng),
    )


def sample_patient(config: SynthConfig, seed: int, index: int) -> PatientSpec:
    """The nominal parameters of patient ``index`` of the cohort drawn with ``seed``."""
    rng = patient_streams(seed, index)[0]
    cohort = config.cohort
    tracer_name = _choice(rng, dict(cohort.tracer_mix))
    tracer = config.pet.tracers[tracer_name]
    site = config.sites[int(rng.choice(len(config.sites),
                                       p=_normalised([s.weight for s in config.sites])))]
    primary = "glioma" if rng.random() < cohort.glioma_share.get(tracer_name, 0.0) else "metastasis"
    n_lesions = 2 if rng.random() < cohort.two_lesion_fraction else 1
    lesions = [sample_lesion(rng, config, tracer) for _ in range(n_lesions)]
    missing = cohort.missing
    has_mri = bool(rng.random() >= missing.mri)
    return PatientSpec(
        index=index,
        patient_id=f"P{index + 1:04d}",
        site=site,
        tracer=tracer_name,
        primary=primary,
        age=round(cohort.age.sample(rng), 1),
        months_since_rt=round(cohort.months_since_rt.sample(rng), 1),
        normal_levels=[level.target.sample(rng) for level in tracer.levels],
        lesions=lesions,
        has_dynamic=tracer.dynamic and bool(rng.random() >= missing.pet_dynamic),
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
    tracer = config.pet.tracers[spec.tracer]
    starts = tracer.frame_starts()
    durations = np.asarray(tracer.frames_min, float)
    t = fine_grid(float((starts + durations).max()))
    aif = config.pet.input_function
    plasma = feng_input(t, aif.a1, aif.a2, aif.a3, aif.l1, aif.l2, aif.l3, aif.delay_min)
    factor = spec.site.rate_factor
    rates = {name: (k[0], k[1] * factor, k[2] * factor, k[3] * factor)
             for name, k in tracer.tissues.items() if name != "lesion"}
    base_k1 = tracer.tissues["lesion"][0]
    for i, lesion in enumerate(spec.lesions):
        rates[f"lesion{i}"] = (base_k1, *(k * factor for k in lesion.rates))
    names = list(rates)
    curves = np.stack([tissue_curve(t, plasma, rates[n], tracer.blood_fraction) for n in names])
    window = np.asarray(tracer.static_window_min, float)
    per_frame = frame_means(t, curves, starts, durations)
    static = frame_means(t, curves, window[:1], np.diff(window))[:, 0]
    return TracerCurves(dict(zip(names, per_frame, strict=True)),
                        dict(zip(names, static, strict=True)), starts, durations)


def curve_pattern(ttp_min: float) -> int:
    """FET curve pattern from the time to peak: 1 rising, 2 late peak, 3 early peak."""
    if ttp_min >= RISING_PEAK_MIN:
        return 1
    return 3 if ttp_min <= EARLY_PEAK_MIN else 2


def nominal_kinetics(config: SynthConfig, spec: PatientSpec,
                     curves: TracerCurves) -> list[dict[str, float]]:
    """Kinetic nominal values of each lesion: TTP, slope, pattern (FET), retention (FDG)."""
    values: list[dict[str, float]] = []
    tracer = config.pet.tracers[spec.tracer]
    for i, lesion in enumerate(spec.lesions):
        curve = curves.frames[f"lesion{i}"]
        row: dict[str, float] = {}
        if tracer.dynamic:
            suv = curve / curves.static[f"lesion{i}"] * lesion.level * spec.normal_levels[0]
            ttp = time_to_peak(curve, curves.mid_min)
            row.update(dyn_TTP_min=ttp,
                       dyn_slope_suv_per_h=late_slope_per_hour(suv * spec.site.pet_scale,
                                                               curves.mid_min,
                                                               *SLOPE_WINDOW_MIN),
                       dyn_pattern=curve_pattern(ttp))
        if spec.tracer == "FDG":
            early, late = curve / curves.frames["gm"]
            row["fdg_dual_phase_index"] = float((late - early) / early)
        values.append(row)
    return values


def oracle_terms(config: SynthConfig, spec: PatientSpec, lesion: LesionSpec,
                 radius_mm: float) -> dict[str, float]:
    """Log-likelihood-ratio terms of the class-dependent parameters a reader could see."""
    tracer = config.pet.tracers[spec.tracer]
    terms = {"level": _class_llr(tracer.lesion_level, lesion.level),
             "heterogeneity": _class_llr(config.anatomy.lesion_heterogeneity,
                                         lesion.heterogeneity)}
    if spec.has_dynamic or spec.tracer == "FDG":
        terms["kinetics"] = kinetic_llr(tracer.lesion_kinetics, lesion.rates)
    core = config.anatomy.necrotic_core
    if radius_mm >= core.min_radius_mm:
        p1, p0 = core.probability.recurrence, core.probability.radionecrosis
        terms["core"] = float(np.log(p1 / p0) if lesion.has_core
                              else np.log((1 - p1) / (1 - p0)))
    if spec.has_mri:
        terms["adc"] = _class_llr(config.mri.adc.lesion_ratio, lesion.adc_ratio)
    if spec.has_rcbv:
        terms["rcbv"] = _class_llr(config.mri.rcbv.lesion_mean, lesion.rcbv_mean)
    if spec.has_mrs:
        terms["mrs"] = (_class_llr(config.mrs.cho_naa, lesion.cho_naa)
                        + _class_llr(config.mrs.cho_cr, lesion.cho_cr))
    return terms


def nominal_radius_mm(volume_cm3: float) -> float:
    """Radius of the sphere of ``volume_cm3``."""
    return float((3.0 * volume_cm3 * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0))


def parameter_rows(config: SynthConfig, spec: PatientSpec) -> list[dict[str, object]]:
    """One truth row per lesion with the nominal (pre-image) parameters and the oracle."""
    curves = tracer_curves(config, spec)
    kinetics = nominal_kinetics(config, spec, curves)
    tracer = config.pet.tracers[spec.tracer]
    rows = []
    for i, lesion in enumerate(spec.lesions):
        terms = oracle_terms(config, spec, lesion, nominal_radius_mm(lesion.volume_cm3))
        row: dict[str, object] = {
            "case_id": f"{spec.patient_id}_L{i + 1}", "patient_id": spec.patient_id,
            "label": lesion.label, "manifest_label": lesion.manifest_label,
            "tracer": spec.tracer, "site": spec.site.name, "primary": spec.primary,
            tracer.lesion_level.name: lesion.level, **kinetics[i],
            "mri_ADC_ratio": lesion.adc_ratio if spec.has_mri else np.nan,
            "mri_rCBV_mean": lesion.rcbv_mean if spec.has_rcbv else np.nan,
            "mrs_cho_naa": lesion.cho_naa if spec.has_mrs else np.nan,
            "mrs_cho_cr": lesion.cho_cr if spec.has_mrs else np.nan,
            "lesion_volume_cm3": lesion.volume_cm3, "necrotic_core": lesion.has_core,
            "heterogeneity": lesion.heterogeneity, "kinetic_pattern": lesion.pattern,
            "k2": lesion.rates[0], "k3": lesion.rates[1], "k4": lesion.rates[2],
            "has_dynamic": spec.has_dynamic,
            "oracle_llr": float(sum(terms.values())),
        }
        rows.append(row)
    return rows

