"""DICOM PET variants built for the test: compressed transfer syntaxes, GE's private scan
date-time, Philips CNTS units, dynamic frame timing from FrameReferenceTime, legacy-converted
and true Enhanced PET multi-frame files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from helpers.dicom import IN_GROUPS_ONLY, INJECTION, write_enhanced_pet, write_pet_series
from pydicom.uid import JPEG2000Lossless, RLELossless

from radiomix.data.suv import dicom_frame_timing, read_dicom_pet_suv
from radiomix.errors import DicomUnitsError

# JPEG 2000 (with its default resolution levels) needs at least 32 pixels a side.
SUV = np.random.default_rng(3).uniform(0.5, 4.0, (1, 3, 40, 48)).astype(np.float32)
START_S = [1200.0]
DURATION_S = [600.0]


def suv_of(folder: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(read_dicom_pet_suv(folder))


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    return write_pet_series(tmp_path / "plain", SUV, START_S, DURATION_S)


def test_built_series_reads_back_its_suv(plain):
    np.testing.assert_allclose(suv_of(plain), SUV[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, RLELossless])
def test_compressed_transfer_syntaxes_give_the_same_suv(tmp_path, plain, syntax):
    folder = tmp_path / "compressed"
    folder.mkdir()
    for path in sorted(plain.iterdir()):
        ds = pydicom.dcmread(path)
        ds.compress(syntax)
        ds.save_as(folder / path.name)
    assert pydicom.dcmread(next(folder.iterdir())).file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(suv_of(folder), suv_of(plain))


def _post_processed(ds: pydicom.Dataset) -> None:
    ds.SeriesTime = ds.AcquisitionTime = "235959"  # rewritten hours after the scan


def _ge_private(scan_time: str):
    def edit(ds: pydicom.Dataset) -> None:
        _post_processed(ds)
        block = ds.private_block(0x0009, "GEMS_PETD_01", create=True)
        block.add_new(0x0D, "DT", scan_time)

    return edit


def test_ge_private_scan_datetime_is_the_scan_start(tmp_path, plain):
    scan = (INJECTION + timedelta(seconds=START_S[0])).strftime("%Y%m%d%H%M%S.%f")
    ge = write_pet_series(tmp_path / "ge", SUV, START_S, DURATION_S, edit=_ge_private(scan))
    np.testing.assert_array_equal(suv_of(ge), suv_of(plain))
    late = write_pet_series(tmp_path / "late", SUV, START_S, DURATION_S, edit=_post_processed)
    assert not np.allclose(suv_of(late), suv_of(plain), rtol=1e-3)  # what the tag corrects


def _philips(factor: float | None):
    def edit(ds: pydicom.Dataset) -> None:
        ds.Units = "CNTS"
        del ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose
        if factor is not None:
            block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
            block.add_new(0x00, "DS", f"{factor:.10g}")

    return edit


def test_philips_counts_use_the_private_suv_scale_factor(tmp_path, plain):
    # The stored values are the Bq/mL of the plain series; the Philips factor that turns
    # them into SUV is the QIBA body-weight factor of that series.
    plain_factor = float(np.mean(suv_of(plain) / _bqml(plain)))
    philips = write_pet_series(
        tmp_path / "philips", SUV, START_S, DURATION_S, edit=_philips(plain_factor)
    )
    np.testing.assert_allclose(suv_of(philips), suv_of(plain), rtol=1e-6)
    without = write_pet_series(tmp_path / "nofactor", SUV, START_S, DURATION_S, edit=_philips(None))
    with pytest.raises(DicomUnitsError, match=r"CNTS without .* \(7053,1000\)"):
        read_dicom_pet_suv(without)


def _bqml(folder: Path) -> np.ndarray:
    slices = sorted(
        (pydicom.dcmread(p) for p in folder.iterdir()),
        key=lambda ds: float(ds.ImagePositionPatient[2]),
    )
    return np.stack([ds.pixel_array * float(ds.RescaleSlope) for ds in slices])


@pytest.mark.parametrize(
    ("per_frame", "series_type"), [(True, "DYNAMIC"), (False, "DYNAMIC"), (True, "STATIC")]
)
def test_dynamic_frame_timing_from_acquisition_or_frame_reference_time(
    tmp_path, per_frame, series_type
):
    """Timing from AcquisitionTime or FrameReferenceTime; a series whose SeriesType is not
    DYNAMIC is still read as dynamic when its time slices repeat the slice positions."""
    starts, durations = [0.0, 60.0, 120.0, 300.0, 900.0], [60.0, 60.0, 180.0, 600.0, 600.0]
    frames = np.repeat(SUV, len(starts), axis=0)
    folder = write_pet_series(
        tmp_path / "dyn",
        frames,
        starts,
        durations,
        acquisition_per_frame=per_frame,
        edit=lambda ds: setattr(ds, "SeriesType", [series_type, "IMAGE"]),
    )
    timing = dicom_frame_timing(folder)
    np.testing.assert_allclose(timing.start_s, starts, atol=2e-3)
    np.testing.assert_allclose(timing.duration_s, durations)
    image = read_dicom_pet_suv(folder)
    assert image.GetDimension() == 4 and image.GetSize()[3] == len(starts)


@pytest.mark.parametrize("n_frames", [1, 3])
def test_multi_frame_pet_gives_the_suv_and_timing_of_its_slices(tmp_path, n_frames):
    """The series converted to one legacy-converted enhanced multi-frame PET file (highdicom)
    reads as the single-slice series it came from; dynamic series keep their frame timing."""
    import highdicom
    from highdicom.legacy import LegacyConvertedEnhancedPETImage

    starts, durations = [0.0, 300.0, 900.0][:n_frames], [300.0, 600.0, 600.0][:n_frames]
    frames = np.repeat(SUV, n_frames, axis=0) * np.arange(1, n_frames + 1)[:, None, None, None]
    series = write_pet_series(tmp_path / "slices", frames, starts, durations)
    enhanced = tmp_path / "enhanced"
    enhanced.mkdir()
    for frame in range(n_frames):  # one multi-frame file per time frame
        legacy = [pydicom.dcmread(p) for p in sorted(series.glob(f"f{frame:02d}_*.dcm"))]
        LegacyConvertedEnhancedPETImage(
            legacy,
            series_instance_uid=legacy[0].SeriesInstanceUID,
            series_number=1,
            sop_instance_uid=highdicom.UID(),
            instance_number=frame + 1,
        ).save_as(enhanced / f"frame{frame}.dcm")
    assert int(pydicom.dcmread(enhanced / "frame0.dcm").NumberOfFrames) == SUV.shape[1]
    np.testing.assert_array_equal(suv_of(enhanced), suv_of(series))
    if n_frames > 1:
        np.testing.assert_allclose(dicom_frame_timing(enhanced).start_s, starts, atol=2e-3)


@pytest.mark.parametrize("n_frames", [1, 3])
def test_enhanced_pet_gives_the_suv_and_timing_of_its_classic_twin(tmp_path, n_frames):
    """One Enhanced PET file whose units, corrections, radiopharmaceutical, frame timing and
    rescale live only in the functional groups: the same SUV (every frame, so the same
    time-activity curves) and frame timing as the single-slice series it was built from."""
    starts, durations = [0.0, 300.0, 900.0][:n_frames], [300.0, 600.0, 600.0][:n_frames]
    frames = np.repeat(SUV, n_frames, axis=0) * np.arange(1, n_frames + 1)[:, None, None, None]
    series = write_pet_series(tmp_path / "slices", frames, starts, durations)
    enhanced = write_enhanced_pet(series, tmp_path / "enhanced" / "pet.dcm")
    header = pydicom.dcmread(enhanced)
    assert header.SOPClassUID == "1.2.840.10008.5.1.4.1.1.130"
    assert not [keyword for keyword in IN_GROUPS_ONLY if keyword in header]
    suv = suv_of(enhanced.parent)
    np.testing.assert_array_equal(suv, suv_of(series))
    np.testing.assert_allclose(suv, frames if n_frames > 1 else frames[0], rtol=1e-4, atol=1e-4)
    if n_frames > 1:
        timing, twin = dicom_frame_timing(enhanced.parent), dicom_frame_timing(series)
        np.testing.assert_allclose(timing.start_s, twin.start_s, atol=1e-6)
        np.testing.assert_allclose(timing.start_s, starts, atol=2e-3)
        np.testing.assert_array_equal(timing.duration_s, twin.duration_s)


def test_suv_command_writes_a_dynamic_series_with_its_sidecar(tmp_path):
    import json

    import typer
    from typer.testing import CliRunner

    from radiomix.data.commands import suv_command

    starts, durations = [0.0, 60.0, 120.0], [60.0, 60.0, 180.0]
    series = write_pet_series(tmp_path / "dyn", np.repeat(SUV, 3, axis=0), starts, durations)
    app = typer.Typer()
    app.command()(suv_command)
    out = tmp_path / "dyn.nii.gz"
    result = CliRunner().invoke(app, [str(series), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sitk.ReadImage(str(out)).GetSize() == (48, 40, 3, 3)
    sidecar = json.loads((tmp_path / "dyn.json").read_text())
    np.testing.assert_allclose(sidecar["FrameTimesStart"], starts, atol=2e-3)
    assert sidecar["FrameDuration"] == durations
