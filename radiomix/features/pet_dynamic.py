"""Dynamic PET features from ``pet_dynamic`` (4D, SUV) and its frame timing.

Conventions (all times from injection, in minutes):

- a frame's time is its **mid-time**; a frame belongs to a window [a, b] when a ≤ mid ≤ b;
- ``dyn_TTP_min``: mid-time of the frame where the lesion mean curve is highest;
- ``dyn_slope_suv_per_h``: least-squares slope of the lesion curve over the frames of
  ``slope_window_min`` (default 20–50), in SUV per hour; NaN with fewer than two frames;
- ``dyn_TBRmean_<a>_<b>``: duration-weighted mean of the lesion curve over ``tbr_window_min``
  (default 20–40) divided by that of the ``ref_background`` curve, i.e. the TBRmean of the
  time-averaged image of the window;
- ``dyn_pattern``: 3 when the peak is early (TTP ≤ ``early_peak_min``); otherwise 1
  (increasing) when the late slope exceeds ``rising_slope_per_h`` × the peak value, i.e. the
  curve still rises by more than that fraction of its peak per hour; otherwise 2 (peak after
  ``early_peak_min``, then plateau or fall: late slope ≤ that bound).

:func:`parametric_map` reduces the series to one value per voxel over a window (time-averaged
SUV, time to peak or slope) for the ``texture`` family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomix.data.images import Where, read_dynamic
from radiomix.data.manifest import Case
from radiomix.data.timing import FrameTiming, read_frame_timing
from radiomix.errors import ExtractionError
from radiomix.features.config import ExtractionConfig, PetDynamicConfig
from radiomix.features.regions import mask_array, ratio
from radiomix.features.registry import Extracted, register

CURVE_REGIONS = ("lesion_mask", "ref_background", "ref_wm", "ref_gm", "ref_striatum")
MINUTES_PER_HOUR = 60.0


def tbr_name(config: ExtractionConfig) -> str:
    """``dyn_TBRmean_20_40`` for the default window."""
    start, end = config.pet_dynamic.tbr_window_min
    return f"dyn_TBRmean_{start:g}_{end:g}".replace(".", "p")


def pet_dynamic_inputs(config: ExtractionConfig) -> dict[str, tuple[str, ...]]:
    """Every dynamic feature and the manifest columns it needs."""
    lesion = ("pet_dynamic", "lesion_mask")
    return {"dyn_TTP_min": lesion, "dyn_slope_suv_per_h": lesion, "dyn_pattern": lesion,
            tbr_name(config): (*lesion, "ref_background")}


def read_case_dynamic(case: Case) -> tuple[np.ndarray, sitk.Image, FrameTiming]:
    """Frames (t, z, y, x), the 3D grid of one frame and the validated frame timing."""
    path = case.path("pet_dynamic")
    frames, grid = read_dynamic(path, Where(case.case_id, "pet_dynamic", path))
    return frames, grid, read_frame_timing(path, n_frames=frames.shape[0])


def in_window(mid_min: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Frames whose mid-time lies in the window (inclusive)."""
    return (mid_min >= window[0]) & (mid_min <= window[1])


def region_curve(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each frame inside a boolean (z, y, x) mask."""
    return frames[:, mask].astype(np.float64).mean(axis=1)


def windowed_mean(curve: np.ndarray, timing: FrameTiming, window: tuple[float, float]) -> float:
    """Duration-weighted mean of a curve over the frames of a window; NaN when none."""
    chosen = in_window(timing.mid_min, window)
    if not chosen.any():
        return float("nan")
    return float(np.average(curve[chosen], weights=timing.duration_s[chosen]))


def late_slope_per_h(curve: np.ndarray, mid_min: np.ndarray,
                     window: tuple[float, float]) -> float:
    """Least-squares slope of a curve over a window, per hour; NaN with < 2 frames."""
    chosen = in_window(mid_min, window)
    if np.count_nonzero(chosen) < 2:
        return float("nan")
    slope_per_min = np.polyfit(mid_min[chosen], curve[chosen], 1)[0]
    return float(slope_per_min * MINUTES_PER_HOUR)


def curve_pattern(ttp_min: float, slope_per_h: float, peak: float,
                  settings: PetDynamicConfig) -> float:
    """1 increasing, 2 late peak then plateau or fall, 3 early peak (see module docstring)."""
    if ttp_min <= settings.early_peak_min:
        return 3.0
    if not np.isfinite(slope_per_h) or peak <= 0:
        return float("nan")
    return 1.0 if slope_per_h > settings.rising_slope_per_h * peak else 2.0


def curves_table(case_id: str, curves: dict[str, np.ndarray], mid_min: np.ndarray
                 ) -> pd.DataFrame:
    """Long table of region curves: case_id, region, frame, mid_min, suv."""
    parts = [pd.DataFrame({"case_id": case_id, "region": region,
                           "frame": np.arange(curve.size), "mid_min": mid_min, "suv": curve})
             for region, curve in curves.items()]
    return pd.concat(parts, ignore_index=True)


def time_average(frames: np.ndarray, mid_min: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    """Duration-weighted mean SUV of each voxel."""
    return np.average(frames, axis=0, weights=duration_s)


def time_to_peak(frames: np.ndarray, mid_min: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    """Mid-time (min) of each voxel's highest frame."""
    return mid_min[np.argmax(frames, axis=0)]


def slope(frames: np.ndarray, mid_min: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    """Least-squares slope of each voxel's curve, in SUV per hour."""
    centred = mid_min - mid_min.mean()
    per_min = np.tensordot(centred, frames, axes=1) / np.sum(centred**2)
    return per_min * MINUTES_PER_HOUR


PARAMETRIC_MAPS = {"sum": (time_average, 1), "ttp": (time_to_peak, 1), "slope": (slope, 2)}


def parametric_map(case: Case, kind: str, window: tuple[float, float]) -> sitk.Image:
    """A per-voxel map (``sum``, ``ttp`` or ``slope``) over the frames of a window."""
    function, fewest_frames = PARAMETRIC_MAPS[kind]
    frames, grid, timing = read_case_dynamic(case)
    chosen = in_window(timing.mid_min, window)
    if np.count_nonzero(chosen) < fewest_frames:
        raise ExtractionError(
            f"case {case.case_id}, column pet_dynamic, file {case.path('pet_dynamic')}: "
            f"{kind} map needs {fewest_frames} frame(s) with mid-time in {list(window)} min "
            f"(frames at {np.round(timing.mid_min, 2).tolist()} min)")
    values = function(frames[chosen].astype(np.float64), timing.mid_min[chosen],
                      timing.duration_s[chosen])
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.CopyInformation(grid)
    return image


@register("pet_dynamic", inputs=pet_dynamic_inputs)
def pet_dynamic(case: Case, config: ExtractionConfig) -> Extracted:
    """TTP, late slope, curve pattern and windowed TBRmean; returns the region curves too."""
    settings = config.pet_dynamic
    frames, grid, timing = read_case_dynamic(case)
    curves = {column: region_curve(frames, mask_array(case, column, grid))
              for column in CURVE_REGIONS if case.has(column)}
    lesion = curves["lesion_mask"]
    peak_frame = int(np.argmax(lesion))
    ttp = float(timing.mid_min[peak_frame])
    late_slope = late_slope_per_h(lesion, timing.mid_min, settings.slope_window_min)
    features = {"dyn_TTP_min": ttp, "dyn_slope_suv_per_h": late_slope,
                "dyn_pattern": curve_pattern(ttp, late_slope, float(lesion[peak_frame]),
                                             settings)}
    if "ref_background" in curves:
        background = windowed_mean(curves["ref_background"], timing, settings.tbr_window_min)
        lesion_mean = windowed_mean(lesion, timing, settings.tbr_window_min)
        features[tbr_name(config)] = ratio(lesion_mean, background)
    return Extracted(features, curves=curves_table(case.case_id, curves, timing.mid_min))

