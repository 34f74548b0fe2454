"""Pydantic model of the simulator's YAML configuration, and its distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from scipy.special import ndtr, ndtri

from radiomix.errors import ConfigError
from radiomix.paths import CONFIG_DIR
from radiomix.yaml_io import read_yaml, validated

DEFAULT_CONFIG = CONFIG_DIR / "synth" / "default.yaml"
PET_TISSUES = ("gm", "wm", "striatum", "csf", "core", "lesion")
# Tracer settings a primary tumour (and its static series) may override
SERIES_FIELDS = (
    "lesion_level",
    "lesion_kinetics",
    "false_positive_uptake",
    "histology_share",
    "dynamic",
    "frames_min",
    "start_min",
)
TracerName = Literal["FET", "FDOPA", "FDG", "MET"]
Primary = Literal["glioma", "metastasis"]
ClassName = Literal["recurrence", "radionecrosis"]
LabelSource = Literal["histology", "follow-up"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dist(Strict):
    """A (possibly truncated) normal, log-normal or uniform distribution."""

    kind: Literal["normal", "lognormal", "uniform"]
    mean: float | None = None
    sd: float | None = Field(None, gt=0)
    median: float | None = Field(None, gt=0)
    sigma: float | None = Field(None, gt=0)
    low: float | None = None
    high: float | None = None
    source: str = ""

    @model_validator(mode="after")
    def _complete(self) -> Dist:
        needed = {
            "normal": ("mean", "sd"),
            "lognormal": ("median", "sigma"),
            "uniform": ("low", "high"),
        }[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.kind} distribution needs {', '.join(missing)}")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        return self

    def _standard(self) -> tuple[float, float, float, float]:
        """Location, scale and the standard-normal bounds of the (log-)normal."""
        log = self.kind == "lognormal"
        if log:
            assert self.median is not None and self.sigma is not None  # checked by _complete
            loc, scale = float(np.log(self.median)), self.sigma
        else:
            assert self.mean is not None and self.sd is not None  # checked by _complete
            loc, scale = self.mean, self.sd
        low, high = self.low, self.high
        if log:
            low = np.log(low) if low is not None and low > 0 else None
            high = np.log(high) if high is not None else None
        z_low = -np.inf if low is None else (low - loc) / scale
        z_high = np.inf if high is None else (high - loc) / scale
        return loc, scale, z_low, z_high

    def _uniform_bounds(self) -> tuple[float, float]:
        """Low and high of a uniform distribution (both required by ``_complete``)."""
        assert self.low is not None and self.high is not None
        return self.low, self.high

    def sample(self, rng: np.random.Generator) -> float:
        """One draw by inverse transform (one uniform number per draw)."""
        return self.quantile(rng.random())

    def quantile(self, u: float) -> float:
        """The value below which a fraction ``u`` of the distribution lies."""
        if self.kind == "uniform":
            low, high = self._uniform_bounds()
            return float(low + u * (high - low))
        loc, scale, z_low, z_high = self._standard()
        p_low, p_high = ndtr(z_low), ndtr(z_high)
        value = loc + scale * float(ndtri(p_low + u * (p_high - p_low)))
        return float(np.exp(value)) if self.kind == "lognormal" else value

    def normal_score(self, x: float) -> float:
        """Phi^-1(F(x)): the standard-normal quantile of ``x``'s cumulative probability.

        Computed from the upper tail above the median so that far tails keep their precision.
        """
        if self.kind == "uniform":
            low, high = self._uniform_bounds()
            return float(ndtri(np.clip((x - low) / (high - low), 0.0, 1.0)))
        loc, scale, z_low, z_high = self._standard()
        z = ((np.log(x) if self.kind == "lognormal" else x) - loc) / scale
        mass = ndtr(z_high) - ndtr(z_low)
        if z <= 0:
            return float(ndtri(np.clip((ndtr(z) - ndtr(z_low)) / mass, 0.0, 1.0)))
        return float(-ndtri(np.clip((ndtr(-z) - ndtr(-z_high)) / mass, 0.0, 1.0)))

    def logpdf(self, x: float) -> float:
        """Log density at ``x`` (of the truncated distribution)."""
        if self.kind == "uniform":
            low, high = self._uniform_bounds()
            return float(-np.log(high - low)) if low <= x <= high else -np.inf
        loc, scale, z_low, z_high = self._standard()
        value = np.log(x) if self.kind == "lognormal" else x
        z = (value - loc) / scale
        if not z_low <= z <= z_high:
            return -np.inf
        mass = ndtr(z_high) - ndtr(z_low)
        log_density = -0.5 * z * z - np.log(scale * np.sqrt(2 * np.pi)) - np.log(mass)
        if self.kind == "lognormal":
            log_density -= value
        return float(log_density)

    @property
    def center(self) -> float:
        """The nominal centre: mean, median, or midpoint."""
        if self.kind == "uniform":
            low, high = self._uniform_bounds()
            return (low + high) / 2
        centre = self.mean if self.kind == "normal" else self.median
        assert centre is not None  # checked by _complete
        return float(centre)


class ClassDist(Strict):
    """A distribution per class."""

    recurrence: Dist
    radionecrosis: Dist
    source: str = ""

    @model_validator(mode="after")
    def _same_support(self) -> ClassDist:
        a, b = self.recurrence, self.radionecrosis
        if (a.kind, a.low, a.high) != (b.kind, b.low, b.high):
            raise ValueError("both classes need the same kind and bounds (finite likelihood ratio)")
        return self

    def of(self, label: int) -> Dist:
        """The distribution of class ``label`` (1 recurrence, 0 radionecrosis)."""
        return self.recurrence if label == 1 else self.radionecrosis

    @property
    def orientation(self) -> int:
        """+1 when recurrence lies on the high side (by the class centres), else -1."""
        return 1 if self.recurrence.center >= self.radionecrosis.center else -1


class ClassProbability(Strict):
    recurrence: float = Field(ge=0, le=1)
    radionecrosis: float = Field(ge=0, le=1)

    def of(self, label: int) -> float:
        return self.recurrence if label == 1 else self.radionecrosis

    @property
    def orientation(self) -> int:
        """+1 when the event is at least as likely in recurrence, else -1."""
        return 1 if self.recurrence >= self.radionecrosis else -1


class Grid(Strict):
    shape_xyz: tuple[int, int, int]
    spacing_mm: float = Field(gt=0)


class Missing(Strict):
    pet_dynamic: float = Field(ge=0, le=1)
    mri: float = Field(ge=0, le=1)
    perfusion: float = Field(ge=0, le=1)
    mrs: float = Field(ge=0, le=1)


class PatientEffect(Strict):
    """Lesions of one patient are alike: a share of the latent factor is the patient's, and a
    further lesion takes the first one's class with probability ``same_class`` (else its own
    draw at the prevalence, so the marginal prevalence is unchanged)."""

    factor_share: float = Field(ge=0, le=1)
    same_class: float = Field(ge=0, le=1)
    source: str = ""


class Cohort(Strict):
    prevalence: dict[Primary, float]
    tracer_mix: dict[TracerName, float]
    glioma_share: dict[str, float]
    two_lesion_fraction: float = Field(ge=0, le=1)
    patient_effect: PatientEffect
    label_noise: dict[LabelSource, float]
    histology_share: float = Field(ge=0, le=1)
    missing: Missing
    age: Dist
    months_since_rt: ClassDist

    @model_validator(mode="after")
    def _proportions(self) -> Cohort:
        if not all(0 < p < 1 for p in self.prevalence.values()):
            raise ValueError("every prevalence must lie strictly between 0 and 1")
        if not all(0 <= p <= 0.5 for p in self.label_noise.values()):
            raise ValueError("label noise must lie in [0, 0.5]")
        return self


class Site(Strict):
    """A centre: what its scanners and readers change, not the biology of its patients."""

    name: str
    weight: float = Field(gt=0)
    pet_scale: float = Field(gt=0, description="SUV cross-calibration (cancels in ratios)")
    psf_fwhm_mm: float = Field(gt=0, description="PET resolution after reconstruction")
    noise: float = Field(ge=0, description="reconstruction noise relative to the reference")
    mri_fwhm_mm: float = Field(ge=0, description="MRI map resolution (DWI, DSC)")
    background_half_angle_deg: float = Field(
        gt=0, le=180, description="half-width of the background VOI"
    )
    dynamic_frames_min: dict[TracerName, list[float]] = Field(
        default_factory=dict, description="dynamic framing of this site per tracer"
    )


class CortexThickness(Strict):
    mean: float = Field(gt=0)
    spread: float = Field(ge=0)


class NecroticCore(Strict):
    probability: ClassProbability
    rim_mm: float = Field(gt=0)
    min_radius_mm: float = Field(gt=0)


class Anatomy(Strict):
    brain_semi_axes_mm: tuple[float, float, float]
    brain_scale: Dist
    cortex_thickness_mm: CortexThickness
    structure_jitter_mm: float = Field(ge=0)
    lesion_volume_cm3: Dist
    lesion_irregularity: float = Field(ge=0, lt=1)
    necrotic_core: NecroticCore
    normal_tissue_heterogeneity: float = Field(ge=0)


class Texture(Strict):
    """Lesion heterogeneity: a multiplicative random field, independent in every modality.

    ``null``: its amplitude (``amplitude_null``) is class-independent and independent of every
    other marker, so texture carries no class information beyond the rule parameters.
    ``informative``: the amplitude is a class marker with the ``amplitude_informative``
    marginals, drawn apart from the latent copula (information beyond the rule parameters).
    """

    scenario: Literal["null", "informative"]
    correlation_mm: float = Field(gt=0)
    amplitude_null: Dist
    amplitude_informative: ClassDist
    source: str = ""

    @field_validator("scenario", mode="before")
    @classmethod
    def _yaml_null(cls, value: object) -> object:
        return "null" if value is None else value


class InputFunction(Strict):
    a1: float
    a2: float
    a3: float
    l1: float
    l2: float
    l3: float
    delay_min: float = Field(ge=0)


class PetNoise(Strict):
    relative_sd_at_1suv_1min: float = Field(ge=0)
    half_life_min: float = Field(gt=0)
    correlation_voxels: float = Field(ge=0)


class Level(Strict):
    """Scale a group of tissues so that a statistic of a region hits a sampled target."""

    tissues: list[str]
    region: Literal["ref_background", "ref_wm", "ref_gm", "ref_striatum"]
    stat: Literal["mean", "max"]
    target: Dist
    source: str = ""


class LesionLevel(ClassDist):
    """Lesion statistic over a statistic of a reference region, per class, set on the true
    (pre-PSF) activity. ``btv_mean`` is the mean over the lesion voxels at or above the
    extractor's BTV threshold times the reference (the biological tumour volume)."""

    name: str
    region: Literal["ref_background", "ref_wm", "ref_gm", "ref_striatum"]
    stat: Literal["mean", "max", "btv_mean"]
    reference_stat: Literal["mean", "max"]


class RatePattern(Strict):
    k2: Dist
    k3: Dist
    k4: Dist


class LesionKinetics(Strict):
    """Curve patterns listed from the least to the most tumour-like, and their class weights."""

    patterns: dict[str, RatePattern]
    weights: dict[ClassName, dict[str, float]]
    source: str = ""

    @model_validator(mode="after")
    def _weights(self) -> LesionKinetics:
        for label, weights in self.weights.items():
            unknown = set(weights) - set(self.patterns)
            if unknown:
                raise ValueError(f"{label}: unknown pattern(s) {sorted(unknown)}")
            if abs(sum(weights.values()) - 1) > 1e-6:
                raise ValueError(f"{label}: pattern weights must sum to 1")
        return self


class StaticCohort(Strict):
    """A share of a tracer x primary population that comes from a static-scan series (no
    dynamic series) with its own prevalence and, optionally, its own false-positive uptake
    rate and share of histological labels."""

    share: float = Field(ge=0, le=1)
    prevalence: float = Field(gt=0, lt=1)
    false_positive_uptake: float | None = Field(None, ge=0, le=1)
    histology_share: float | None = Field(None, ge=0, le=1)
    source: str = ""


class PrimaryOverride(Strict):
    """What differs for one primary tumour under a tracer (its own source): the lesion level,
    the curve-pattern weights or the whole lesion kinetics, the false-positive uptake rate,
    the acquisition (a dynamic protocol with its framing and start) and the share of labels
    from histology."""

    lesion_level: LesionLevel | None = None
    kinetics_weights: dict[ClassName, dict[str, float]] | None = None
    lesion_kinetics: LesionKinetics | None = None
    dynamic: bool | None = None
    frames_min: list[float] | None = None
    start_min: float | None = None
    static_cohort: StaticCohort | None = None
    false_positive_uptake: float | None = Field(None, ge=0, le=1)
    histology_share: float | None = Field(None, ge=0, le=1)
    source: str = ""


class Tracer(Strict):
    frames_min: list[float]
    frame_starts_min: list[float] | None = None
    start_min: float = 0.0
    static_window_min: tuple[float, float]
    dynamic: bool
    half_life_min: float | None = Field(
        None, gt=0, description="radionuclide half-life (default: the noise model's, F-18)"
    )
    blood_fraction: float = Field(ge=0, lt=1)
    tissues: dict[str, tuple[float, float, float, float]]
    levels: list[Level]
    lesion_level: LesionLevel
    lesion_kinetics: LesionKinetics
    false_positive_uptake: float = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "probability that a radionecrosis lesion shows a recurrence-like uptake level "
            "(blood-brain-barrier leak, inflammation)"
        ),
    )
    histology_share: float | None = Field(
        None, ge=0, le=1, description="share of histological labels (default: the cohort's)"
    )
    primaries: dict[Primary, PrimaryOverride] = Field(default_factory=dict)

    def for_primary(self, primary: Primary, static_series: bool = False) -> Tracer:
        """This tracer's settings for a primary tumour (its overrides applied), in its static
        series when ``static_series`` (that series' rates applied too)."""
        override = self.primaries.get(primary)
        if override is None:
            return self
        series = (override.static_cohort,) if static_series and override.static_cohort else ()
        update: dict[str, object] = {}
        for source in (override, *series):
            update |= {
                name: getattr(source, name)
                for name in SERIES_FIELDS
                if getattr(source, name, None) is not None
            }
        if override.kinetics_weights is not None:
            kinetics = update.get("lesion_kinetics", self.lesion_kinetics)
            assert isinstance(kinetics, LesionKinetics)
            update["lesion_kinetics"] = LesionKinetics.model_validate(
                {**kinetics.model_dump(), "weights": override.kinetics_weights}
            )
        return self.model_copy(update=update)

    @model_validator(mode="after")
    def _tissues(self) -> Tracer:
        missing = set(PET_TISSUES) - set(self.tissues)
        if missing:
            raise ValueError(f"tissues missing: {sorted(missing)}")
        return self

    def framing(self, site: Site, name: TracerName) -> tuple[np.ndarray, np.ndarray]:
        """Start and duration of each frame (min): the site's dynamic framing of tracer
        ``name`` if it has one."""
        frames = self.frames_min
        if self.dynamic:
            frames = site.dynamic_frames_min.get(name, frames)
        durations = np.asarray(frames, float)
        if self.frame_starts_min is not None:
            return np.asarray(self.frame_starts_min, float), durations
        return self.start_min + np.concatenate([[0.0], np.cumsum(durations)[:-1]]), durations


class MixedLesions(Strict):
    """Lesions holding both tissues: with ``probability`` (per class) a share ``fraction``
    (per class) of the viable lesion, on one side of a random plane through its centre, has
    the kinetics of a curve pattern drawn from the other class (same static uptake)."""

    probability: ClassProbability
    fraction: dict[ClassName, Dist]
    source: str = ""


class Pet(Strict):
    input_function: InputFunction
    noise: PetNoise
    mixed_lesions: MixedLesions
    tracers: dict[TracerName, Tracer]


class MriMap(Strict):
    tissues: dict[str, float]
    noise_sd: float = Field(ge=0)


class AdcMap(MriMap):
    lesion_ratio: ClassDist


class RcbvMap(MriMap):
    lesion_mean: ClassDist


class T1cMap(MriMap):
    rim_mm: float = Field(gt=0)


class Mri(Strict):
    adc: AdcMap
    rcbv: RcbvMap
    t1c: T1cMap
    flair: MriMap
    oedema_mm: Dist


class Mrs(Strict):
    cho_naa: ClassDist
    cho_cr: ClassDist


class Latent(Strict):
    """Within-class dependence: equicorrelation of the Gaussian copula of a lesion's markers."""

    correlation: float = Field(ge=0, lt=1)
    source: str = ""


class SynthConfig(Strict):
    """The whole simulator configuration."""

    grid: Grid
    latent: Latent
    cohort: Cohort
    sites: list[Site] = Field(min_length=1)
    anatomy: Anatomy
    texture: Texture
    pet: Pet
    mri: Mri
    mrs: Mrs


def load_config(path: Path | None = None, scenario: str | None = None) -> SynthConfig:
    """Read and validate a simulator YAML (the default one when ``path`` is None); a
    ``scenario`` replaces the file's texture scenario."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    content = read_yaml(path, "simulator configuration")
    if scenario is not None:
        content.setdefault("texture", {})["scenario"] = scenario
    config = validated(SynthConfig, content, path, "simulator configuration")
    _check_btv_levels(config, path)
    return config


def _check_btv_levels(config: SynthConfig, path: Path) -> None:
    """A BTV mean is never below the extractor's BTV threshold: its lower bound must say so."""
    from radiomix.synth.sampler import btv_threshold

    for name, tracer in config.pet.tracers.items():
        level = tracer.lesion_level
        if level.stat == "btv_mean" and (level.recurrence.low or 0.0) < btv_threshold():
            raise ConfigError(
                f"{path}: {name} lesion_level is a BTV mean, at least "
                f"{btv_threshold()} x background: set its low bound to that"
            )
