"""Real-cohort inputs on files built for the test: native grids, dynamic PET as DICOM,
automatic reference regions, implausible inputs and patient identity."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from helpers.dicom import IDENTITY, write_pet_series
from helpers.phantoms import (
    FRAME_MIN,
    FRAME_START_MIN,
    dynamic_pet,
    linear_curve,
    quick_config,
    write_case,
    write_manifest,
)

from radiomix.data.manifest import load_manifest
from radiomix.data.resample import GridConfig, case_grids
from radiomix.features.engine import extract_case

MRI_COLUMNS = ("adc", "rcbv")
FEATURES_COMPARED = (
    "pet_SUVmax",
    "pet_SUVmean",
    "pet_SUVpeak",
    "pet_TBRmax",
    "pet_TBRmean",
    "pet_TWMmean",
    "pet_LSmax",
    "mri_ADC_mean",
    "mri_ADC_min",
    "mri_ADC_ratio",
    "mri_rCBV_max",
    "mri_rCBV_mean",
    "fdg_dual_phase_index",
    "pet_original_glcm_Contrast",
    "pet_original_firstorder_Entropy",
)


def refine(path: Path, factor: int = 2) -> None:
    """Rewrite an image on a grid ``factor`` times finer covering the same physical box."""
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    for axis in range(3):
        array = np.repeat(array, factor, axis=axis)
    fine = sitk.GetImageFromArray(array)
    spacing = np.array(image.GetSpacing()) / factor
    fine.SetSpacing(tuple(spacing))
    fine.SetOrigin(tuple(np.array(image.GetOrigin()) - spacing * (factor - 1) / 2))
    sitk.WriteImage(fine, str(path))


def case_of(folder: Path, name: str, change=None):
    row = write_case(folder / name, name)
    if change:
        change(folder / name, row)
    return load_manifest(write_manifest(folder, [row])).cases[0]


@pytest.fixture(scope="module")
def single_grid(tmp_path_factory):
    case = case_of(tmp_path_factory.mktemp("single"), "c")
    return extract_case(case, quick_config()).features


@pytest.mark.parametrize("method", ["nearest", "partial_volume"])
@pytest.mark.parametrize("masks_on", ["pet", "mri"])
def test_mri_at_1mm_and_pet_at_2mm_give_the_single_grid_values(
    tmp_path, single_grid, method, masks_on
):
    """MRI refined to 1 mm (masks on the PET grid, or on the MRI grid): every feature equals
    the single-grid phantom's, MRI features computed on the MRI's own grid."""

    def to_native(folder: Path, row: dict) -> None:
        for column in MRI_COLUMNS:
            refine(folder / f"{column}.nii.gz")
        if masks_on == "mri":
            for column in ("lesion_mask", "ref_background", "ref_wm", "ref_gm", "ref_striatum"):
                refine(folder / f"{column}.nii.gz")

    case = case_of(tmp_path, "native", to_native)
    config = quick_config(grid=GridConfig(mask_interpolator=method))
    result = extract_case(case, config, derived=tmp_path / "derived")
    assert [p for p in result.problems if p.kind == "error"] == []
    for name in FEATURES_COMPARED:
        assert result.features[name] == pytest.approx(single_grid[name], rel=1e-9), name
    assert any("adc" in key or "lesion_mask onto" in key for key in result.provenance)


def test_mri_put_on_the_pet_grid_when_configured(tmp_path, single_grid):
    case = case_of(
        tmp_path,
        "onpet",
        lambda folder, row: [refine(folder / f"{column}.nii.gz") for column in MRI_COLUMNS],
    )
    result = extract_case(case, quick_config(grid=GridConfig(mri="pet")))
    for name in ("mri_ADC_mean", "mri_ADC_ratio", "mri_rCBV_mean"):
        assert result.features[name] == pytest.approx(single_grid[name], rel=1e-6), name
    assert result.provenance["adc grid"].startswith("resampled (linear) onto 20x20x20 voxels")


def test_dynamic_dicom_series_gives_the_tac_ttp_and_slope_of_its_nifti_twin(tmp_path):
    twin = case_of(tmp_path, "twin")
    frames = dynamic_pet(linear_curve(), np.full(len(FRAME_MIN), 0.95))
    series = write_pet_series(
        tmp_path / "dicom_dyn", frames, list(FRAME_START_MIN * 60), [m * 60 for m in FRAME_MIN]
    )
    dicom = case_of(tmp_path, "dicom", lambda folder, row: row.update(pet_dynamic=str(series)))
    config = quick_config(families=("pet_dynamic",))
    expected = extract_case(twin, config)
    got = extract_case(dicom, config, derived=tmp_path / "derived")
    assert [p for p in got.problems if p.kind == "error"] == []
    for name in ("dyn_TTP_min", "dyn_slope_suv_per_h", "dyn_pattern", "dyn_TBRmean_20_40"):
        assert got.features[name] == pytest.approx(expected.features[name], rel=1e-4), name
    np.testing.assert_allclose(got.curves["mid_min"], expected.curves["mid_min"], atol=1e-6)
    np.testing.assert_allclose(got.curves["suv"], expected.curves["suv"], rtol=1e-4)
    cached = Path(got.provenance["pet_dynamic (from DICOM)"]["sidecar"])
    assert cached.is_file() and "FrameTimesStart" in cached.read_text()


def _all_bytes(folder: Path) -> bytes:
    content = b""
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            content += gzip.decompress(data) if path.name.endswith(".gz") else data
    return content


def test_no_patient_identity_in_any_output(tmp_path):
    """A DICOM dynamic series carrying identity tags: the table, its metadata, the error
    report, the curves, the derived files and the validation report never show them."""
    from radiomix.data.validate import validate_manifest
    from radiomix.features.engine import extract_features

    frames = dynamic_pet(linear_curve(), np.full(len(FRAME_MIN), 0.95))
    series = write_pet_series(
        tmp_path / "data" / "dyn", frames, list(FRAME_START_MIN * 60), [m * 60 for m in FRAME_MIN]
    )
    row = write_case(tmp_path / "data" / "p", "p")
    row["pet_dynamic"] = str(series)
    broken = dict(row, case_id="broken", lesion_mask="p/missing.nii.gz")
    manifest = write_manifest(tmp_path / "data", [row, broken])
    out = tmp_path / "out" / "features.parquet"
    extract_features(manifest, out, config=quick_config(), workers=1)
    report = validate_manifest(manifest)
    assert report.problems  # the broken case is reported
    written = _all_bytes(tmp_path / "out") + "\n".join(map(str, report.problems)).encode()
    assert b"missing.nii.gz" in written  # the search does see the outputs' text
    for value in IDENTITY.values():
        for form in (value, value.replace("^", " ")):
            assert form.encode() not in written, form
    table = pd.read_parquet(out)
    assert not table.astype(str).apply(lambda c: c.str.contains("SECRET")).any().any()


def test_case_grids_default_outside_extraction():
    with case_grids() as state:
        assert state.settings == GridConfig() and state.record == {}
