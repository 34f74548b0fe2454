"""Static PET features from the ``pet`` image (SUV): uptake, ratios to reference regions,
SUVpeak and the biological tumour volume (BTV).

- ``pet_SUVpeak``: PERCIST SUVpeak (Wahl 2009; Lodge 2012): the mean of a 1 cm³ sphere placed
  in the lesion. Among the lesion voxels as centres, those whose sphere holds the most lesion
  voxels are kept (every centre whose sphere lies wholly inside the lesion, when there is
  one), and the highest mean of the sphere's lesion voxels is reported. The sphere never
  reads outside the lesion, so a hot neighbour (striatum, vessel) cannot raise it and
  ``pet_SUVpeak`` ≤ ``pet_SUVmax``.
- ``pet_SUVpeak_ibsi_local``: IBSI local intensity peak (IBSI 3.2.1): the mean of every image
  voxel within the 1 cm³ sphere (radius 6.2 mm) centred on the lesion's hottest voxel (the
  highest such mean when several voxels share the maximum). Neighbours count.
- ``pet_BTV_ml`` / ``pet_TBRmean_btv``: volume and mean TBR of the BTV, the voxels ≥ 1.6 ×
  ``ref_background`` mean (Pauleit 2005; EANM/EANO/RANO/SNMMI 2019) searched for in the lesion
  mask grown by ``btv.margin_mm`` without the reference regions (see
  :func:`radiomix.features.regions.btv_mask`). When no voxel reaches the threshold the BTV is
  empty and ``pet_TBRmean_btv`` is the whole-mask TBRmean (then below the threshold).
- ``pet_TBRmean``, ``pet_TBRmax`` …: over the whole lesion mask.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from radiomix.data.case_loader import load_case_image
from radiomix.data.manifest import Case
from radiomix.features.config import BtvConfig, ExtractionConfig
from radiomix.features.regions import (
    bounding_box,
    btv_mask,
    mask_array,
    present_regions,
    ratio,
    search_region,
    sphere_radius_mm,
    spherical_kernel,
    voxel_volume_ml,
)
from radiomix.features.registry import register

LESION = ("pet", "lesion_mask")
# Ratio prefix -> the reference mask whose mean is the denominator.
RATIOS = {"TBR": "ref_background", "TWM": "ref_wm", "LS": "ref_striatum", "LGM": "ref_gm"}
# Lesion max over the reference region's max.
MAX_RATIOS = {"pet_LNmax": "ref_background", "pet_LSmax_over_max": "ref_striatum"}
BTV_FEATURES = ("pet_BTV_ml", "pet_TBRmean_btv")


def pet_static_inputs(config: ExtractionConfig) -> dict[str, tuple[str, ...]]:
    """Every static PET feature and the manifest columns it needs."""
    lesion_only = ("SUVmax", "SUVmean", "SUVpeak", "SUVpeak_ibsi_local", "volume_ml")
    inputs: dict[str, tuple[str, ...]] = {f"pet_{name}": LESION for name in lesion_only}
    for prefix, reference in RATIOS.items():
        inputs |= {
            f"pet_{prefix}max": (*LESION, reference),
            f"pet_{prefix}mean": (*LESION, reference),
        }
    inputs |= {name: (*LESION, column) for name, column in MAX_RATIOS.items()}
    return inputs | {name: (*LESION, "ref_background") for name in BTV_FEATURES}


def _sphere_sums(
    values: np.ndarray, weights: np.ndarray, kernel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of ``values * weights`` and of ``weights`` in the sphere around every voxel."""
    kernel = kernel.astype(np.float64)
    sums = ndimage.correlate(values * weights, kernel, mode="constant", cval=0.0)
    counts = ndimage.correlate(weights, kernel, mode="constant", cval=0.0)
    return sums, counts


def _cropped(
    image: sitk.Image, lesion: np.ndarray, kernel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Image values and lesion mask in the lesion's box widened by the kernel's half size."""
    box = bounding_box(lesion, [size // 2 for size in kernel.shape])
    return sitk.GetArrayViewFromImage(image)[box].astype(np.float64), lesion[box]


def suv_peak(image: sitk.Image, lesion: np.ndarray, volume_ml: float = 1.0) -> float:
    """PERCIST SUVpeak placed in the lesion (see the module docstring)."""
    kernel = spherical_kernel(image.GetSpacing()[:3], sphere_radius_mm(volume_ml))
    values, inside = _cropped(image, lesion, kernel)
    sums, counts = _sphere_sums(values, inside.astype(np.float64), kernel)
    coverage = np.where(inside, np.round(counts), -1.0)
    best = inside & (coverage == coverage.max())
    return float(np.max(sums[best] / counts[best]))


def ibsi_local_peak(image: sitk.Image, lesion: np.ndarray, volume_ml: float = 1.0) -> float:
    """IBSI local intensity peak (see the module docstring); voxels outside the image are
    left out of the mean."""
    kernel = spherical_kernel(image.GetSpacing()[:3], sphere_radius_mm(volume_ml))
    values, inside = _cropped(image, lesion, kernel)
    sums, counts = _sphere_sums(values, np.ones_like(values), kernel)
    hottest = inside & (values == values[inside].max())
    return float(np.max(sums[hottest] / counts[hottest]))


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


def btv_tbr(
    values: np.ndarray,
    lesion: np.ndarray,
    search: np.ndarray,
    background_mean: float,
    settings: BtvConfig,
) -> tuple[np.ndarray, float]:
    """The BTV and its mean TBR (the whole-mask TBRmean when the BTV is empty)."""
    btv = btv_mask(values, search, lesion, settings.threshold * background_mean)
    inside = values[btv] if btv.any() else values[lesion]
    return btv, ratio(float(np.mean(inside)), background_mean)


@register("pet_static", inputs=pet_static_inputs)
def pet_static(case: Case, config: ExtractionConfig) -> dict[str, float]:
    """SUVmax/mean/peaks, volume, ratios to the present reference regions and the BTV."""
    image = load_case_image(case, "pet")
    lesion_mask = mask_array(case, "lesion_mask", image)
    values = sitk.GetArrayViewFromImage(image)
    lesion = values[lesion_mask].astype(np.float64)
    references = present_regions(case, image, tuple(RATIOS.values()))
    volume_ml = config.pet_static.suvpeak_volume_ml
    features = {
        "pet_SUVmax": float(np.max(lesion)),
        "pet_SUVmean": float(np.mean(lesion)),
        "pet_SUVpeak": suv_peak(image, lesion_mask, volume_ml),
        "pet_SUVpeak_ibsi_local": ibsi_local_peak(image, lesion_mask, volume_ml),
        "pet_volume_ml": lesion.size * voxel_volume_ml(image),
    }
    features |= ratio_features(lesion, references)
    if "ref_background" in references:
        search = search_region(case, image, lesion_mask, config.btv.margin_mm)
        btv, tbr = btv_tbr(
            values, lesion_mask, search, float(np.mean(references["ref_background"])), config.btv
        )
        features |= {"pet_BTV_ml": int(btv.sum()) * voxel_volume_ml(image), "pet_TBRmean_btv": tbr}
    return features
