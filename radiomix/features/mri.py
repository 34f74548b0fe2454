"""MRI features: ADC and rCBV inside the lesion (rCBV and the ADC ratio normalised to the
``ref_wm`` mean), and the MRS ratios given in the manifest.

- ``mri_rCBV_mean`` / ``mri_rCBV_max``: lesion mean / max of the rCBV map over the ``ref_wm``
  mean (the mean rCBV of the studies pooled by Patel 2017);
- ``mri_rCBV_fraction_gt_<t>`` (default ``mri_rCBV_fraction_gt_1p8``): the fraction (0–1) of
  lesion voxels whose rCBV is above ``t`` × the ``ref_wm`` mean, ``t`` =
  ``mri.rcbv_fraction_threshold``. Gasparetto et al. (Radiology 2009;250:887) calculate "the
  fraction of enhancing mass with rCBV above" a threshold of normal-appearing white matter
  and find 1.8 best; the lesion mask must be the enhancing mass and ``ref_wm`` normal-appearing
  white matter.
"""

from __future__ import annotations

import numpy as np

from radiomix.data.case_loader import load_case_image
from radiomix.data.manifest import Case
from radiomix.features.config import ExtractionConfig, number_tag
from radiomix.features.regions import ratio, region_values
from radiomix.features.registry import register
from radiomix.schema import MRS_COLUMNS

ADC = ("adc", "lesion_mask")
RCBV = ("rcbv", "lesion_mask", "ref_wm")


def _adc_features(case: Case) -> dict[str, float]:
    image = load_case_image(case, "adc")
    lesion = region_values(case, "lesion_mask", image)
    features = {"mri_ADC_mean": float(np.mean(lesion)), "mri_ADC_min": float(np.min(lesion))}
    if case.has("ref_wm"):
        wm_mean = float(np.mean(region_values(case, "ref_wm", image)))
        features["mri_ADC_ratio"] = ratio(features["mri_ADC_mean"], wm_mean)
    return features


def rcbv_fraction_name(config: ExtractionConfig) -> str:
    """``mri_rCBV_fraction_gt_1p8`` for the configured voxel threshold 1.8."""
    return f"mri_rCBV_fraction_gt_{number_tag(config.mri.rcbv_fraction_threshold)}"


def rcbv_fraction(lesion: np.ndarray, wm_mean: float, threshold: float) -> float:
    """Fraction of lesion voxels whose rCBV is above ``threshold`` × the white-matter mean
    (Gasparetto 2009); NaN when the white-matter mean is not positive."""
    if not wm_mean > 0:
        return float("nan")
    return float(np.count_nonzero(lesion > threshold * wm_mean) / lesion.size)


def _rcbv_features(case: Case, config: ExtractionConfig) -> dict[str, float]:
    image = load_case_image(case, "rcbv")
    lesion = region_values(case, "lesion_mask", image)
    wm_mean = float(np.mean(region_values(case, "ref_wm", image)))
    return {
        "mri_rCBV_max": ratio(float(np.max(lesion)), wm_mean),
        "mri_rCBV_mean": ratio(float(np.mean(lesion)), wm_mean),
        rcbv_fraction_name(config): rcbv_fraction(
            lesion, wm_mean, config.mri.rcbv_fraction_threshold
        ),
    }


def mri_inputs(config: ExtractionConfig) -> dict[str, tuple[str, ...]]:
    """Every MRI feature and the manifest columns it needs."""
    rcbv = ("mri_rCBV_max", "mri_rCBV_mean", rcbv_fraction_name(config))
    return {
        "mri_ADC_mean": ADC,
        "mri_ADC_min": ADC,
        "mri_ADC_ratio": (*ADC, "ref_wm"),
    } | dict.fromkeys(rcbv, RCBV)


@register("mri", inputs=mri_inputs)
def mri(case: Case, config: ExtractionConfig) -> dict[str, float]:
    """ADC mean, min and ratio to white matter; lesion rCBV max and mean over white matter and
    the fraction of the lesion above the rCBV threshold."""
    features = _adc_features(case) if all(case.has(column) for column in ADC) else {}
    if all(case.has(column) for column in RCBV):
        features |= _rcbv_features(case, config)
    return features


@register("mrs", inputs={column: (column,) for column in MRS_COLUMNS})
def mrs(case: Case, config: ExtractionConfig) -> dict[str, float]:
    """Choline/NAA and choline/creatine ratios as given in the manifest."""
    return {column: case.values[column] for column in MRS_COLUMNS if case.has(column)}
