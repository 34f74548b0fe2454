"""Static PET features on real FDG-PET lesions (shared reference data) against independent
computations: SimpleITK's label statistics and a brute-force PERCIST SUVpeak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiomix.data.manifest import load_manifest
from radiomix.features import extract_case
from radiomix.features.config import ExtractionConfig

LESIONS = ("STS_002", "STS_008")  # small lesions, two voxel spacings


def brute_force_peak(values: np.ndarray, lesion: np.ndarray, spacing_zyx: np.ndarray) -> float:
    """PERCIST SUVpeak by brute force: for each lesion voxel, the lesion voxels within the
    1 cm³ sphere's radius (6.20 mm); among the centres holding the most, the highest mean."""
    coordinates = np.argwhere(lesion) * spacing_zyx
    inside_values = values[lesion].astype(np.float64)
    radius2 = (3000 / (4 * np.pi)) ** (2 / 3) + 1e-9
    return max(
        (int(inside.sum()), float(inside_values[inside].mean()))
        for inside in (
            np.sum((coordinates - centre) ** 2, axis=1) <= radius2 for centre in coordinates
        )
    )[1]


@pytest.mark.shared
@pytest.mark.parametrize("lesion", LESIONS)
def test_static_pet_on_real_lesion(shared_data, tmp_path, lesion):
    folder = shared_data / "pet" / "sts_suv" / lesion
    manifest = tmp_path / "data_manifest.csv"
    pd.DataFrame(
        [
            {
                "case_id": lesion,
                "tracer": "FDG",
                "pet": folder / "PET_image.nii.gz",
                "lesion_mask": folder / "PET_mask.nii.gz",
            }
        ]
    ).to_csv(manifest, index=False)
    case = load_manifest(manifest).cases[0]
    features = extract_case(case, ExtractionConfig(families=("pet_static",))).features

    image = sitk.ReadImage(str(folder / "PET_image.nii.gz"), sitk.sitkFloat32)
    mask = sitk.ReadImage(str(folder / "PET_mask.nii.gz"), sitk.sitkUInt8)
    statistics = sitk.LabelStatisticsImageFilter()
    statistics.Execute(image, mask)
    assert features["pet_SUVmax"] == pytest.approx(statistics.GetMaximum(1), rel=1e-6)
    assert features["pet_SUVmean"] == pytest.approx(statistics.GetMean(1), rel=1e-6)
    voxel_ml = np.prod(image.GetSpacing()) / 1000
    assert features["pet_volume_ml"] == pytest.approx(statistics.GetCount(1) * voxel_ml)

    values = sitk.GetArrayFromImage(image)
    lesion_voxels = sitk.GetArrayFromImage(mask).astype(bool)
    spacing_zyx = np.array(image.GetSpacing()[::-1])
    expected_peak = brute_force_peak(values, lesion_voxels, spacing_zyx)
    assert features["pet_SUVpeak"] == pytest.approx(expected_peak, rel=1e-6)
    assert features["pet_SUVpeak"] <= features["pet_SUVmax"]
