"""Frame timing of dynamic PET: BIDS-PET sidecars and PMOD ``.acqtimes`` files.

Every :class:`FrameTiming` holds times in seconds **from the start of the injection**:

- BIDS-PET gives ``FrameTimesStart``, ``InjectionStart`` and ``ScanStart`` in seconds relative
  to ``TimeZero`` (a clock time); a frame starts ``FrameTimesStart - InjectionStart`` after
  the injection. A sidecar without ``InjectionStart`` is read as if ``TimeZero`` were the
  injection, and says so in its ``notes``; a ``ScanStart`` that is not the first frame's start
  is noted too.
- PMOD ``.acqtimes`` list frame start and end times from the injection (PMOD's kinetic
  convention), so they are taken as they are.

A :class:`FrameTiming` is validated when it is built (positive durations, increasing,
non-overlapping frames); :func:`timing_flags` lists what is legal but worth a look: frames
before the injection, gaps between frames and the notes of the reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radiomix.errors import FrameTimingError

BIDS_START_KEY = "FrameTimesStart"
BIDS_DURATION_KEY = "FrameDuration"
BIDS_INJECTION_KEY = "InjectionStart"
BIDS_SCAN_START_KEY = "ScanStart"
ACQTIMES_SUFFIX = ".acqtimes"
OVERLAP_TOLERANCE_S = 1e-6
MIN_ACQUISITION_S = 600.0
"""A dynamic brain PET acquisition lasts 30-60 min; one that ends within 10 min when read in
seconds was written in minutes (BIDS-PET frame times are in seconds)."""


def _frozen_vector(values: object, name: str, source: str) -> np.ndarray:
    """A read-only 1-D float array of ``values``; FrameTimingError when not numeric."""
    try:
        array = np.array(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise FrameTimingError(f"{source}: {name} is not a list of numbers: {values!r}") from exc
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class FrameTiming:
    """Start and duration of each frame, in seconds; ``source`` names the file read."""

    start_s: np.ndarray
    duration_s: np.ndarray
    source: str = field(default="frame timing", compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_s", _frozen_vector(self.start_s, "start", self.source))
        object.__setattr__(
            self, "duration_s", _frozen_vector(self.duration_s, "duration", self.source)
        )
        self.validate()

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.start_s.size)

    @property
    def end_s(self) -> np.ndarray:
        """End of each frame, in seconds."""
        return self.start_s + self.duration_s

    @property
    def mid_s(self) -> np.ndarray:
        """Middle of each frame, in seconds."""
        return self.start_s + self.duration_s / 2.0

    @property
    def mid_min(self) -> np.ndarray:
        """Middle of each frame, in minutes."""
        return self.mid_s / 60.0

    def validate(self, n_frames: int | None = None) -> None:
        """Raise FrameTimingError unless the frames are consistent (and number ``n_frames``)."""
        where = self.source
        starts, durations = self.start_s, self.duration_s
        if starts.size != durations.size:
            raise FrameTimingError(
                f"{where}: {starts.size} frame starts but {durations.size} frame durations"
            )
        if starts.size == 0:
            raise FrameTimingError(f"{where}: no frames")
        if not (np.all(np.isfinite(starts)) and np.all(np.isfinite(durations))):
            raise FrameTimingError(f"{where}: frame times contain NaN or infinity")
        bad = np.flatnonzero(durations <= 0)
        if bad.size:
            raise FrameTimingError(
                f"{where}: frame {bad[0]} has duration {durations[bad[0]]} s (must be > 0)"
            )
        bad = np.flatnonzero(np.diff(starts) <= 0)
        if bad.size:
            i = bad[0]
            raise FrameTimingError(
                f"{where}: frame starts not increasing: frame {i + 1} starts at "
                f"{starts[i + 1]} s, frame {i} at {starts[i]} s"
            )
        ends = starts + durations
        bad = np.flatnonzero(starts[1:] < ends[:-1] - OVERLAP_TOLERANCE_S)
        if bad.size:
            i = bad[0]
            raise FrameTimingError(
                f"{where}: frame {i + 1} starts at {starts[i + 1]} s before frame {i} "
                f"ends at {ends[i]} s (overlapping frames)"
            )
        if n_frames is not None and n_frames != starts.size:
            raise FrameTimingError(
                f"{where}: timing lists {starts.size} frames but the image has {n_frames}"
            )


def sidecar_path(image_path: Path) -> Path:
    """The BIDS JSON sidecar of an image: same name with ``.json`` (``x.nii.gz`` -> ``x.json``)."""
    image_path = Path(image_path)
    name = image_path.name
    stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else image_path.stem
    return image_path.with_name(stem + ".json")


def read_bids_timing(json_path: Path) -> FrameTiming:
    """Frame timing from a BIDS-PET sidecar, in seconds from the injection."""
    json_path = Path(json_path)
    try:
        content = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FrameTimingError(f"{json_path}: frame timing sidecar not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameTimingError(f"{json_path}: cannot read the JSON sidecar: {exc}") from exc
    if not isinstance(content, dict):
        raise FrameTimingError(f"{json_path}: the sidecar is not a JSON object")
    missing = [key for key in (BIDS_START_KEY, BIDS_DURATION_KEY) if key not in content]
    if missing:
        raise FrameTimingError(f"{json_path}: missing key(s) {', '.join(missing)}")
    starts = _frozen_vector(content[BIDS_START_KEY], BIDS_START_KEY, str(json_path))
    injection = _seconds(content, BIDS_INJECTION_KEY, json_path)
    notes = []
    if injection is None:
        injection = 0.0
        notes.append(f"no {BIDS_INJECTION_KEY}: frame times taken as from the injection")
    scan_start = _seconds(content, BIDS_SCAN_START_KEY, json_path)
    if scan_start is not None and starts.size and abs(scan_start - starts[0]) > 1e-3:
        notes.append(
            f"{BIDS_SCAN_START_KEY} {scan_start:g} s is not the first frame's start "
            f"{starts[0]:g} s (both from TimeZero)"
        )
    return FrameTiming(
        starts - injection, content[BIDS_DURATION_KEY], source=str(json_path), notes=tuple(notes)
    )


def _seconds(content: dict, key: str, json_path: Path) -> float | None:
    """A finite number of seconds under ``key``, None when absent; FrameTimingError if bad."""
    value = content.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise FrameTimingError(f"{json_path}: {key} must be a number of seconds, got {value!r}")
    return float(value)


def timing_files(image_path: Path) -> tuple[Path, Path]:
    """The two files frame timing can come from: the BIDS sidecar and the PMOD acqtimes."""
    json_path = sidecar_path(image_path)
    return json_path, json_path.with_suffix(ACQTIMES_SUFFIX)


def read_frame_timing(image_path: Path, n_frames: int | None = None) -> FrameTiming:
    """Frame timing of a 4D image from its BIDS sidecar (``.json``) or, without one, its PMOD
    ``.acqtimes`` file, or of a DICOM series folder from its headers; checks the frame count
    when given. Both a sidecar and an acqtimes file is an error."""
    if Path(image_path).is_dir():
        from radiomix.data.suv import dicom_frame_timing

        timing = dicom_frame_timing(Path(image_path))
        timing.validate(n_frames)
        return timing
    json_path, acqtimes_path = timing_files(image_path)
    if json_path.is_file() and acqtimes_path.is_file():
        raise FrameTimingError(
            f"{image_path}: two frame timing files, {json_path.name} and "
            f"{acqtimes_path.name}; keep one"
        )
    if json_path.is_file():
        timing = read_bids_timing(json_path)
    elif acqtimes_path.is_file():
        timing = read_acqtimes(acqtimes_path)
    else:
        raise FrameTimingError(
            f"{image_path}: dynamic image without frame timing sidecar "
            f"{json_path.name} (or {acqtimes_path.name})"
        )
    timing.validate(n_frames)
    check_seconds(timing)
    return timing


def check_seconds(timing: FrameTiming) -> None:
    """FrameTimingError when the frame times look like minutes rather than seconds."""
    end = float(timing.end_s[-1])
    if end < MIN_ACQUISITION_S:
        raise FrameTimingError(
            f"{timing.source}: the last frame ends at {end:g} s, too short for a dynamic "
            f"acquisition (< {MIN_ACQUISITION_S:g} s); frame times must be in seconds, "
            "were they written in minutes?"
        )


def write_bids_timing(json_path: Path, timing: FrameTiming) -> None:
    """Write the frame timing into a BIDS-PET sidecar with ``InjectionStart`` 0 (times from
    the injection), keeping its other keys if it exists."""
    json_path = Path(json_path)
    content = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else {}
    content[BIDS_START_KEY] = timing.start_s.tolist()
    content[BIDS_DURATION_KEY] = timing.duration_s.tolist()
    content[BIDS_INJECTION_KEY] = 0
    json_path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def frame_table(timing: FrameTiming) -> list[dict[str, float]]:
    """One row per frame: number, start, end and mid-time in minutes from the injection."""
    return [
        {"frame": i, "start_min": start / 60.0, "end_min": end / 60.0, "mid_min": mid}
        for i, (start, end, mid) in enumerate(
            zip(timing.start_s, timing.end_s, timing.mid_min, strict=True)
        )
    ]


def timing_flags(timing: FrameTiming) -> list[str]:
    """What a reader should look at: frames starting before the injection, gaps between
    frames, and the reader's notes (no InjectionStart, ScanStart mismatch)."""
    flags = list(timing.notes)
    early = np.flatnonzero(timing.start_s < 0)
    if early.size:
        flags.append(
            f"{early.size} frame(s) start before the injection (frame "
            f"{early[0]} at {timing.start_s[early[0]] / 60.0:.2f} min)"
        )
    gaps = timing.start_s[1:] - timing.end_s[:-1]
    for i in np.flatnonzero(gaps > OVERLAP_TOLERANCE_S):
        flags.append(f"gap of {gaps[i]:g} s between frame {i} and frame {i + 1}")
    return flags


def _acqtimes_rows(path: Path) -> list[list[str]]:
    """The non-empty lines of a PMOD file, split into fields, comments removed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FrameTimingError(f"{path}: acquisition times file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FrameTimingError(f"{path}: cannot read the acquisition times: {exc}") from exc
    lines = (line.split("#", 1)[0].split() for line in text.splitlines())
    return [fields for fields in lines if fields]


def read_acqtimes(path: Path) -> FrameTiming:
    """Frame timing from a PMOD ``.acqtimes`` file: a frame count, then ``start end`` lines (s)."""
    path = Path(path)
    rows = _acqtimes_rows(path)
    if not rows or len(rows[0]) != 1:
        raise FrameTimingError(f"{path}: expected the number of frames on the first line")
    try:
        expected = int(rows[0][0])
        start_end = np.array([[float(v) for v in row] for row in rows[1:]], dtype=float)
    except ValueError as exc:
        raise FrameTimingError(f"{path}: non-numeric acquisition time: {exc}") from exc
    if start_end.ndim != 2 or start_end.shape[1] != 2:
        raise FrameTimingError(f"{path}: each frame line must hold a start and an end time")
    if start_end.shape[0] != expected:
        raise FrameTimingError(
            f"{path}: header announces {expected} frames but {start_end.shape[0]} are listed"
        )
    return FrameTiming(start_end[:, 0], start_end[:, 1] - start_end[:, 0], source=str(path))
