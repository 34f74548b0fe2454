"""Frame timing: PMOD acqtimes against the real PiB .tac, BIDS sidecars, validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radiomix.data.timing import (
    FrameTiming,
    read_acqtimes,
    read_bids_timing,
    read_frame_timing,
    sidecar_path,
    timing_flags,
    write_bids_timing,
)
from radiomix.errors import FrameTimingError

FET_START_S = [0, 60, 120, 180, 240, 300, 480, 660, 840, 1020]
FET_DURATION_S = [60] * 5 + [180] * 5


def _tac_frame_columns(tac_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Frame start and end (first two columns) of a PMOD .tac table, read with numpy."""
    table = np.loadtxt(tac_path, skiprows=1, usecols=(0, 1))
    return table[:, 0], table[:, 1]


def _write_sidecar(path: Path, content: dict) -> Path:
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


@pytest.mark.shared
def test_acqtimes_match_the_tac_frame_columns(shared_data: Path) -> None:
    folder = shared_data / "pet" / "pib_tacs"
    timing = read_acqtimes(folder / "AD06.acqtimes")
    tac_start, tac_end = _tac_frame_columns(folder / "AD06.tac")
    assert timing.n_frames == 34 == tac_start.size
    np.testing.assert_array_equal(timing.start_s, tac_start)
    np.testing.assert_array_equal(timing.end_s, tac_end)
    assert timing.start_s[0] == 0.0
    assert timing.end_s[-1] == 5400.0
    np.testing.assert_allclose(timing.mid_min, (tac_start + tac_end) / 2 / 60)


def test_derived_times() -> None:
    timing = FrameTiming(FET_START_S, FET_DURATION_S)
    assert timing.n_frames == 10
    assert timing.mid_s[0] == 30.0
    assert timing.mid_s[-1] == 1110.0
    assert timing.mid_min[5] == pytest.approx(6.5)
    assert timing.end_s[-1] == 1200.0


def test_bids_round_trip_keeps_other_keys(tmp_path: Path) -> None:
    json_path = _write_sidecar(tmp_path / "pet.json", {"TracerName": "FET"})
    write_bids_timing(json_path, FrameTiming(FET_START_S, FET_DURATION_S))
    content = json.loads(json_path.read_text())
    assert content["TracerName"] == "FET"
    assert content["FrameTimesStart"] == FET_START_S
    assert content["InjectionStart"] == 0
    back = read_bids_timing(json_path)
    assert back.notes == ()
    np.testing.assert_array_equal(back.start_s, FET_START_S)
    np.testing.assert_array_equal(back.duration_s, FET_DURATION_S)


def test_sidecar_path_strips_nii_gz() -> None:
    assert sidecar_path(Path("a/sub-01_pet.nii.gz")) == Path("a/sub-01_pet.json")
    assert sidecar_path(Path("a/sub-01_pet.nii")) == Path("a/sub-01_pet.json")
    assert sidecar_path(Path("a/dyn.v2.nrrd")) == Path("a/dyn.v2.json")


def test_read_frame_timing_next_to_image(tmp_path: Path) -> None:
    _write_sidecar(
        tmp_path / "dyn.json", {"FrameTimesStart": FET_START_S, "FrameDuration": FET_DURATION_S}
    )
    timing = read_frame_timing(tmp_path / "dyn.nii.gz", n_frames=10)
    assert timing.end_s[-1] == 1200.0


@pytest.mark.parametrize(
    ("starts", "durations", "n_frames", "message"),
    [
        ([0, 60, 120], [60, 60, 60], 4, "image has 4"),
        ([0, 60, 120], [60, 60], None, "3 frame starts but 2"),
        ([0, 50, 120], [60, 60, 60], None, "overlapping"),
        ([0, 120, 60], [60, 60, 60], None, "not increasing"),
        ([0, 60, 60], [60, 60, 60], None, "not increasing"),
        ([0, 60, 120], [60, 0, 60], None, "duration 0.0"),
    ],
)
def test_validation_errors_name_the_file(
    tmp_path: Path, starts: list, durations: list, n_frames: int | None, message: str
) -> None:
    _write_sidecar(tmp_path / "dyn.json", {"FrameTimesStart": starts, "FrameDuration": durations})
    with pytest.raises(FrameTimingError, match=message) as info:
        read_frame_timing(tmp_path / "dyn.nii.gz", n_frames=n_frames)
    assert "dyn.json" in str(info.value)


def test_frame_times_in_minutes_are_refused(tmp_path: Path) -> None:
    minutes = {
        "FrameTimesStart": [t / 60 for t in FET_START_S],
        "FrameDuration": [d / 60 for d in FET_DURATION_S],
    }
    _write_sidecar(tmp_path / "dyn.json", minutes)
    with pytest.raises(FrameTimingError, match=r"ends at 20 s.*written in minutes"):
        read_frame_timing(tmp_path / "dyn.nii.gz", n_frames=10)


def test_touching_frames_within_tolerance_are_accepted() -> None:
    timing = FrameTiming([0.0, 60.0 - 5e-7], [60.0, 60.0])
    assert timing.n_frames == 2


def test_missing_sidecar_names_the_image(tmp_path: Path) -> None:
    with pytest.raises(FrameTimingError, match=r"dyn.nii.gz.*dyn.json"):
        read_frame_timing(tmp_path / "dyn.nii.gz")


@pytest.mark.parametrize("missing", ["FrameTimesStart", "FrameDuration"])
def test_missing_key_is_named(tmp_path: Path, missing: str) -> None:
    content = {"FrameTimesStart": [0, 60], "FrameDuration": [60, 60]}
    del content[missing]
    json_path = _write_sidecar(tmp_path / "pet.json", content)
    with pytest.raises(FrameTimingError, match=rf"pet.json.*{missing}"):
        read_bids_timing(json_path)


def test_malformed_json_and_text_values(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(FrameTimingError, match=r"broken.json"):
        read_bids_timing(broken)
    words = _write_sidecar(
        tmp_path / "words.json", {"FrameTimesStart": ["a"], "FrameDuration": [1]}
    )
    with pytest.raises(FrameTimingError, match=r"words.json.*not a list of numbers"):
        read_bids_timing(words)


def test_acqtimes_count_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "bad.acqtimes"
    path.write_text("# start end\n3 # Number of acquisitions\n0\t15\n15\t30\n", encoding="utf-8")
    with pytest.raises(FrameTimingError, match=r"bad.acqtimes.*3 frames but 2"):
        read_acqtimes(path)


def test_timing_arrays_are_read_only() -> None:
    timing = FrameTiming([0, 60], [60, 60])
    with pytest.raises(ValueError):
        timing.start_s[0] = 5.0


@pytest.mark.parametrize("injection_start", [-120, 0, 45.5])
def test_bids_times_are_from_the_injection(tmp_path: Path, injection_start: float) -> None:
    """BIDS: FrameTimesStart and InjectionStart are both from TimeZero."""
    json_path = _write_sidecar(
        tmp_path / "pet.json",
        {
            "FrameTimesStart": FET_START_S,
            "FrameDuration": FET_DURATION_S,
            "InjectionStart": injection_start,
            "TimeZero": "10:00:00",
            "ScanStart": FET_START_S[0],
        },
    )
    timing = read_bids_timing(json_path)
    np.testing.assert_allclose(timing.start_s, np.array(FET_START_S) - injection_start)
    np.testing.assert_allclose(timing.duration_s, FET_DURATION_S)
    assert timing.notes == ()


def test_missing_injection_start_and_scan_start_mismatch_are_noted(tmp_path: Path) -> None:
    json_path = _write_sidecar(
        tmp_path / "pet.json",
        {"FrameTimesStart": FET_START_S, "FrameDuration": FET_DURATION_S, "ScanStart": 30},
    )
    notes = read_bids_timing(json_path).notes
    assert notes[0] == "no InjectionStart: frame times taken as from the injection"
    assert notes[1] == "ScanStart 30 s is not the first frame's start 0 s (both from TimeZero)"


def test_bad_injection_start_is_an_error(tmp_path: Path) -> None:
    json_path = _write_sidecar(
        tmp_path / "pet.json",
        {"FrameTimesStart": [0], "FrameDuration": [60], "InjectionStart": "10:00"},
    )
    with pytest.raises(FrameTimingError, match=r"pet.json: InjectionStart must be a number"):
        read_bids_timing(json_path)


def test_flags_name_frames_before_injection_and_gaps() -> None:
    timing = FrameTiming([-30, 30, 120, 180], [60, 60, 60, 60])
    assert timing_flags(timing) == [
        "1 frame(s) start before the injection (frame 0 at -0.50 min)",
        "gap of 30 s between frame 1 and frame 2",
    ]
    assert timing_flags(FrameTiming(FET_START_S, FET_DURATION_S)) == []


def test_acqtimes_beside_the_image_are_read_when_there_is_no_sidecar(tmp_path: Path) -> None:
    (tmp_path / "dyn.acqtimes").write_text("2\n0 600\n600 1800\n", encoding="utf-8")
    timing = read_frame_timing(tmp_path / "dyn.nii.gz", n_frames=2)
    np.testing.assert_array_equal(timing.end_s, [600, 1800])
    _write_sidecar(tmp_path / "dyn.json", {"FrameTimesStart": [0, 60], "FrameDuration": [60, 120]})
    with pytest.raises(FrameTimingError, match="two frame timing files"):
        read_frame_timing(tmp_path / "dyn.nii.gz")
