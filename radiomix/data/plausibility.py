"""Unit and plausibility checks of a case's images and masks (``configs/plausibility.yaml``).

Each check returns a message naming what is implausible, or None; the caller adds the case,
column and file. They run in ``radiomix validate`` and before extraction, so an image in
the wrong unit is refused rather than turned into features that look right.
"""

from __future__ import annotations

import functools

import numpy as np

from radiomix.paths import CONFIG_DIR
from radiomix.yaml_io import read_yaml

SIDE_MARGIN_MM = 5.0  # a lesion or region this close to the plane has no clear side
ADC_SCALES = {1e-3: "mm²/s (multiply by 1000)", 1e3: "10⁻⁶ mm²/s (divide by 1000)"}


@functools.cache
def ranges() -> dict:
    """The plausible ranges of ``configs/plausibility.yaml``."""
    return read_yaml(CONFIG_DIR / "plausibility.yaml", "plausibility ranges")


def normal_brain_problem(value: float, tracer: str) -> str | None:
    """Whether a normal-brain PET value is SUV in the tracer's plausible range.

    An image left in activity concentration (Bq/mL) is refused earlier, when it is read, by
    the one check of the PET scale (:func:`radiomix.data.integrity.check_pet_values`).
    """
    low, high = ranges()["normal_brain_suv"].get(tracer, (None, None))
    if low is not None and not low <= value <= high:
        return (
            f"normal-brain SUV {value:.3g} is outside the plausible range "
            f"[{low:g}, {high:g}] of {tracer}"
        )
    return None


def adc_problem(values: np.ndarray) -> str | None:
    """Whether an ADC map is in 10⁻³ mm²/s (median of its non-zero voxels)."""
    nonzero = values[values > 0]
    if nonzero.size == 0:
        return "ADC map has no positive voxel"
    median = float(np.median(nonzero))
    low, high = ranges()["adc_median"]
    if low <= median <= high:
        return None
    for scale, unit in ADC_SCALES.items():
        if low * scale <= median <= high * scale:
            return f"ADC median {median:.3g} looks like {unit}; expected 10⁻³ mm²/s"
    return f"ADC median {median:.3g} is outside [{low:g}, {high:g}] × 10⁻³ mm²/s"


def border_problem(lesion: np.ndarray) -> str | None:
    """Whether a (z, y, x) lesion mask touches the border of its image (a cut lesion)."""
    faces = [np.take(lesion, index, axis=axis) for axis in range(lesion.ndim) for index in (0, -1)]
    if any(face.any() for face in faces):
        return (
            "lesion cut by the field of view: the mask touches the image border, so the "
            "lesion's volume, TBR and texture would be wrong"
        )
    return None


def overlap_problem(region: np.ndarray, lesion: np.ndarray) -> str | None:
    """Whether a reference region overlaps the lesion (both on one grid)."""
    shared = int(np.count_nonzero(region & lesion))
    if shared / max(int(np.count_nonzero(region)), 1) > ranges()["max_reference_overlap"]:
        return f"reference region overlaps the lesion ({shared} voxels)"
    return None


def side_problem(lesion_side: float, region_side: float) -> str | None:
    """Whether a contralateral region lies on the lesion's side of the mid-sagittal plane
    (mean signed distances from the plane, mm)."""
    clear = min(abs(lesion_side), abs(region_side)) >= SIDE_MARGIN_MM
    if clear and np.sign(lesion_side) == np.sign(region_side):
        return (
            "reference region is on the lesion's side of the mid-sagittal plane "
            f"(its centre {abs(region_side):.0f} mm from the plane, the lesion "
            f"{abs(lesion_side):.0f} mm); the background must be contralateral"
        )
    return None
