"""DICOM PET to SUV: the real GE series of STS_001, and edited copies of one of its slices."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import typer
from typer.testing import CliRunner

from radiomix.data.commands import suv_command
from radiomix.data.suv import (
    is_dicom_pet_series,
    read_dicom_pet_suv,
    suv_factor,
    suv_parameters,
)
from radiomix.errors import DicomUnitsError, ImageReadError

pytestmark = pytest.mark.shared

# Published acquisition of the series (data README): 388.777472 MBq at 10:35:00, series
# start 11:20:11, 71 kg, half-life 6588 s.
WEIGHT_KG = 71.0
DOSE_BQ = 388.777472e6
HALF_LIFE_S = 6588.0
SERIES_MINUS_INJECTION_S = (11 * 3600 + 20 * 60 + 11) - (10 * 3600 + 35 * 60)


def _factor_by_hand(decay_time_s: float) -> float:
    """SUVbw factor from the published values for a given injection-to-scan time."""
    return WEIGHT_KG * 1000.0 / (DOSE_BQ * 2.0 ** (-decay_time_s / HALF_LIFE_S))


@pytest.fixture(scope="module")
def series_dir(shared_data: Path) -> Path:
    return shared_data / "pet" / "sts_001_raw_dicom" / "image"


@pytest.fixture(scope="module")
def suv_volume(series_dir: Path) -> sitk.Image:
    return read_dicom_pet_suv(series_dir)


@pytest.fixture
def edited_slice(series_dir: Path, tmp_path: Path) -> Callable:
    """Write a copy of the first real slice, edited by ``edit``, into a fresh folder."""

    def write(edit: Callable[[pydicom.Dataset], None], name: str = "slice.dcm") -> Path:
        ds = pydicom.dcmread(series_dir / "1-001.dcm")
        edit(ds)
        folder = tmp_path / "series"
        folder.mkdir(exist_ok=True)
        path = folder / name
        ds.save_as(path)
        return path

    return write


def _drug(ds: pydicom.Dataset) -> pydicom.Dataset:
    return ds.RadiopharmaceuticalInformationSequence[0]


def test_factor_of_the_real_series(series_dir: Path) -> None:
    ds = pydicom.dcmread(series_dir / "1-001.dcm", stop_before_pixels=True)
    assert SERIES_MINUS_INJECTION_S == 2711
    assert f"{suv_factor(ds):.5e}" == "2.42903e-04"
    assert suv_factor(ds) == pytest.approx(_factor_by_hand(2711), rel=1e-12)
    parameters = suv_parameters(ds)
    assert parameters.decay_time_s == 2711
    assert parameters.scan_time_rule == "SeriesDate + SeriesTime"


def test_geometry_matches_simpleitk_series_reader(series_dir: Path, suv_volume) -> None:
    sitk.ProcessObject_SetGlobalWarningDisplay(False)  # the series has 0.08 mm jitter
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series_dir)))
    reference = reader.Execute()
    assert suv_volume.GetSize() == reference.GetSize() == (128, 128, 267)
    np.testing.assert_allclose(suv_volume.GetOrigin(), reference.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(suv_volume.GetSpacing(), reference.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(suv_volume.GetDirection(), reference.GetDirection(), atol=1e-9)
    assert suv_volume.GetPixelID() == sitk.sitkFloat32


@pytest.mark.parametrize("name", ["1-001.dcm", "1-100.dcm", "1-200.dcm", "1-267.dcm"])
def test_voxels_use_each_slice_own_rescale(series_dir: Path, suv_volume, name: str) -> None:
    ds = pydicom.dcmread(series_dir / name)
    expected = (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)) * (
        _factor_by_hand(2711)
    )
    position = [float(v) for v in ds.ImagePositionPatient]
    k = suv_volume.TransformPhysicalPointToIndex(position)[2]
    got = sitk.GetArrayViewFromImage(suv_volume)[k]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert expected.max() > 0.1


def test_the_series_has_per_slice_slopes(series_dir: Path) -> None:
    slopes = {
        float(pydicom.dcmread(series_dir / n, stop_before_pixels=True).RescaleSlope)
        for n in ("1-001.dcm", "1-002.dcm", "1-003.dcm")
    }
    assert len(slopes) == 3


def _set(keyword: str, value: object) -> Callable[[pydicom.Dataset], None]:
    return lambda ds: setattr(ds, keyword, value)


def _delete(keyword: str) -> Callable[[pydicom.Dataset], None]:
    return lambda ds: delattr(ds, keyword)


def _delete_dose(ds: pydicom.Dataset) -> None:
    del _drug(ds).RadionuclideTotalDose


def _delete_injection_time(ds: pydicom.Dataset) -> None:
    del _drug(ds).RadiopharmaceuticalStartTime


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_set("Units", "CNTS"), ["Units", "CNTS"]),
        (_set("CorrectedImage", ["ATTN", "SCAT"]), ["CorrectedImage", "DECY"]),
        (_set("CorrectedImage", ["DECY"]), ["CorrectedImage", "ATTN"]),
        (_set("DecayCorrection", "ADMIN"), ["DecayCorrection", "ADMIN"]),
        (_delete("PatientWeight"), ["PatientWeight"]),
        (_set("PatientWeight", "0"), ["PatientWeight", "0"]),
        (_delete_dose, ["RadionuclideTotalDose"]),
        (_delete_injection_time, ["RadiopharmaceuticalStartTime"]),
    ],
)
def test_rejections_name_file_attribute_and_value(edited_slice, edit, words: list[str]) -> None:
    path = edited_slice(edit, name="edited.dcm")
    with pytest.raises(DicomUnitsError) as info:
        suv_factor(pydicom.dcmread(path))
    message = str(info.value)
    assert "edited.dcm" in message
    for word in words:
        assert word in message
    with pytest.raises(DicomUnitsError, match=r"edited\.dcm"):
        read_dicom_pet_suv(path.parent)


def test_gml_is_returned_as_is(edited_slice) -> None:
    path = edited_slice(_set("Units", "GML"))
    ds = pydicom.dcmread(path)
    assert suv_factor(ds) == 1.0
    image = read_dicom_pet_suv(path.parent)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(sitk.GetArrayFromImage(image)[0], expected, rtol=1e-6)


def test_start_datetime_is_preferred_to_start_time(edited_slice) -> None:
    def edit(ds: pydicom.Dataset) -> None:
        _drug(ds).RadiopharmaceuticalStartDateTime = "20000907100000.00"

    ds = pydicom.dcmread(edited_slice(edit))
    assert suv_factor(ds) == pytest.approx(_factor_by_hand(2711 + 35 * 60), rel=1e-12)


def test_injection_the_day_before(edited_slice) -> None:
    def edit(ds: pydicom.Dataset) -> None:
        for keyword in ("SeriesDate", "AcquisitionDate"):
            setattr(ds, keyword, "20000908")
        ds.SeriesTime = ds.AcquisitionTime = "002000"
        _drug(ds).RadiopharmaceuticalStartTime = "235000"

    ds = pydicom.dcmread(edited_slice(edit))
    assert suv_factor(ds) == pytest.approx(_factor_by_hand(30 * 60), rel=1e-12)


def test_series_time_after_acquisition_time(edited_slice) -> None:
    """Scan start = AcquisitionTime - FrameReferenceTime + average count-rate time in frame."""

    def edit(ds: pydicom.Dataset) -> None:
        ds.SeriesTime = "120000"  # a post-processed series; acquisition 11:20:11
        ds.FrameReferenceTime = 1215000.0  # ms
        ds.ActualFrameDuration = 240000  # ms

    parameters = suv_parameters(pydicom.dcmread(edited_slice(edit)))
    # Average count-rate time of a 240 s frame by the series of ln(x / (1 - e^-x)) / lambda,
    # x = lambda * T: T/2 - lambda T^2 / 24 (next term ~ lambda^3 T^4, below 1e-5 s here).
    decay_constant = math.log(2) / HALF_LIFE_S
    count_rate_time_s = 240 / 2 - decay_constant * 240**2 / 24
    decay_time_s = SERIES_MINUS_INJECTION_S - 1215.0 + count_rate_time_s
    assert parameters.decay_time_s == pytest.approx(decay_time_s, abs=1e-4)
    assert parameters.factor == pytest.approx(_factor_by_hand(decay_time_s), rel=1e-9)
    assert "FrameReferenceTime" in parameters.scan_time_rule


def test_series_time_after_acquisition_needs_frame_reference(edited_slice) -> None:
    def edit(ds: pydicom.Dataset) -> None:
        ds.SeriesTime = "120000"
        del ds.FrameReferenceTime

    with pytest.raises(DicomUnitsError, match="FrameReferenceTime"):
        suv_factor(pydicom.dcmread(edited_slice(edit)))


def test_two_series_in_one_folder_are_named(edited_slice) -> None:
    edited_slice(_set("SeriesInstanceUID", "1.2.3.4"), name="a.dcm")
    path = edited_slice(_set("SeriesInstanceUID", "1.2.3.5"), name="b.dcm")
    with pytest.raises(ImageReadError, match=r"2 series.*1\.2\.3\.4.*1\.2\.3\.5"):
        read_dicom_pet_suv(path.parent)


def test_duplicated_positions_are_rejected(edited_slice) -> None:
    edited_slice(lambda ds: None, name="a.dcm")
    path = edited_slice(_set("SOPInstanceUID", "1.2.3.6"), name="b.dcm")
    with pytest.raises(ImageReadError, match="one position"):
        read_dicom_pet_suv(path.parent)


def test_missing_geometry_is_named(edited_slice) -> None:
    path = edited_slice(_delete("PixelSpacing"), name="flat.dcm")
    with pytest.raises(ImageReadError, match=r"flat\.dcm: missing PixelSpacing"):
        read_dicom_pet_suv(path.parent)


def test_slices_of_another_size_are_rejected(edited_slice) -> None:
    edited_slice(lambda ds: None, name="a.dcm")
    path = edited_slice(_set("Columns", 64), name="b.dcm")
    with pytest.raises(ImageReadError, match=r"Columns differs .*a\.dcm.*b\.dcm"):
        read_dicom_pet_suv(path.parent)


def test_folders_without_a_pet_series(edited_slice, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not DICOM", encoding="utf-8")
    with pytest.raises(ImageReadError, match="no DICOM image files"):
        read_dicom_pet_suv(empty)
    with pytest.raises(ImageReadError, match="not a folder"):
        read_dicom_pet_suv(tmp_path / "absent")
    ct = edited_slice(_set("Modality", "CT"))
    with pytest.raises(ImageReadError, match="'CT'"):
        read_dicom_pet_suv(ct.parent)
    assert not is_dicom_pet_series(empty)
    assert not is_dicom_pet_series(ct.parent)
    assert not is_dicom_pet_series(tmp_path / "absent")


def test_is_dicom_pet_series(series_dir: Path, shared_data: Path) -> None:
    assert is_dicom_pet_series(series_dir)
    assert not is_dicom_pet_series(shared_data / "pet" / "sts_001_raw_dicom" / "mask")


def test_suv_command_writes_the_image(series_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dicom"
    folder.mkdir()
    for name in ("1-010.dcm", "1-011.dcm", "1-012.dcm"):
        shutil.copy(series_dir / name, folder / name)
    app = typer.Typer()
    app.command()(suv_command)
    out = tmp_path / "out" / "pet.nii.gz"
    result = CliRunner().invoke(app, [str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "0.000242903" in result.output
    assert "PatientWeight [kg]" in result.output
    written = sitk.ReadImage(str(out))
    assert written.GetSize() == (128, 128, 3)
    ds = pydicom.dcmread(folder / "1-011.dcm")
    expected = ds.pixel_array * float(ds.RescaleSlope) * _factor_by_hand(2711)
    np.testing.assert_allclose(sitk.GetArrayFromImage(written)[1], expected, rtol=1e-6, atol=1e-6)


def test_suv_command_reports_errors_without_traceback(edited_slice, tmp_path: Path) -> None:
    path = edited_slice(_set("Units", "CNTS"))
    app = typer.Typer()
    app.command()(suv_command)
    result = CliRunner().invoke(app, [str(path.parent), "--out", str(tmp_path / "x.nii.gz")])
    assert result.exit_code == 2
    assert "CNTS" in result.output
    assert "Traceback" not in result.output
