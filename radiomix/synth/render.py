"""Images of one patient: PET (kinetics, blur, noise, in SUV) and MRI maps on one grid.

Each tissue contributes a weight map (its mask times a texture); the PET frames are the
blurred weight maps times the tissues' frame means. Tissue scales are set on the *true*
activity, before the PSF, so that the configured levels (background SUV, striatum SUVmax,
lesion BTV TBRmean, L/S max, ...) are those of the object; what a reader measures then
follows from the site's resolution, framing, noise and VOI (partial volume is not
calibrated away). MRI maps likewise: ratios set on the object, then the site's blur.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from radiomix.errors import ConfigError
from radiomix.synth.config import MriMap, SynthConfig, Tracer
from radiomix.synth.phantom import Lesion, Phantom, coordinates
from radiomix.synth.sampler import (
    MixedPart,
    PatientSpec,
    TracerCurves,
    btv_threshold,
    feature,
    mixed_name,
    spec_tracer,
)

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
NOISE_FLOOR_SUV = 0.02
MAX_ITERATIONS = 20
NORMAL_PET_TISSUES = ("gm", "wm", "striatum", "csf")
MIN_GROUP_FACTOR = 0.05  # a tissue group is never switched off by its calibration


@dataclass
class PetImages:
    """PET frames (n_frames, z, y, x), the static image, and the noise-free static."""

    frames: np.ndarray
    static: np.ndarray
    noise_free_static: np.ndarray


def blur(volume: np.ndarray, fwhm_mm: float, spacing_mm: float) -> np.ndarray:
    """Gaussian blur of ``volume`` with a PSF of ``fwhm_mm``."""
    if fwhm_mm <= 0:
        return volume.astype(float)
    return ndimage.gaussian_filter(
        volume.astype(float), fwhm_mm / FWHM_PER_SIGMA / spacing_mm, mode="constant"
    )


@lru_cache(maxsize=8)
def _kernel_norm(sigma_vox: float) -> float:
    """Root sum of squares of the discrete Gaussian kernel (white noise SD after filtering)."""
    half = int(np.ceil(4 * sigma_vox)) + 1
    delta = np.zeros((2 * half + 1,) * 3)
    delta[half, half, half] = 1.0
    return float(np.sqrt((ndimage.gaussian_filter(delta, sigma_vox) ** 2).sum()))


def correlated_noise(
    rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: float
) -> np.ndarray:
    """Unit-SD Gaussian noise, spatially correlated over ``sigma_vox`` voxels."""
    white = rng.standard_normal(shape)
    if sigma_vox <= 0:
        return white
    return ndimage.gaussian_filter(white, sigma_vox) / _kernel_norm(sigma_vox)


def region_stat(image: np.ndarray, region: np.ndarray, stat: str, floor: float = 0.0) -> float:
    """Mean or max of ``image`` inside ``region``; ``btv_mean``: mean of the voxels >= floor."""
    values = image[region]
    if stat == "btv_mean":
        values = values[values >= floor]
        return float(values.mean()) if values.size else float("nan")
    return float(values.max() if stat == "max" else values.mean())


def _btv_scale(a: np.ndarray, b: np.ndarray, target: float, floor: float) -> float:
    """g so that the mean of a + g b over its voxels >= floor is ``target`` (>= floor).

    Fixed point on the voxel set: solve the mean over the current set, update the set.
    """
    inside = np.ones(a.shape, bool)
    scale = 0.0
    for _ in range(MAX_ITERATIONS):
        scale = max((target - a[inside].mean()) / b[inside].mean(), 0.0)
        updated = a + scale * b >= floor
        if not updated.any() or np.array_equal(updated, inside):
            break
        inside = updated
    return scale


def solve_scale(
    fixed: np.ndarray,
    part: np.ndarray,
    region: np.ndarray,
    stat: str,
    target: float,
    floor: float = 0.0,
) -> float:
    """Factor g so that stat(fixed + g * part) over ``region`` equals ``target`` (g >= 0)."""
    a, b = fixed[region], part[region]
    if b.max() <= 0:
        return 0.0
    if stat == "mean":
        return max((target - a.mean()) / b.mean(), 0.0)
    if stat == "btv_mean":
        return _btv_scale(a, b, target, floor)
    scale = max(target / b.max(), 0.0)
    for _ in range(MAX_ITERATIONS):
        peak = int(np.argmax(a + scale * b))
        updated = max((target - a[peak]) / b[peak], 0.0)
        if np.isclose(updated, scale, rtol=1e-9):
            break
        scale = updated
    return scale


def pet_weights(phantom: Phantom, spec: PatientSpec, config: SynthConfig) -> dict[str, np.ndarray]:
    """Unblurred weight map of every PET tissue (normal tissues, core, each lesion)."""
    normal = 1.0 + config.anatomy.normal_tissue_heterogeneity * phantom.textures["normal"]
    weights = {name: phantom.tissues[name] * normal for name in NORMAL_PET_TISSUES}
    weights["core"] = np.zeros(phantom.shape)
    for i, (lesion, params) in enumerate(zip(phantom.lesions, spec.lesions, strict=True)):
        weights["core"] = weights["core"] + lesion.core
        texture = np.clip(1.0 + params.heterogeneity * phantom.textures["pet"], 0.1, None)
        weights[f"lesion{i}"] = lesion.viable * texture
    return weights


def mixed_region(lesion: Lesion, mixed: MixedPart, spacing_mm: float) -> np.ndarray:
    """The share ``mixed.fraction`` of the viable lesion farthest along ``mixed.normal``: the
    voxels beyond a plane through the lesion, placed at the matching quantile."""
    viable = lesion.viable
    xyz = coordinates(viable.shape, spacing_mm)
    along = np.tensordot(np.asarray(mixed.normal), xyz, axes=1)
    cut = np.quantile(along[viable], 1.0 - mixed.fraction)
    return viable & (along > cut)


def split_mixed(
    weights: dict[str, np.ndarray], phantom: Phantom, spec: PatientSpec
) -> dict[str, np.ndarray]:
    """The PET weight maps with each mixed lesion split into its own and its mixed part."""
    parts = dict(weights)
    for i, (lesion, params) in enumerate(zip(phantom.lesions, spec.lesions, strict=True)):
        if params.mixed is None:
            continue
        region = mixed_region(lesion, params.mixed, phantom.spacing_mm)
        parts[mixed_name(i)] = weights[f"lesion{i}"] * region
        parts[f"lesion{i}"] = weights[f"lesion{i}"] * ~region
    return parts


def static_weights(tracer: Tracer, curves: TracerCurves) -> np.ndarray:
    """Weight of each frame in the static window (time overlap / window length)."""
    low, high = tracer.static_window_min
    ends = curves.start_min + curves.duration_min
    overlap = np.clip(np.minimum(ends, high) - np.maximum(curves.start_min, low), 0.0, None)
    if not np.isclose(overlap.sum(), high - low):
        raise ConfigError(f"static window {low}-{high} min is not covered by the frames")
    return overlap / (high - low)


def calibrate(
    phantom: Phantom, spec: PatientSpec, config: SynthConfig, contributions: dict[str, np.ndarray]
) -> dict[str, float]:
    """Tissue scales so that the true static activity (``contributions``, before the PSF)
    shows the sampled levels."""
    tracer = spec_tracer(config, spec)
    scale = dict.fromkeys(contributions, 1.0)
    refs = phantom.references

    def weighted(names: Iterable[str]) -> np.ndarray:
        return np.asarray(sum(scale[name] * contributions[name] for name in names))

    for _ in range(2):
        for level, target in zip(tracer.levels, spec.normal_levels, strict=True):
            part = weighted(level.tissues)
            factor = solve_scale(
                weighted(contributions) - part, part, refs[level.region], level.stat, target
            )
            for name in level.tissues:
                scale[name] *= max(factor, MIN_GROUP_FACTOR)
        lesion_level = tracer.lesion_level
        for i, (lesion, params) in enumerate(zip(phantom.lesions, spec.lesions, strict=True)):
            image = weighted(contributions)
            reference = region_stat(image, refs[lesion_level.region], lesion_level.reference_stat)
            unit = contributions[f"lesion{i}"]
            scale[f"lesion{i}"] = solve_scale(
                image - scale[f"lesion{i}"] * unit,
                unit,
                lesion.mask,
                lesion_level.stat,
                params.level * reference,
                btv_threshold() * reference,
            )
    return scale


def frame_noise_sd(config: SynthConfig, spec: PatientSpec, curves: TracerCurves) -> np.ndarray:
    """Noise SD factor of each frame: sqrt(decay / duration) times the site's noise level."""
    noise = config.pet.noise
    half_life = spec_tracer(config, spec).half_life_min or noise.half_life_min
    decay = 2.0 ** (curves.mid_min / half_life)
    return noise.relative_sd_at_1suv_1min * spec.site.noise * np.sqrt(decay / curves.duration_min)


def render_pet(
    phantom: Phantom,
    spec: PatientSpec,
    config: SynthConfig,
    curves: TracerCurves,
    rng: np.random.Generator,
) -> PetImages:
    """Noisy PET frames and static image in SUV, plus the noise-free static image."""
    tracer = spec_tracer(config, spec)
    weights = pet_weights(phantom, spec, config)
    fwhm, spacing = spec.site.psf_fwhm_mm, phantom.spacing_mm
    # a mixed part has its lesion's static uptake: the lesion is calibrated as a whole
    true_static = {name: curves.static[name] * weights[name] for name in weights}
    scale = calibrate(phantom, spec, config, true_static)
    parts = split_mixed(weights, phantom, spec)
    names = list(parts)
    blurred = np.stack([blur(parts[name], fwhm, spacing) for name in names])
    coefficients = np.stack(
        [scale[name.removesuffix("_mixed")] * curves.frames[name] for name in names], axis=1
    )
    clean = np.tensordot(coefficients, blurred, axes=1) * spec.site.pet_scale
    sd = frame_noise_sd(config, spec, curves)
    correlation = config.pet.noise.correlation_voxels
    noisy = np.empty_like(clean)
    for f in range(clean.shape[0]):
        level = np.sqrt(np.maximum(clean[f], NOISE_FLOOR_SUV))
        noise = sd[f] * level * correlated_noise(rng, phantom.shape, correlation)
        # OSEM reconstructions, which the sites' frames stand for, have no negative voxels
        noisy[f] = np.clip(clean[f] + noise, 0.0, None)
    frame_weights = static_weights(tracer, curves)
    static = np.tensordot(frame_weights, noisy, axes=1)
    return PetImages(noisy, static, np.tensordot(frame_weights, clean, axes=1))


def tissue_map(phantom: Phantom, values: dict[str, float]) -> np.ndarray:
    """Piecewise-constant map of normal tissues, oedema and necrotic cores."""
    image = np.zeros(phantom.shape)
    for name in NORMAL_PET_TISSUES:
        image[phantom.tissues[name]] = values[name]
    image[phantom.oedema] = values["oedema"]
    for lesion in phantom.lesions:
        image[lesion.core] = values["core"]
    return image


def lesion_map(
    phantom: Phantom, spec: PatientSpec, modality: str, contrast: float
) -> list[np.ndarray]:
    """Per lesion, its viable part times the modality's texture scaled by ``contrast``."""
    maps = []
    field = phantom.textures[modality]
    for lesion, params in zip(phantom.lesions, spec.lesions, strict=True):
        texture = np.clip(1.0 + contrast * params.heterogeneity * field, 0.2, None)
        maps.append(lesion.viable * texture)
    return maps


def calibrated_map(
    phantom: Phantom,
    spec: PatientSpec,
    settings: MriMap,
    modality: str,
    contrast: float,
    ratios: list[float],
) -> np.ndarray:
    """Noise-free, unblurred MRI map whose lesion mean over contralateral WM mean equals
    ``ratios`` on the object."""
    image = tissue_map(phantom, settings.tissues)
    parts = lesion_map(phantom, spec, modality, contrast)
    reference = phantom.references["ref_wm"]
    for _ in range(2):
        wm = region_stat(image + sum(parts), reference, "mean")
        for i, (lesion, ratio) in enumerate(zip(phantom.lesions, ratios, strict=True)):
            rest = image + sum(p for j, p in enumerate(parts) if j != i)
            parts[i] = parts[i] * solve_scale(rest, parts[i], lesion.mask, "mean", ratio * wm)
    return image + sum(parts)


def structural_map(
    phantom: Phantom, spec: PatientSpec, settings: MriMap, modality: str
) -> np.ndarray:
    """Noise-free, unblurred T1c or FLAIR: tissue values, the viable lesion at ``enhancing``."""
    image = tissue_map(phantom, settings.tissues)
    for part in lesion_map(phantom, spec, modality, 0.5):
        image = np.where(part > 0, settings.tissues["enhancing"] * part, image)
    return image


def render_mri(
    phantom: Phantom, spec: PatientSpec, config: SynthConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """ADC (10^-3 mm^2/s), rCBV (relative), T1c and FLAIR (MR units): the object blurred
    with the site's resolution, plus independent noise."""
    mri = config.mri
    objects = {
        "adc": calibrated_map(
            phantom, spec, mri.adc, "adc", -0.5, [p.adc_ratio for p in spec.lesions]
        ),
        "rcbv": calibrated_map(
            phantom, spec, mri.rcbv, "rcbv", 1.0, [p.rcbv_mean for p in spec.lesions]
        ),
        "t1c": structural_map(phantom, spec, mri.t1c, "t1c"),
        "flair": structural_map(phantom, spec, mri.flair, "flair"),
    }
    noise_sd = {
        "adc": mri.adc.noise_sd,
        "rcbv": mri.rcbv.noise_sd,
        "t1c": mri.t1c.noise_sd,
        "flair": mri.flair.noise_sd,
    }
    images = {}
    for name, image in objects.items():
        clean = blur(image, spec.site.mri_fwhm_mm, phantom.spacing_mm)
        noisy = clean + noise_sd[name] * rng.standard_normal(image.shape)
        images[name] = np.abs(noisy) if name in ("t1c", "flair") else np.clip(noisy, 0.0, None)
    return images


def noise_free_measures(
    static: np.ndarray, phantom: Phantom, btv_threshold: float
) -> list[dict[str, float]]:
    """Standard PET measures of each lesion on the noise-free static image."""
    refs = phantom.references
    background = region_stat(static, refs["ref_background"], "mean")
    rows = []
    for lesion in phantom.lesions:
        peak = region_stat(static, lesion.mask, "max")
        mean = region_stat(static, lesion.mask, "mean")
        btv = region_stat(static, lesion.mask, "btv_mean", btv_threshold * background)
        measures = {
            "pet_SUVmax": peak,
            "pet_SUVmean": mean,
            "pet_TBRmax": peak / background,
            "pet_TBRmean": mean / background,
            "pet_TBRmean_btv": btv / background,
            "pet_TWMmax": peak / region_stat(static, refs["ref_wm"], "mean"),
            "pet_LSmax": peak / region_stat(static, refs["ref_striatum"], "mean"),
            "pet_LNmax": peak / region_stat(static, refs["ref_background"], "max"),
        }
        rows.append({feature(name): value for name, value in measures.items()})
    return rows
