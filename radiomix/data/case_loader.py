"""The images and masks of one case, each read in its own geometry and put on the grid its
features are computed on (see :mod:`radiomix.data.resample`).

The extractor families and ``radiomix validate`` read a case only through these functions,
so both see the same images.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from radiomix.data.images import (
    Where,
    binary_mask,
    is_dicom_file,
    rasterise_dicom_mask,
    read_dynamic,
    read_image,
    read_volume,
    split_roi,
)
from radiomix.data.manifest import Case
from radiomix.data.resample import (
    OWN,
    check_mask_inside,
    check_overlap,
    current,
    grid_key,
    resample_frames,
    resample_image,
    resample_mask,
    same_grid,
)
from radiomix.data.timing import FrameTiming, read_frame_timing
from radiomix.errors import ImageReadError, MaskError

REFERENCE_ORDER = ("pet", "pet_dynamic", "pet_early", "t1c", "adc", "rcbv", "flair", "pet_late")
DICOM_IMAGE_COLUMNS = ("pet", "t1c", "pet_early", "pet_late", "adc", "flair", "rcbv")


def reference_column(case: Case) -> str:
    """The first image column present: the grid of a case's summary checks."""
    for column in REFERENCE_ORDER:
        if column in case.paths:
            return column
    raise ImageReadError(f"case {case.case_id}: no image column is filled")


def where(case: Case, column: str) -> Where:
    """The location of a column of a case, for error messages."""
    return Where(case.case_id, column, split_roi(case.path(column))[0])


def native_grid(case: Case, column: str) -> sitk.Image:
    """The 3D grid of an image column in its own geometry (one frame of a 4D series)."""
    if column == "pet_dynamic":
        return read_dynamic(case.path(column), where(case, column))[1]
    return read_volume(case.path(column), where(case, column))


def target_grid(case: Case, column: str) -> sitk.Image | None:
    """The grid ``column`` is computed on, or None for its own grid."""
    target = current().settings.reference_for(column)
    if target in (OWN, column) or target not in case.paths:
        return None
    return native_grid(case, target)


def _resampled(case: Case, column: str, image: sitk.Image, reference: sitk.Image
               ) -> sitk.Image:
    state = current()
    key = ("image", column, grid_key(reference))
    if key not in state.resampled:
        check_overlap(image, reference, str(where(case, column)), state.settings.min_overlap)
        method = state.settings.image_interpolator
        state.resampled[key] = resample_image(image, reference, method)
        state.note(f"{column} grid", f"resampled ({method}) onto {_describe(reference)}")
    return state.resampled[key]


def _describe(image: sitk.Image) -> str:
    size = "x".join(str(n) for n in image.GetSize()[:3])
    spacing = "x".join(f"{s:g}" for s in image.GetSpacing()[:3])
    return f"{size} voxels of {spacing} mm"


def load_case_image(case: Case, column: str) -> sitk.Image:
    """The 3D image of ``column`` on the grid its features are computed on."""
    image = read_volume(case.path(column), where(case, column))
    reference = target_grid(case, column)
    if reference is None or same_grid(image, reference):
        return image
    return _resampled(case, column, image, reference)


def load_case_dynamic(case: Case) -> tuple[np.ndarray, sitk.Image, FrameTiming]:
    """Frames (t, z, y, x) of ``pet_dynamic`` on its feature grid, that grid, and the frame
    timing (BIDS sidecar of a 4D file, or the headers of a DICOM series)."""
    path = case.path("pet_dynamic")
    frames, grid = read_dynamic(path, where(case, "pet_dynamic"))
    timing = read_frame_timing(path, n_frames=frames.shape[0])
    reference = target_grid(case, "pet_dynamic")
    if reference is None or same_grid(grid, reference):
        return frames, grid, timing
    state = current()
    check_overlap(grid, reference, str(where(case, "pet_dynamic")), state.settings.min_overlap)
    method = state.settings.image_interpolator
    state.note("pet_dynamic grid", f"resampled ({method}) onto {_describe(reference)}")
    return resample_frames(frames, grid, reference, method), reference, timing


def dicom_series_of(case: Case) -> sitk.Image | None:
    """The first image column of a case given as a DICOM series folder (what RTSTRUCT and
    SEG masks are drawn on), read as an image; None when there is none."""
    column = next((c for c in DICOM_IMAGE_COLUMNS if c in case.paths
                   and case.paths[c].is_dir()), None)
    return None if column is None else (column, read_volume(case.paths[column],
                                                              where(case, column)))


def native_mask(case: Case, column: str) -> sitk.Image:
    """The mask of ``column`` in its own geometry, as uint8 {0, 1}.

    An RTSTRUCT or DICOM-SEG is rasterised on the grid of the case's DICOM series.
    """
    file, roi = split_roi(case.path(column))
    location = where(case, column)
    if not file.exists():
        raise ImageReadError(f"{location}: file not found")
    if not is_dicom_file(file):
        return binary_mask(read_volume(file, location), location)
    series = dicom_series_of(case)
    if series is None:
        raise MaskError(f"{location}: a DICOM RTSTRUCT or SEG needs its image as a DICOM "
                        "series folder in an image column of the case")
    series_column, image = series
    mask = rasterise_dicom_mask(file, roi, image, location, case.paths[series_column])
    return binary_mask(mask, location)


def load_case_mask(case: Case, column: str, reference: sitk.Image) -> sitk.Image:
    """The mask of ``column`` on the grid of ``reference`` (uint8 {0, 1}).

    A mask on another grid is resampled (nearest neighbour or partial volume, as configured);
    MaskError when nothing of it is left on the reference grid.
    """
    mask = native_mask(case, column)
    if same_grid(mask, reference):
        return mask
    state = current()
    key = ("mask", column, grid_key(reference))
    if key not in state.resampled:
        location = str(where(case, column))
        check_overlap(mask, reference, location, state.settings.min_overlap)
        check_mask_inside(mask, reference, location)
        method = state.settings.mask_interpolator
        state.resampled[key] = binary_mask(resample_mask(mask, reference, method),
                                           where(case, column))
        state.note(f"{column} onto {_describe(reference)}", method)
    return state.resampled[key]


def case_image_voxels(case: Case, column: str) -> np.ndarray:
    """The voxels of an image column as read (a 4D series as (t, z, y, x))."""
    if column == "pet_dynamic":
        return load_case_dynamic(case)[0]
    return sitk.GetArrayViewFromImage(read_image(case.path(column), where(case, column)))
