"""DICOM PET series built for tests with pydicom: static or dynamic, in Bq/mL with the QIBA
header, with patient identity tags that must never reach an output."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
IDENTITY = {
    "PatientName": "Doe^Janet^Secretname",
    "PatientID": "PID-7731-SECRET",
    "PatientBirthDate": "19471103",
    "OtherPatientIDs": "OPID-5521-SECRET",
    "AccessionNumber": "ACC99812SECRET",
    "InstitutionName": "Hospital of Secretville",
}
WEIGHT_KG = 70.0
DOSE_BQ = 200e6
HALF_LIFE_S = 6586.2
INJECTION = datetime(2024, 5, 6, 9, 0, 0)


def suv_to_bqml_factor(scan_start: datetime) -> float:
    """Bq/mL per SUV for the built series (QIBA recipe, decay to the scan start)."""
    decay_s = (scan_start - INJECTION).total_seconds()
    return DOSE_BQ * 2.0 ** (-decay_s / HALF_LIFE_S) / (WEIGHT_KG * 1000.0)


def _stamp(moment: datetime) -> tuple[str, str]:
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f")


def _slice(
    values_bqml: np.ndarray,
    z: int,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    series_uid: str,
    study_uid: str,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = PET_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = PET_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID = "PT", series_uid
    ds.StudyInstanceUID, ds.FrameOfReferenceUID = study_uid, "1.2.3.4"
    for keyword, value in IDENTITY.items():
        setattr(ds, keyword, value)
    ds.Units, ds.CorrectedImage, ds.DecayCorrection = "BQML", ["ATTN", "DECY"], "START"
    ds.PatientWeight = WEIGHT_KG
    drug = Dataset()
    drug.RadionuclideTotalDose, drug.RadionuclideHalfLife = DOSE_BQ, HALF_LIFE_S
    drug.RadiopharmaceuticalStartDateTime = INJECTION.strftime("%Y%m%d%H%M%S.%f")
    ds.RadiopharmaceuticalInformationSequence = [drug]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + z * spacing[2]]
    ds.PixelSpacing = [spacing[1], spacing[0]]
    ds.SliceThickness = spacing[2]
    ds.Rows, ds.Columns = values_bqml.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    slope = max(float(values_bqml.max()), 1e-3) / 65535.0
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", "0"
    ds.PixelData = np.round(values_bqml / float(ds.RescaleSlope)).astype(np.uint16).tobytes()
    return ds


def write_pet_series(
    folder: Path,
    frames_suv: np.ndarray,
    start_s: list[float],
    duration_s: list[float],
    spacing=(2.0, 2.0, 2.0),
    origin=(0.0, 0.0, 0.0),
    acquisition_per_frame: bool = True,
    edit: Callable[[Dataset], None] | None = None,
) -> Path:
    """Write a (t, z, y, x) SUV series as a DICOM PET series in Bq/mL; t = 1 writes a
    static series. Frames start ``start_s`` after the injection, the scan at the first frame;
    FrameReferenceTime is each frame's count-rate time and AcquisitionTime its start (or the
    scan start for every frame when not ``acquisition_per_frame``); ``edit`` changes each
    slice before it is written."""
    folder.mkdir(parents=True, exist_ok=True)
    scan_start = INJECTION + timedelta(seconds=start_s[0])
    factor = suv_to_bqml_factor(scan_start)
    uid, study, n_frames, n_slices = (
        generate_uid(),
        generate_uid(),
        frames_suv.shape[0],
        frames_suv.shape[1],
    )
    for t, frame in enumerate(frames_suv):
        start = INJECTION + timedelta(seconds=start_s[t])
        decay = np.log(2) / HALF_LIFE_S * duration_s[t]
        count_rate_s = np.log(decay / -np.expm1(-decay)) / (np.log(2) / HALF_LIFE_S)
        for z in range(n_slices):
            ds = _slice(frame[z] * factor, z, spacing, origin, uid, study)
            ds.SeriesDate, ds.SeriesTime = _stamp(scan_start)
            ds.AcquisitionDate, ds.AcquisitionTime = _stamp(
                start if acquisition_per_frame else scan_start
            )
            ds.ActualFrameDuration = round(float(duration_s[t]) * 1000)
            ds.FrameReferenceTime = f"{(start_s[t] - start_s[0] + count_rate_s) * 1000:.3f}"
            ds.SeriesType = ["DYNAMIC" if n_frames > 1 else "STATIC", "IMAGE"]
            ds.NumberOfSlices, ds.NumberOfTimeSlices = n_slices, n_frames
            ds.ImageIndex = t * n_slices + z + 1
            if edit:
                edit(ds)
            pydicom.dcmwrite(folder / f"f{t:02d}_s{z:03d}.dcm", ds, enforce_file_format=True)
    return folder


ENHANCED_PET_STORAGE = "1.2.840.10008.5.1.4.1.1.130"
IN_GROUPS_ONLY = (  # what an Enhanced PET file keeps in its functional groups
    "Units",
    "CorrectedImage",
    "DecayCorrection",
    "RadiopharmaceuticalInformationSequence",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ActualFrameDuration",
    "FrameReferenceTime",
    "RescaleSlope",
    "RescaleIntercept",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SeriesType",
    "NumberOfSlices",
    "NumberOfTimeSlices",
    "ImageIndex",
)


def _item(**attributes) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def write_enhanced_pet(series: Path, out: Path) -> Path:
    """The single-slice series written by ``write_pet_series`` as one Enhanced PET file (SOP
    class 1.2.840.10008.5.1.4.1.1.130) whose SUV attributes live only in the functional
    groups: units (RescaleType), corrections (AttenuationCorrected, DecayCorrected,
    DecayCorrectionDateTime at the scan start) and the radiopharmaceutical in the shared
    groups; frame timing (FrameContentSequence), position and rescale in each frame's."""
    slices = [pydicom.dcmread(path) for path in sorted(series.glob("*.dcm"))]
    first = slices[0]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENHANCED_PET_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_PET_STORAGE, meta.MediaStorageSOPInstanceUID
    for element in first:
        if element.keyword not in (*IN_GROUPS_ONLY, "PixelData", "SOPClassUID", "SOPInstanceUID"):
            ds.add(element)
    ds.NumberOfFrames = len(slices)
    ds.PixelData = b"".join(s.PixelData for s in slices)
    scan_start = first.SeriesDate + first.SeriesTime
    shared = _item(
        PixelMeasuresSequence=[
            _item(PixelSpacing=first.PixelSpacing, SliceThickness=first.SliceThickness)
        ],
        PlaneOrientationSequence=[_item(ImageOrientationPatient=first.ImageOrientationPatient)],
        RadiopharmaceuticalInformationSequence=first.RadiopharmaceuticalInformationSequence,
        AttenuationCorrected="YES",
        DecayCorrected="YES",
        DecayCorrectionDateTime=scan_start,
    )
    ds.SharedFunctionalGroupsSequence = [shared]
    n_slices = int(first.NumberOfSlices)
    ds.PerFrameFunctionalGroupsSequence = [
        _item(
            FrameContentSequence=[
                _item(
                    FrameAcquisitionDateTime=s.AcquisitionDate + s.AcquisitionTime,
                    FrameAcquisitionDuration=float(s.ActualFrameDuration),
                    TemporalPositionIndex=(int(s.ImageIndex) - 1) // n_slices + 1,
                )
            ],
            PlanePositionSequence=[_item(ImagePositionPatient=s.ImagePositionPatient)],
            PixelValueTransformationSequence=[
                _item(
                    RescaleSlope=s.RescaleSlope,
                    RescaleIntercept=s.RescaleIntercept,
                    RescaleType="BQML",
                )
            ],
        )
        for s in slices
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out
