"""Body-weight SUV from a DICOM PET series, by the QIBA vendor-neutral recipe.

The series must be attenuation and decay corrected (CorrectedImage holds ATTN and DECY),
decay corrected to the scan start (DecayCorrection START) and stored in Bq/mL (Units
BQML); Units GML means the values are already SUVbw and are returned unchanged; Philips
Units CNTS are scaled by the private SUV scale factor (7053,1000). The scan start is GE's
private scan date-time (0009,100D) when present, else SeriesDate + SeriesTime (see
``_scan_time``). Multi-frame files (Enhanced PET, SOP class 1.2.840.10008.5.1.4.1.1.130, or
legacy-converted PET) are split into their frames, each given the attributes of the shared
and its own functional groups under their single-frame names (units from RescaleType,
corrections from AttenuationCorrected/DecayCorrected, scan start from
DecayCorrectionDateTime, frame start and duration from FrameContentSequence); a series with
SeriesType DYNAMIC, or whose time slices repeat the slice positions, is read as 4D with its
frame timing.

    decayed dose = RadionuclideTotalDose * 2 ** (-(scan - injection) / RadionuclideHalfLife)
    SUVbw = (stored * RescaleSlope + RescaleIntercept) * PatientWeight[kg] * 1000 / decayed dose

The slope and the factor are taken from each slice, since some scanners vary the
RescaleSlope from slice to slice. pydicom and SimpleITK are imported where they are used,
so that importing this module (for the command line) stays cheap.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radiomix.data.timing import FrameTiming
from radiomix.errors import DicomUnitsError, ImageReadError

if TYPE_CHECKING:
    import SimpleITK as sitk
    from pydicom import Dataset

REQUIRED_CORRECTIONS = ("ATTN", "DECY")
DUPLICATE_POSITION_MM = 1e-3
SLICE_STEP_TOLERANCE = 0.1
ONE_DAY = timedelta(days=1)
GE_PRIVATE = (0x0009, 0x0D, "GEMS_PETD_01")  # scan date-time, QIBA's GE branch
PHILIPS_SUV_FACTOR = (0x7053, 0x00, "Philips PET Private Group")  # SUVbw scale factor


@dataclass(frozen=True)
class SuvParameters:
    """What the SUV factor of one dataset was computed from (None where not used)."""

    units: str
    factor: float
    weight_kg: float | None = None
    total_dose_bq: float | None = None
    half_life_s: float | None = None
    injection_time: datetime | None = None
    scan_time: datetime | None = None
    scan_time_rule: str = ""
    decay_time_s: float | None = None


def _source(ds: Dataset) -> str:
    """The file a dataset was read from, for error messages."""
    filename = getattr(ds, "filename", None)
    return str(filename) if isinstance(filename, str | Path) else "DICOM dataset"


def _required(ds: Dataset, keyword: str, source: str) -> Any:
    """The value of ``keyword`` in ``ds`` (of the element's value representation);
    DicomUnitsError when absent or empty."""
    value = ds.get(keyword)
    if value is None or value == "":
        raise DicomUnitsError(f"{source}: missing {keyword}, needed for SUV")
    return value


def _positive(ds: Dataset, keyword: str, source: str) -> float:
    """A strictly positive number from ``ds``; DicomUnitsError otherwise."""
    value = _required(ds, keyword, source)
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise DicomUnitsError(f"{source}: {keyword} is not a number: {value!r}") from exc
    if not number > 0:
        raise DicomUnitsError(f"{source}: {keyword} must be > 0, found {value!r}")
    return number


def _check_corrections(ds: Dataset, source: str) -> None:
    """Reject images that are not attenuation and decay corrected to the scan start."""
    corrected = _required(ds, "CorrectedImage", source)
    corrected = [corrected] if isinstance(corrected, str) else list(corrected)
    missing = [flag for flag in REQUIRED_CORRECTIONS if flag not in corrected]
    if missing:
        raise DicomUnitsError(
            f"{source}: CorrectedImage {corrected} lacks {', '.join(missing)}; "
            "SUV needs attenuation and decay corrected images"
        )
    decay = _required(ds, "DecayCorrection", source)
    if decay != "START":
        raise DicomUnitsError(f"{source}: DecayCorrection is {decay!r}, SUV needs 'START'")


def _radiopharmaceutical(ds: Dataset, source: str) -> Dataset:
    """The first item of the RadiopharmaceuticalInformationSequence."""
    sequence = _required(ds, "RadiopharmaceuticalInformationSequence", source)
    if len(sequence) == 0:
        raise DicomUnitsError(f"{source}: RadiopharmaceuticalInformationSequence is empty")
    return sequence[0]


def _date_time(day: object, clock: object, names: str, source: str) -> datetime:
    """Combine a DICOM DA and TM value into a datetime."""
    from pydicom.valuerep import DA, TM

    try:
        parsed_day, parsed_clock = DA(str(day)), TM(str(clock))
    except ValueError as exc:
        raise DicomUnitsError(f"{source}: cannot read {names} {day!r} {clock!r}") from exc
    if not (isinstance(parsed_day, date) and isinstance(parsed_clock, time)):
        raise DicomUnitsError(f"{source}: cannot read {names} {day!r} {clock!r}")
    return datetime.combine(parsed_day, parsed_clock)


def _injection_time(ds: Dataset, drug: Dataset, scan_time: datetime, source: str) -> datetime:
    """RadiopharmaceuticalStartDateTime, else SeriesDate + RadiopharmaceuticalStartTime.

    Without a date, an injection clock time later than the scan start is taken to be on
    the day before (a scan that spans midnight).
    """

    if drug.get("RadiopharmaceuticalStartDateTime"):
        return _datetime(drug, "RadiopharmaceuticalStartDateTime", source)
    clock = _required(drug, "RadiopharmaceuticalStartTime", source)
    injection = _date_time(ds.SeriesDate, clock, "SeriesDate/RadiopharmaceuticalStartTime", source)
    return injection - ONE_DAY if injection > scan_time else injection


def _datetime(ds: Dataset, keyword: str, source: str) -> datetime:
    """A DICOM DT value of ``ds`` as a naive datetime."""
    from pydicom.valuerep import DT

    stamp = ds.get(keyword)
    try:
        parsed = DT(str(stamp))
    except ValueError as exc:
        raise DicomUnitsError(f"{source}: cannot read {keyword} {stamp!r}") from exc
    return parsed.replace(tzinfo=None)


def count_rate_offset_s(duration_s: float, half_life_s: float) -> float:
    """Time from a frame's start to its average count-rate time (decay within the frame):
    ln(lambda*T / (1 - exp(-lambda*T))) / lambda (QIBA)."""
    decay_constant = np.log(2.0) / half_life_s
    decay_in_frame = decay_constant * duration_s
    return float(np.log(decay_in_frame / -np.expm1(-decay_in_frame)) / decay_constant)


def _frame_start_from_acquisition(ds: Dataset, half_life_s: float, source: str) -> datetime:
    """Scan start back-computed from the frame's average count-rate time (QIBA, Siemens).

    AcquisitionTime is the start of the bed position; FrameReferenceTime (ms) is the time
    from the scan start to the frame's average count-rate time, which lies
    ln(lambda*T / (1 - exp(-lambda*T))) / lambda after the frame start (T = frame duration).
    """
    reference_s = _positive(ds, "FrameReferenceTime", source) / 1000.0
    duration_s = _positive(ds, "ActualFrameDuration", source) / 1000.0
    count_rate_time_s = count_rate_offset_s(duration_s, half_life_s)
    acquisition = _date_time(
        _required(ds, "AcquisitionDate", source),
        _required(ds, "AcquisitionTime", source),
        "AcquisitionDate/AcquisitionTime",
        source,
    )
    return acquisition - timedelta(seconds=float(reference_s - count_rate_time_s))


def _private(ds: Dataset, tag: tuple[int, int, str]) -> Any:
    """A private element's value (group, element offset, creator), None when absent."""
    group, offset, creator = tag
    try:
        return ds.get_private_item(group, offset, creator).value
    except KeyError:
        return None


def _ge_scan_time(ds: Dataset, source: str) -> datetime | None:
    """GE's private scan date-time (0009,100D, GEMS_PETD_01), None when absent."""
    from pydicom.valuerep import DT

    stamp = _private(ds, GE_PRIVATE)
    if not stamp:
        return None
    text = stamp.decode(errors="replace") if isinstance(stamp, bytes) else str(stamp)
    try:
        return DT(text.strip()).replace(tzinfo=None)
    except ValueError as exc:
        raise DicomUnitsError(f"{source}: cannot read GE private scan date-time {text!r}") from exc


def _scan_time(ds: Dataset, half_life_s: float, source: str) -> tuple[datetime, str]:
    """Scan start: GE's private scan date-time, else the date-time an Enhanced PET image is
    decay corrected to, else SeriesDate + SeriesTime, unless that is after the acquisition
    start (QIBA)."""
    ge_time = _ge_scan_time(ds, source)
    if ge_time is not None:
        return ge_time, "GE private scan date-time (0009,100D)"
    if ds.get("DecayCorrectionDateTime"):
        return _datetime(ds, "DecayCorrectionDateTime", source), "DecayCorrectionDateTime"
    series = _date_time(
        _required(ds, "SeriesDate", source),
        _required(ds, "SeriesTime", source),
        "SeriesDate/SeriesTime",
        source,
    )
    acquisition_time = ds.get("AcquisitionTime")
    if not acquisition_time:
        return series, "SeriesDate + SeriesTime"
    acquisition = _date_time(
        ds.get("AcquisitionDate") or ds.SeriesDate,
        acquisition_time,
        "AcquisitionDate/AcquisitionTime",
        source,
    )
    if series <= acquisition:
        return series, "SeriesDate + SeriesTime"
    start = _frame_start_from_acquisition(ds, half_life_s, source)
    return start, "AcquisitionTime - FrameReferenceTime + count-rate time in frame"


def suv_parameters(ds: Dataset) -> SuvParameters:
    """Check one PET dataset and compute its Bq/mL -> SUVbw factor with the values used."""
    source = _source(ds)
    _check_corrections(ds, source)
    units = _required(ds, "Units", source)
    if units == "GML":
        return SuvParameters(units="GML", factor=1.0)
    if units == "CNTS":
        return _philips_parameters(ds, source)
    if units != "BQML":
        raise DicomUnitsError(
            f"{source}: Units is {units!r}; SUV needs 'BQML' (or 'GML', or "
            "Philips 'CNTS' with its SUV scale factor)"
        )
    drug = _radiopharmaceutical(ds, source)
    weight_kg = _positive(ds, "PatientWeight", source)
    total_dose_bq = _positive(drug, "RadionuclideTotalDose", source)
    half_life_s = _positive(drug, "RadionuclideHalfLife", source)
    scan_time, rule = _scan_time(ds, half_life_s, source)
    injection_time = _injection_time(ds, drug, scan_time, source)
    decay_time_s = (scan_time - injection_time).total_seconds()
    if decay_time_s < 0:
        raise DicomUnitsError(
            f"{source}: injection at {injection_time} is after the scan start {scan_time}"
        )
    decayed_dose_bq = total_dose_bq * 2.0 ** (-decay_time_s / half_life_s)
    return SuvParameters(
        units="BQML",
        factor=weight_kg * 1000.0 / decayed_dose_bq,
        weight_kg=weight_kg,
        total_dose_bq=total_dose_bq,
        half_life_s=half_life_s,
        injection_time=injection_time,
        scan_time=scan_time,
        scan_time_rule=rule,
        decay_time_s=decay_time_s,
    )


def _philips_parameters(ds: Dataset, source: str) -> SuvParameters:
    """Philips Units CNTS: the private SUVbw scale factor (7053,1000) (QIBA)."""
    value = _private(ds, PHILIPS_SUV_FACTOR)
    try:
        factor = float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        factor = 0.0
    if not factor > 0:
        raise DicomUnitsError(
            f"{source}: Units CNTS without a positive Philips SUV scale "
            f"factor (7053,1000): {value!r}"
        )
    return SuvParameters(units="CNTS", factor=factor)


def suv_factor(ds: Dataset) -> float:
    """The factor from Bq/mL to body-weight SUV for one PET dataset (1.0 for Units GML)."""
    return suv_parameters(ds).factor


def _candidate_files(folder: Path) -> list[Path]:
    """The visible regular files of a folder, sorted by name."""
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: not a folder of DICOM files")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def is_dicom_pet_series(folder: Path) -> bool:
    """Cheap check: the first file of ``folder`` is a DICOM dataset with Modality PT."""
    import pydicom

    try:
        files = _candidate_files(Path(folder))
        if not files:
            return False
        header = pydicom.dcmread(files[0], stop_before_pixels=True, specific_tags=["Modality"])
    except (ImageReadError, OSError, pydicom.errors.InvalidDicomError):
        return False
    return header.get("Modality") == "PT"


def _read_datasets(folder: Path) -> list[Dataset]:
    """Every DICOM file of ``folder`` with image data; other files are skipped."""
    import pydicom

    datasets: list[Dataset] = []
    for path in _candidate_files(folder):
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            continue
        except Exception as exc:
            raise ImageReadError(f"{path}: unreadable DICOM file: {exc}") from exc
        if "PixelData" in ds:
            datasets += frames_as_slices(ds) if int(ds.get("NumberOfFrames") or 1) > 1 else [ds]
    if not datasets:
        raise ImageReadError(f"{folder}: no DICOM image files")
    return datasets


CONVERTED = (
    "UnassignedSharedConvertedAttributesSequence",
    "UnassignedPerFrameConvertedAttributesSequence",
)
KEPT_SEQUENCES = ("RadiopharmaceuticalInformationSequence",)  # a slice keeps it as a sequence
FRAME_PIXELS = "radiomix_frame_pixels"
MULTI_FRAME_ONLY = (
    "PixelData",
    "NumberOfFrames",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
)


def frames_as_slices(ds: Dataset) -> list[Dataset]:
    """The frames of a multi-frame PET file (Enhanced PET or legacy converted) as single-slice
    datasets: the top-level attributes, then those of the shared and of the frame's own
    functional groups, with the enhanced names given their single-frame meaning
    (:func:`_as_single_frame`)."""
    from pydicom import Dataset

    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise ImageReadError(f"{_source(ds)}: cannot decode the pixel data: {exc}") from exc
    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) != pixels.shape[0]:
        raise ImageReadError(
            f"{_source(ds)}: {pixels.shape[0]} frames but "
            f"{len(per_frame)} per-frame functional groups"
        )
    base = Dataset()
    for element in ds:
        if element.keyword not in MULTI_FRAME_ONLY:
            base.add(element)
    slices = []
    for index, group in enumerate(per_frame):
        single = copy.deepcopy(base)  # setting a value changes the element in place
        for level in (shared, group):
            _apply_groups(single, level)
        _as_single_frame(single)
        single.filename = f"{_source(ds)} (frame {index + 1})"
        setattr(single, FRAME_PIXELS, pixels[index])
        slices.append(single)
    return slices


def _apply_groups(single: Dataset, level: Dataset) -> None:
    """Copy the attributes of one functional groups item onto a slice: those inside each
    functional group macro (a sequence of one item, e.g. PlanePositionSequence) and those of
    converted-attribute sequences; an attribute set directly in the item (or a kept sequence,
    e.g. the radiopharmaceutical information) is copied as it is."""
    for element in level:
        if element.VR != "SQ" or element.keyword in KEPT_SEQUENCES:
            single.add(copy.deepcopy(element))
            continue
        for item in element.value:
            for inner in item:
                single.add(copy.deepcopy(inner))


def _as_single_frame(single: Dataset) -> None:
    """Give the Enhanced PET attributes of a frame their single-frame PET names, where the
    single-frame attribute is absent: FrameAcquisitionDuration -> ActualFrameDuration,
    FrameAcquisitionDateTime -> AcquisitionDate/Time, RescaleType -> Units, AttenuationCorrected
    and DecayCorrected YES -> CorrectedImage ATTN, DECY, and a DecayCorrectionDateTime ->
    DecayCorrection START (the scan start is then that date-time, see ``_scan_time``)."""
    if "FrameAcquisitionDuration" in single and "ActualFrameDuration" not in single:
        single.ActualFrameDuration = round(float(single.FrameAcquisitionDuration))
    stamp = str(single.get("FrameAcquisitionDateTime") or "")
    if len(stamp) > 8:
        single.AcquisitionDate, single.AcquisitionTime = stamp[:8], stamp[8:]
    if "Units" not in single and single.get("RescaleType"):
        single.Units = single.RescaleType
    flags = {"AttenuationCorrected": "ATTN", "DecayCorrected": "DECY"}
    if "CorrectedImage" not in single and any(key in single for key in flags):
        single.CorrectedImage = [flag for key, flag in flags.items() if single.get(key) == "YES"]
    if "DecayCorrection" not in single and single.get("DecayCorrectionDateTime"):
        single.DecayCorrection = "START"


def _single_series(datasets: list[Dataset], folder: Path) -> list[Dataset]:
    """The datasets when they form one PET series; ImageReadError naming the series otherwise."""
    series: dict[str, list[Dataset]] = {}
    for ds in datasets:
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(ds)
    if len(series) > 1:
        names = "; ".join(
            f"{uid} ({group[0].get('Modality', '?')} '{group[0].get('SeriesDescription', '')}', "
            f"{len(group)} files)"
            for uid, group in series.items()
        )
        raise ImageReadError(f"{folder}: {len(series)} series in one folder: {names}")
    modality = datasets[0].get("Modality")
    if modality != "PT":
        raise ImageReadError(f"{folder}: Modality is {modality!r}, not a PET series (PT)")
    return datasets


def slice_axes(ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row direction, column direction and slice normal of a slice."""
    orientation = ds.get("ImageOrientationPatient")
    if orientation is None or len(orientation) != 6:
        raise ImageReadError(f"{_source(ds)}: missing or malformed ImageOrientationPatient")
    row = np.array(orientation[:3], dtype=float)
    column = np.array(orientation[3:], dtype=float)
    return row, column, np.cross(row, column)


def _check_same_grid(datasets: list[Dataset], folder: Path) -> None:
    """All slices have a position and share rows, columns, pixel spacing and orientation."""
    keys = ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient")
    for ds in datasets:
        missing = [key for key in (*keys, "ImagePositionPatient") if ds.get(key) is None]
        if missing:
            raise ImageReadError(f"{_source(ds)}: missing {', '.join(missing)}")
    first = datasets[0]
    for ds in datasets[1:]:
        for key in keys:
            value, reference = np.asarray(ds.get(key), float), np.asarray(first.get(key), float)
            if value.shape != reference.shape or not np.allclose(value, reference):
                raise ImageReadError(
                    f"{folder}: {key} differs between {_source(first)} and {_source(ds)}"
                )


def is_dynamic(ds: Dataset) -> bool:
    """Whether a PET slice belongs to a dynamic series (SeriesType DYNAMIC; whole-body static
    series may also have several NumberOfTimeSlices, one per bed position)."""
    series_type = ds.get("SeriesType") or ["", ""]
    first = series_type[0] if not isinstance(series_type, str) else series_type
    return first == "DYNAMIC"


def _n_time_slices(datasets: list[Dataset]) -> int:
    """NumberOfTimeSlices, else the number of Enhanced PET temporal positions (0: unknown)."""
    stated = datasets[0].get("NumberOfTimeSlices")
    if stated:
        return int(stated)
    return len({ds.get("TemporalPositionIndex") for ds in datasets} - {None})


def _time_slices_at_one_position(datasets: list[Dataset]) -> bool:
    """Several time slices and slices repeating positions: a dynamic series whose SeriesType
    does not say so (or an Enhanced PET file, which has no SeriesType)."""
    if _n_time_slices(datasets) < 2:
        return False
    positions = {tuple(np.round(np.asarray(ds.ImagePositionPatient, float), 3)) for ds in datasets}
    return len(positions) < len(datasets)


def is_4d(frames: list[list[Dataset]]) -> bool:
    """Whether the frames of a series make a 4D image (a dynamic series)."""
    return len(frames) > 1 or is_dynamic(frames[0][0])


def _frame_key(ds: Dataset) -> float:
    """The frame a slice of a dynamic series belongs to: its Enhanced PET
    TemporalPositionIndex, else from ImageIndex and NumberOfSlices (ImageIndex = (time slice -
    1) * NumberOfSlices + slice), else its FrameReferenceTime."""
    if ds.get("TemporalPositionIndex"):
        return float(ds.TemporalPositionIndex)
    if ds.get("ImageIndex") and ds.get("NumberOfSlices"):
        return float((int(ds.ImageIndex) - 1) // int(ds.NumberOfSlices))
    return float(_required(ds, "FrameReferenceTime", _source(ds)))


def pet_frames(folder: Path) -> list[list[Dataset]]:
    """The slices of each frame of the PET series in ``folder``: frames in time order, slices
    sorted along the normal (one frame for a static series)."""
    folder = Path(folder)
    datasets = _single_series(_read_datasets(folder), folder)
    _check_same_grid(datasets, folder)
    if not (is_dynamic(datasets[0]) or _time_slices_at_one_position(datasets)):
        return [sorted_slices(datasets)]
    groups: dict[float, list[Dataset]] = {}
    for ds in datasets:
        groups.setdefault(_frame_key(ds), []).append(ds)
    frames = [sorted_slices(groups[key]) for key in sorted(groups)]
    expected = _n_time_slices(datasets) or len(frames)
    sizes = {len(frame) for frame in frames}
    if len(frames) != expected or len(sizes) != 1:
        if not is_dynamic(datasets[0]):  # not frames after all: read (and refuse) as static
            return [sorted_slices(datasets)]
        raise ImageReadError(
            f"{folder}: dynamic series with {len(frames)} frames of "
            f"{sorted(sizes)} slices; NumberOfTimeSlices is {expected}"
        )
    return frames


def sorted_slices(datasets: list[Dataset]) -> list[Dataset]:
    """Slices sorted along their normal."""
    _, _, normal = slice_axes(datasets[0])
    return sorted(
        datasets, key=lambda ds: float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float)))
    )


def frame_timing(frames: list[list[Dataset]]) -> FrameTiming:
    """Start (s from injection) and duration of each frame of a dynamic series.

    A frame starts at its AcquisitionDate/Time when those differ from frame to frame; else at
    the scan start + FrameReferenceTime - the frame's count-rate time (QIBA's relation, see
    ``count_rate_offset_s``). Durations are ActualFrameDuration.
    """
    first = frames[0][0]
    source = _source(first)
    drug = _radiopharmaceutical(first, source)
    half_life_s = _positive(drug, "RadionuclideHalfLife", source)
    scan_time, _ = _scan_time(first, half_life_s, source)
    injection = _injection_time(first, drug, scan_time, source)
    heads = [frame[0] for frame in frames]
    durations = np.array(
        [_positive(ds, "ActualFrameDuration", _source(ds)) / 1000.0 for ds in heads]
    )
    acquired = [stamp for stamp in map(_acquisition, heads) if stamp is not None]
    if len(set(acquired)) == len(heads):
        starts = np.array([(stamp - injection).total_seconds() for stamp in acquired])
    else:
        references = (
            np.array([float(_required(ds, "FrameReferenceTime", _source(ds))) for ds in heads])
            / 1000.0
        )
        offsets = np.array([count_rate_offset_s(d, half_life_s) for d in durations])
        starts = (scan_time - injection).total_seconds() + references - offsets
    return FrameTiming(starts, durations, source=f"{Path(source).parent} (DICOM headers)")


def _acquisition(ds: Dataset) -> datetime | None:
    day, clock = ds.get("AcquisitionDate") or ds.get("SeriesDate"), ds.get("AcquisitionTime")
    if not (day and clock):
        return None
    return _date_time(day, clock, "AcquisitionDate/AcquisitionTime", _source(ds))


def dicom_frame_timing(folder: Path) -> FrameTiming:
    """Frame timing of the dynamic PET DICOM series in ``folder``."""
    frames = pet_frames(folder)
    if not is_4d(frames):
        raise ImageReadError(f"{folder}: not a dynamic PET series (SeriesType is not DYNAMIC)")
    return frame_timing(frames)


def _slice_spacing(datasets: list[Dataset], normal: np.ndarray, folder: Path) -> float:
    """Mean distance between slices along the normal, as ITK computes it ((last - first) / gaps).

    Small jitter in the slice positions is accepted (real scanners store it); a step that
    differs from the mean by more than SLICE_STEP_TOLERANCE of it (a missing slice, or
    slices of several frames at one position) is an error.
    """
    if len(datasets) == 1:
        return float(datasets[0].get("SliceThickness") or 1.0)
    positions = np.array(
        [np.dot(normal, np.asarray(ds.ImagePositionPatient, float)) for ds in datasets]
    )
    steps = np.diff(positions)
    if np.any(steps < DUPLICATE_POSITION_MM):
        raise ImageReadError(
            f"{folder}: several slices at one position (a dynamic or duplicated series)"
        )
    spacing = float((positions[-1] - positions[0]) / steps.size)
    if np.max(np.abs(steps - spacing)) > SLICE_STEP_TOLERANCE * spacing:
        raise ImageReadError(
            f"{folder}: uneven slice spacing (missing slices?): steps from "
            f"{steps.min():.4f} to {steps.max():.4f} mm"
        )
    return spacing


def _suv_slice(ds: Dataset) -> np.ndarray:
    """One slice in SUV: (stored * RescaleSlope + RescaleIntercept) * its SUV factor."""
    try:
        frame = getattr(ds, FRAME_PIXELS, None)
        stored = (ds.pixel_array if frame is None else frame).astype(np.float64)
    except Exception as exc:
        raise ImageReadError(f"{_source(ds)}: cannot decode the pixel data: {exc}") from exc
    slope = float(ds.get("RescaleSlope", 1.0))
    intercept = float(ds.get("RescaleIntercept", 0.0))
    return (stored * slope + intercept) * suv_factor(ds)


def suv_image(datasets: list[Dataset], folder: Path) -> sitk.Image:
    """A float32 SUV image from sorted PET slices, with the geometry of the DICOM tags."""
    import SimpleITK as sitk

    row, column, normal = slice_axes(datasets[0])
    row_spacing, column_spacing = (float(v) for v in datasets[0].PixelSpacing)
    volume = np.stack([_suv_slice(ds) for ds in datasets]).astype(np.float32)
    image = sitk.GetImageFromArray(volume)
    image.SetOrigin(tuple(float(v) for v in datasets[0].ImagePositionPatient))
    image.SetSpacing((column_spacing, row_spacing, _slice_spacing(datasets, normal, folder)))
    image.SetDirection(tuple(np.column_stack([row, column, normal]).ravel().tolist()))
    return image


def read_dicom_pet_suv(folder: Path) -> sitk.Image:
    """Read the DICOM PET series in ``folder`` as a float32 body-weight SUV image: 3D, or
    4D with frames on the 4th axis for a dynamic series."""
    import SimpleITK as sitk

    folder = Path(folder)
    frames = pet_frames(folder)
    if not is_4d(frames):
        return suv_image(frames[0], folder)
    volumes = [suv_image(frame, folder) for frame in frames]
    series = sitk.JoinSeries(volumes)
    return series


def write_dynamic_suv(folder: Path, out: Path) -> tuple[Path, Path]:
    """Convert a dynamic PET DICOM series to a 4D SUV image ``out`` with its BIDS-PET sidecar
    (frame timing from injection, no patient identity); returns both paths."""
    import SimpleITK as sitk

    from radiomix.data.timing import sidecar_path, write_bids_timing

    frames = pet_frames(folder)
    image = read_dicom_pet_suv(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(out), True)
    sidecar = sidecar_path(out)
    sidecar.unlink(missing_ok=True)
    write_bids_timing(sidecar, frame_timing(frames))
    return out, sidecar


def parameter_rows(parameters: SuvParameters, n_factors: int) -> list[tuple[str, str]]:
    """The values behind the SUV factor, as (name, value) rows for a table."""
    rows = [("Units", parameters.units), ("SUV factor (first slice)", f"{parameters.factor:.6g}")]
    if parameters.units == "BQML":
        assert parameters.total_dose_bq is not None  # set for BQML by bqml_parameters
        rows += [
            ("PatientWeight [kg]", f"{parameters.weight_kg:g}"),
            ("RadionuclideTotalDose [MBq]", f"{parameters.total_dose_bq / 1e6:.9g}"),
            ("RadionuclideHalfLife [s]", f"{parameters.half_life_s:g}"),
            ("injection time", str(parameters.injection_time)),
            ("scan start", f"{parameters.scan_time} ({parameters.scan_time_rule})"),
            ("decay time [s]", f"{parameters.decay_time_s:g}"),
        ]
    rows.append(("distinct factors over slices", str(n_factors)))
    return rows
