"""MRI features: ADC and rCBV inside the lesion (rCBV and the ADC ratio normalised to the
``ref_wm`` mean), and the MRS ratios given in the manifest."""

from __future__ import annotations

import numpy as np

from radiomix.data.case_loader import load_case_image
from radiomix.data.manifest import Case
from radiomix.features.config import ExtractionConfig
from radiomix.features.regions import ratio, region_values
from radiomix.features.registry import register

ADC = ("adc", "lesion_mask")
RCBV = ("rcbv", "lesion_mask", "ref_wm")
MRS_COLUMNS = ("mrs_cho_naa", "mrs_cho_cr")


def _adc_features(case: Case) -> dict[str, float]:
    image = load_case_image(case, "adc")
    lesion = region_values(case, "lesion_mask", image)
    features = {"mri_ADC_mean": float(np.mean(lesion)), "mri_ADC_min": float(np.min(lesion))}
    if case.has("ref_wm"):
        wm_mean = float(np.mean(region_values(case, "ref_wm", image)))
        features["mri_ADC_ratio"] = ratio(features["mri_ADC_mean"], wm_mean)
    return features


def _rcbv_features(case: Case) -> dict[str, float]:
    image = load_case_image(case, "rcbv")
    lesion = region_values(case, "lesion_mask", image)
    wm_mean = float(np.mean(region_values(case, "ref_wm", image)))
    return {
        "mri_rCBV_max": ratio(float(np.max(lesion)), wm_mean),
        "mri_rCBV_mean": ratio(float(np.mean(lesion)), wm_mean),
    }


@register(
    "mri",
    inputs={
        "mri_ADC_mean": ADC,
        "mri_ADC_min": ADC,
        "mri_ADC_ratio": (*ADC, "ref_wm"),
        "mri_rCBV_max": RCBV,
        "mri_rCBV_mean": RCBV,
    },
)
def mri(case: Case, config: ExtractionConfig) -> dict[str, float]:
    """ADC mean, min and ratio to white matter; lesion rCBV max and mean over white matter."""
    features = _adc_features(case) if all(case.has(column) for column in ADC) else {}
    if all(case.has(column) for column in RCBV):
        features |= _rcbv_features(case)
    return features


@register("mrs", inputs={column: (column,) for column in MRS_COLUMNS})
def mrs(case: Case, config: ExtractionConfig) -> dict[str, float]:
    """Choline/NAA and choline/creatine ratios as given in the manifest."""
    return {column: case.values[column] for column in MRS_COLUMNS if case.has(column)}
