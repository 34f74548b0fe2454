"""Dynamic PET features from ``pet_dynamic`` (4D, SUV) and its frame timing.

Conventions (all times from injection, in minutes; see :mod:`radiomix.data.timing`):

- a frame's time is its **mid-time**; a frame belongs to a window [a, b] when a ≤ mid ≤ b;
- the **summed image** of the case's tracer's TBR window (``tbr_window_min``, per tracer:
  ``PetDynamicConfig.for_tracer``; FET 20–40 min) is the duration-weighted mean of its
  frames. Each windowed feature names its window, so a table holds one set per configured
  window and a case fills its tracer's set only (the others are left NaN as not
  applicable, see :attr:`Extracted.not_applicable`);
- ``dyn_TBRmean_<a>_<b>`` / ``dyn_TBRmax_<a>_<b>``: lesion-mask mean / max of the summed image
  over the ``ref_background`` mean of the summed image (whole mask);
- ``dyn_TBRmean_btv_<a>_<b>``: mean of the summed image in its biological tumour volume
  (≥ 1.6 × background mean, searched in the lesion mask grown by ``btv.margin_mm``, reference
  regions left out) over the background mean; the whole-mask value when the BTV is empty;
- the **curve VOI** (``curve_voi``): by default a 2 ml sphere centred on the hottest voxel of
  the summed image within the lesion mask and its BTV (the Jülich method); or the
  ``isocontour`` (voxels ≥ 90 % of that voxel connected to it in the search region), the
  ``btv`` (the mask when it is empty) or the whole lesion ``mask``. Its curve is written
  with the region curves as ``lesion_<kind>``; ``dyn_curve_voi_ml`` is its volume;
- ``dyn_TTP_min``, ``dyn_slope_suv_per_h``, ``dyn_pattern``: :func:`curve_kinetics` of the
  curve VOI, with the tracer's settings (``PetDynamicConfig.for_tracer``): time to peak (the
  mid-time of the highest frame), least-squares slope over ``slope_window_min`` in SUV per
  hour (NaN with fewer than two frames) and the pattern of :func:`curve_pattern`.

:func:`parametric_map` reduces the series to one value per voxel over a window (time-averaged
SUV, time to peak or slope) for the ``texture`` family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from radiomix.data.case_loader import load_case_dynamic
from radiomix.data.manifest import Case
from radiomix.data.timing import FrameTiming
from radiomix.errors import ExtractionError
from radiomix.features.config import (
    CurveVoiConfig,
    ExtractionConfig,
    KineticsConfig,
    number_tag,
)
from radiomix.features.pet_static import btv_tbr
from radiomix.features.regions import (
    bounding_box,
    mask_array,
    ratio,
    search_region,
    sphere_radius_mm,
    spherical_kernel,
    voxel_volume_ml,
)
from radiomix.features.registry import Extracted, register

CURVE_REGIONS = ("lesion_mask", "ref_background", "ref_wm", "ref_gm", "ref_striatum")
MINUTES_PER_HOUR = 60.0
CURVE_VOI_ML = "dyn_curve_voi_ml"  # set for every case with a dynamic series
KINETICS = ("dyn_TTP_min", "dyn_slope_suv_per_h", "dyn_pattern", CURVE_VOI_ML)


def window_tag(window: tuple[float, float]) -> str:
    """``(20, 40)`` -> ``20_40``."""
    return f"{number_tag(window[0])}_{number_tag(window[1])}"


def tbr_names(config: ExtractionConfig, tracer: str | None = None) -> dict[str, str]:
    """``mean``/``max``/``btv`` -> ``dyn_TBRmean_20_40``/``dyn_TBRmax_20_40``/
    ``dyn_TBRmean_btv_20_40`` for the TBR window of ``tracer`` (None: the default window)."""
    return window_tbr_names(config.pet_dynamic.for_tracer(tracer).tbr_window_min)


def window_tbr_names(window: tuple[float, float]) -> dict[str, str]:
    """The windowed TBR names of one window (see :func:`tbr_names`)."""
    tag = window_tag(window)
    return {
        "mean": f"dyn_TBRmean_{tag}",
        "max": f"dyn_TBRmax_{tag}",
        "btv": f"dyn_TBRmean_btv_{tag}",
    }


def windowed_names(config: ExtractionConfig) -> list[str]:
    """Every windowed TBR name of the configuration: one set per configured TBR window."""
    return [
        name
        for window in config.pet_dynamic.tbr_windows()
        for name in window_tbr_names(window).values()
    ]


def pet_dynamic_inputs(config: ExtractionConfig) -> dict[str, tuple[str, ...]]:
    """Every dynamic feature and the manifest columns it needs."""
    lesion: tuple[str, ...] = ("pet_dynamic", "lesion_mask")
    inputs = dict.fromkeys(KINETICS, lesion)
    if config.pet_dynamic.curve_voi.kind == "btv":
        inputs = dict.fromkeys(KINETICS, (*lesion, "ref_background"))
    return inputs | dict.fromkeys(windowed_names(config), (*lesion, "ref_background"))


def read_case_dynamic(case: Case) -> tuple[np.ndarray, sitk.Image, FrameTiming]:
    """Frames (t, z, y, x), the 3D grid of one frame and the validated frame timing."""
    return load_case_dynamic(case)


def in_window(mid_min: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Frames whose mid-time lies in the window (inclusive)."""
    return (mid_min >= window[0]) & (mid_min <= window[1])


def region_curve(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each frame inside a boolean (z, y, x) mask."""
    return frames[:, mask].astype(np.float64).mean(axis=1)


def late_slope_per_h(curve: np.ndarray, mid_min: np.ndarray, window: tuple[float, float]) -> float:
    """Least-squares slope of a curve over a window, per hour; NaN with < 2 frames."""
    chosen = in_window(mid_min, window)
    if np.count_nonzero(chosen) < 2:
        return float("nan")
    slope_per_min = np.polyfit(mid_min[chosen], curve[chosen], 1)[0]
    return float(slope_per_min * MINUTES_PER_HOUR)


def curve_pattern(
    ttp_min: float, slope_per_h: float, peak: float, settings: KineticsConfig
) -> float:
    """FET curve pattern: 3 early peak (TTP ≤ ``early_peak_min``); otherwise 1 increasing
    (late slope > ``rising_slope_per_h`` × peak value per hour) or 2 (later peak, then plateau
    or fall); NaN when the slope is unknown. Patterns after Pöpperl 2007 (unchecked)."""
    if ttp_min <= settings.early_peak_min:
        return 3.0
    if not np.isfinite(slope_per_h) or peak <= 0:
        return float("nan")
    return 1.0 if slope_per_h > settings.rising_slope_per_h * peak else 2.0


def curve_kinetics(
    curve: np.ndarray, mid_min: np.ndarray, settings: KineticsConfig
) -> dict[str, float]:
    """Time to peak (mid-time of the highest frame, min), late slope (SUV/h) and pattern of
    one time-activity curve: the one definition the extractor and the simulator share."""
    peak_frame = int(np.argmax(curve))
    ttp = float(mid_min[peak_frame])
    late_slope = late_slope_per_h(curve, mid_min, settings.slope_window_min)
    return {
        "dyn_TTP_min": ttp,
        "dyn_slope_suv_per_h": late_slope,
        "dyn_pattern": curve_pattern(ttp, late_slope, float(curve[peak_frame]), settings),
    }


def curves_table(case_id: str, curves: dict[str, np.ndarray], mid_min: np.ndarray) -> pd.DataFrame:
    """Long table of region curves: case_id, region, frame, mid_min, suv."""
    parts = [
        pd.DataFrame(
            {
                "case_id": case_id,
                "region": region,
                "frame": np.arange(curve.size),
                "mid_min": mid_min,
                "suv": curve,
            }
        )
        for region, curve in curves.items()
    ]
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
            f"(frames at {np.round(timing.mid_min, 2).tolist()} min)"
        )
    values = function(
        frames[chosen].astype(np.float64), timing.mid_min[chosen], timing.duration_s[chosen]
    )
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.CopyInformation(grid)
    return image


def summed_image(
    frames: np.ndarray, timing: FrameTiming, window: tuple[float, float]
) -> np.ndarray | None:
    """Duration-weighted mean of the frames of a window (one frame at a time, in float64);
    None when it has no frame."""
    chosen = np.flatnonzero(in_window(timing.mid_min, window))
    if not chosen.size:
        return None
    total = np.zeros(frames.shape[1:], dtype=np.float64)
    for frame in chosen:
        total += frames[frame] * timing.duration_s[frame]
    return total / timing.duration_s[chosen].sum()


def tbr_features(
    summed: np.ndarray,
    lesion: np.ndarray,
    background: np.ndarray,
    search: np.ndarray,
    config: ExtractionConfig,
    tracer: str | None = None,
) -> tuple[dict, np.ndarray]:
    """Whole-mask TBRmean and TBRmax and BTV TBRmean of the summed image of the tracer's
    TBR window, named after that window, and the BTV."""
    names = tbr_names(config, tracer)
    background_mean = float(summed[background].mean())
    btv, btv_tbr_value = btv_tbr(summed, lesion, search, background_mean, config.btv)
    return {
        names["mean"]: ratio(float(summed[lesion].mean()), background_mean),
        names["max"]: ratio(float(summed[lesion].max()), background_mean),
        names["btv"]: btv_tbr_value,
    }, btv


def hottest_voxel(summed: np.ndarray, where: np.ndarray, kernel: np.ndarray) -> tuple[int, ...]:
    """Index of the highest voxel of ``summed`` within ``where``; among tied voxels, the one
    whose ``kernel`` neighbourhood has the highest mean (as IBSI breaks peak ties)."""
    tied = where & (summed == summed[where].max())
    box = bounding_box(tied, [size // 2 for size in kernel.shape])
    means = ndimage.correlate(summed[box], kernel.astype(np.float64), mode="constant")
    local = np.flatnonzero(tied[box])
    best = np.unravel_index(local[np.argmax(means.ravel()[local])], tied[box].shape)
    return tuple(int(index + part.start) for index, part in zip(best, box, strict=True))


def curve_voi(
    summed: np.ndarray,
    lesion: np.ndarray,
    btv: np.ndarray | None,
    search: np.ndarray,
    grid: sitk.Image,
    settings: CurveVoiConfig,
) -> np.ndarray:
    """The curve VOI of the configuration (see the module docstring)."""
    if settings.kind == "mask":
        return lesion
    if settings.kind == "btv":
        assert btv is not None  # a btv curve VOI needs ref_background (pet_dynamic_inputs)
        return btv if btv.any() else lesion
    kernel = spherical_kernel(grid.GetSpacing()[:3], sphere_radius_mm(settings.sphere_ml))
    peak = hottest_voxel(summed, lesion | btv if btv is not None else lesion, kernel)
    if settings.kind == "isocontour":
        above = (summed >= settings.isocontour_fraction * summed[peak]) & (search | lesion)
        labels, _ = ndimage.label(above, structure=np.ones((3, 3, 3), dtype=bool))
        return labels == labels[peak]
    return sphere_around(peak, summed.shape, kernel)


def sphere_around(
    centre: tuple[int, ...], shape: tuple[int, ...], kernel: np.ndarray
) -> np.ndarray:
    """Boolean (z, y, x) mask of the ``kernel`` (a sphere) centred on voxel ``centre``,
    clipped at the image border."""
    sphere = np.zeros(shape, dtype=bool)
    target, source = [], []
    for position, half, size in zip(centre, [k // 2 for k in kernel.shape], shape, strict=True):
        low, high = max(position - half, 0), min(position + half + 1, size)
        target.append(slice(low, high))
        source.append(slice(low - (position - half), high - (position - half)))
    sphere[tuple(target)] = kernel[tuple(source)]
    return sphere


def voi_region_name(settings: CurveVoiConfig) -> str:
    """The curves-table region of the curve VOI: ``lesion_sphere_2ml``, ``lesion_iso90``,
    ``lesion_btv`` or ``lesion_mask``."""
    if settings.kind == "sphere":
        return f"lesion_sphere_{settings.sphere_ml:g}ml".replace(".", "p")
    if settings.kind == "isocontour":
        return f"lesion_iso{100 * settings.isocontour_fraction:g}".replace(".", "p")
    return f"lesion_{settings.kind}"


@register("pet_dynamic", inputs=pet_dynamic_inputs)
def pet_dynamic(case: Case, config: ExtractionConfig) -> Extracted:
    """Whole-mask and BTV TBR of the summed window, and the kinetics of the curve VOI;
    returns the region curves (and the curve VOI's) too."""
    settings = config.pet_dynamic
    tracer = settings.for_tracer(case.tracer)
    frames, grid, timing = read_case_dynamic(case)
    masks = {column: mask_array(case, column, grid) for column in CURVE_REGIONS if case.has(column)}
    lesion = masks["lesion_mask"]
    summed = summed_image(frames, timing, tracer.tbr_window_min)
    window_has_frames = summed is not None
    problems = (
        []
        if window_has_frames
        else [
            f"case {case.case_id}: no frame with mid-time in {list(tracer.tbr_window_min)} min "
            f"(the {case.tracer or 'default'} TBR window): no windowed TBR; the curve VOI is "
            "placed on the mean of all frames"
        ]
    )
    if summed is None:
        summed = summed_image(frames, timing, (-np.inf, np.inf))
        assert summed is not None  # every frame lies in an unbounded window
    search = search_region(case, grid, lesion, config.btv.margin_mm)
    features: dict[str, float] = {}
    btv: np.ndarray | None = None
    if "ref_background" in masks:
        tbr, btv = tbr_features(
            summed, lesion, masks["ref_background"], search, config, case.tracer
        )
        features |= tbr if window_has_frames else {}
    voi = curve_voi(summed, lesion, btv, search, grid, settings.curve_voi)
    curves = {column: region_curve(frames, mask) for column, mask in masks.items()}
    curves[voi_region_name(settings.curve_voi)] = region_curve(frames, voi)
    features |= curve_kinetics(curves[voi_region_name(settings.curve_voi)], timing.mid_min, tracer)
    features[CURVE_VOI_ML] = int(voi.sum()) * voxel_volume_ml(grid)
    own = set(tbr_names(config, case.tracer).values())
    return Extracted(
        features,
        curves=curves_table(case.case_id, curves, timing.mid_min),
        problems=problems,
        not_applicable=[name for name in windowed_names(config) if name not in own],
    )
