"""Static PET features from the ``pet`` image (SUV): uptake, ratios to reference regions,
SUVpeak and the biological tumour volume."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from radiomix.data.images import load_case_image
from radiomix.data.manifest import Case
from radiomix.features.config import ExtractionConfig
from radiomix.features.regions import mask_array, present_regions, ratio, voxel_volume_ml
from radiomix.features.registry import register

LESION = ("pet", "lesion_mask")
# Ratio prefix -> the reference mask whose mean is the denominator.
RATIOS = {"TBR": "ref_background", "TWM": "ref_wm", "LS": "ref_striatum", "LGM": "ref_gm"}
# Lesion max over the reference region's max.
MAX_RATIOS = {"pet_LNmax": "ref_background", "pet_LSmax_over_max": "ref_striatum"}


def threshold_tag(threshold: float) -> str:
    """``1.6`` -> ``1p6``, the suffix of the threshold-volume features."""
    return f"{threshold:g}".replace(".", "p")


def pet_static_inputs(config: ExtractionConfig) -> dict[str, tuple[str, ...]]:
    """Every static PET feature and the manifest columns it needs."""
    tag = threshold_tag(config.pet_static.btv_threshold)
    inputs = {f"pet_{name}": LESION for name in ("SUVmax", "SUVmean", "SUVpeak", "volume_ml")}
    for prefix, reference in RATIOS.items():
        inputs |= {f"pet_{prefix}max": (*LESION, reference),
                   f"pet_{prefix}mean": (*LESION, reference)}
    inputs |= {name: (*LESION, column) for name, column in MAX_RATIOS.items()}
    inputs |= {f"pet_MTV_ml_{tag}": (*LESION, "ref_background"),
               f"pet_TBRmean_{tag}": (*LESION, "ref_background")}
    return inputs


def spherical_kernel(spacing_xyz: tuple[float, ...], diameter_mm: float) -> np.ndarray:
    """Boolean (z, y, x) kernel of the voxels whose centre lies within the sphere."""
    radius = diameter_mm / 2.0
    half = [int(np.floor(radius / step)) for step in spacing_xyz[::-1]]
    grids = np.meshgrid(*[np.arange(-n, n + 1) * step
                          for n, step in zip(half, spacing_xyz[::-1], strict=True)],
                        indexing="ij")
    return sum(grid**2 for grid in grids) <= radius**2 + 1e-9


def suv_peak(image: sitk.Image, lesion: np.ndarray, diameter_mm: float) -> float:
    """Highest mean SUV in a sphere of ``diameter_mm`` centred on a lesion voxel.

    The sphere holds the voxels whose centre is within the radius; voxels outside the image
    are left out of the mean (not counted as zero).
    """
    kernel = spherical_kernel(image.GetSpacing()[:3], diameter_mm).astype(np.float64)
    box = _bounding_box(lesion, margin=[size // 2 for size in kernel.shape])
    values = sitk.GetArrayViewFromImage(image)[box].astype(np.float64)
    sums = ndimage.correlate(values, kernel, mode="constant", cval=0.0)
    counts = ndimage.correlate(np.ones_like(values), kernel, mode="constant", cval=0.0)
    inside = lesion[box]
    return float(np.max(sums[inside] / counts[inside]))


def _bounding_box(mask: np.ndarray, margin: list[int]) -> tuple[slice, ...]:
    """Slices around the true voxels of ``mask``, widened by ``margin`` and clipped."""
    box = []
    for axis, (size, pad) in enumerate(zip(mask.shape, margin, strict=True)):
        other_axes = tuple(a for a in range(mask.ndim) if a != axis)
        occupied = np.flatnonzero(np.any(mask, axis=other_axes))
        box.append(slice(max(occupied[0] - pad, 0), min(occupied[-1] + pad + 1, size)))
    return tuple(box)


def ratio_features(lesion: np.ndarray, references: dict[str, np.ndarray]) -> dict[str, float]:
    """Lesion max and mean over each present reference region's mean, and the max-over-max
    ratios: L/N max (background, Lizarraga; Cicone's rSUV) and L/S max (striatum, Lizarraga)."""
    features = {}
    for prefix, column in RATIOS.items():
        if column in references:
            reference_mean = float(np.mean(references[column]))
            features[f"pet_{prefix}max"] = ratio(float(np.max(lesion)), reference_mean)
            features[f"pet_{prefix}mean"] = ratio(float(np.mean(lesion)), reference_mean)
    for name, column in MAX_RATIOS.items():
        if column in references:
            features[name] = ratio(float(np.max(lesion)), float(np.max(references[column])))
    return features


def btv_features(lesion: np.ndarray, background_mean: float, threshold: float,
                 voxel_ml: float) -> dict[str, float]:
    """Volume and mean TBR of the lesion voxels with SUV ≥ threshold × background mean."""
    tag = threshold_tag(threshold)
    above = lesion[lesion >= threshold * background_mean]
    mean_tbr = ratio(float(np.mean(above)), background_mean) if above.size else float("nan")
    return {f"pet_MTV_ml_{tag}": above.size * voxel_ml, f"pet_TBRmean_{tag}": mean_tbr}


@register("pet_static", inputs=pet_static_inputs)
def pet_static(case: Case, config: ExtractionConfig) -> dict[str, float]:
    """SUVmax/mean/peak, volume, ratios to the present reference regions and the BTV.

    ``pet_TBRmean_<t>`` is NaN when no lesion voxel reaches the threshold.
    """
    settings = config.pet_static
    image = load_case_image(case, "pet")
    lesion_mask = mask_array(case, "lesion_mask", image)
    lesion = sitk.GetArrayViewFromImage(image)[lesion_mask].astype(np.float64)
    references = present_regions(case, image, tuple(RATIOS.values()))
    features = {
        "pet_SUVmax": float(np.max(lesion)),
        "pet_SUVmean": float(np.mean(lesion)),
        "pet_SUVpeak": suv_peak(image, lesion_mask, settings.suvpeak_diameter_mm),
        "pet_volume_ml": lesion.size * voxel_volume_ml(image),
    }
    features |= ratio_features(lesion, references)
    if "ref_background" in references:
        features |= btv_features(lesion, float(np.mean(references["ref_background"])),
                                 settings.btv_threshold, voxel_volume_ml(image))
    return features
