"""The images and masks of one case, each read in its own geometry and put on the grid its
features are computed on (see :mod:`radiomix.data.resample`).

The extractor families and ``radiomix validate`` read a case only through these functions,
so both see the same images.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiomix.data.images import (
    Where,
    binary_mask,
    is_dicom_file,
    rasterise_dicom_mask,
    read_binary_mask,
    read_dynamic,
    read_volume,
    split_roi,
)
from radiomix.data.manifest import Case
from radiomix.data.registration import register_rigid
from radiomix.data.resample import (
    MRI_COLUMNS,
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
    registered = mri_to_pet(case)
    if registered is not None and column in MRI_COLUMNS:
        return native_grid(case, registered[0])
    target = current().settings.reference_for(column)
    if target in (OWN, column) or target not in case.paths:
        return None
    return native_grid(case, target)


def case_folder(case: Case) -> Path:
    """The folder of a case's derived files (a temporary one outside an extraction run)."""
    root = current().derived or Path(tempfile.gettempdir()) / "radiomix_derived"
    folder = root / re.sub(r"[^A-Za-z0-9._-]", "_", case.case_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def mri_to_pet(case: Case) -> tuple[str, sitk.Transform] | None:
    """The PET column and the rigid transform from it to the case's MRI (the T1c), when the
    configuration asks for registration; computed once per case, saved as a file."""
    state = current()
    pet = next((c for c in ("pet", "pet_early") if c in case.paths), None)
    if not state.settings.register_mri_to_pet or pet is None or "t1c" not in case.paths:
        return None
    if state.mri_to_pet is None:
        fixed = read_volume(case.paths[pet], where(case, pet))
        moving = read_volume(case.paths["t1c"], where(case, "t1c"))
        transform = register_rigid(fixed, moving, str(where(case, "t1c")))
        path = case_folder(case) / "mri_to_pet.tfm"
        sitk.WriteTransform(transform, str(path))
        state.note(
            "MRI to PET registration",
            {
                "file": str(path),
                "fixed": pet,
                "moving": "t1c",
                "euler_parameters": [round(v, 5) for v in transform.GetParameters()],
            },
        )
        state.mri_to_pet = (pet, transform)
    return state.mri_to_pet


def _mask_transform(case: Case, mask: sitk.Image) -> sitk.Transform | None:
    """The registration transform for a mask drawn in MRI space (on the T1c's grid)."""
    registered = mri_to_pet(case)
    if registered is None:
        return None
    pet, transform = registered
    in_mri = same_grid(mask, native_grid(case, "t1c"))
    return transform if in_mri and not same_grid(mask, native_grid(case, pet)) else None


def _resampled(case: Case, column: str, image: sitk.Image, reference: sitk.Image) -> sitk.Image:
    state = current()
    key = ("image", column, grid_key(reference))
    if key not in state.resampled:
        registered = mri_to_pet(case) if column in MRI_COLUMNS else None
        transform = registered[1] if registered else None
        if transform is None:
            check_overlap(image, reference, str(where(case, column)), state.settings.min_overlap)
        method = state.settings.image_interpolator
        state.resampled[key] = resample_image(image, reference, method, transform)
        moved = " through the MRI to PET registration" if transform else ""
        state.note(f"{column} grid", f"resampled ({method}) onto {_describe(reference)}{moved}")
    return state.resampled[key]


def _describe(image: sitk.Image) -> str:
    size = "x".join(str(n) for n in image.GetSize()[:3])
    spacing = "x".join(f"{s:g}" for s in image.GetSpacing()[:3])
    return f"{size} voxels of {spacing} mm"


def load_case_image(case: Case, column: str) -> sitk.Image:
    """The 3D image of ``column`` on the grid its features are computed on."""
    image = read_volume(case.path(column), where(case, column))
    reference = target_grid(case, column)
    registered = column in MRI_COLUMNS and mri_to_pet(case) is not None
    if reference is None or (same_grid(image, reference) and not registered):
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


def dicom_series_of(case: Case) -> tuple[str, sitk.Image] | None:
    """The first image column of a case given as a DICOM series folder (what RTSTRUCT and
    SEG masks are drawn on), read as an image; None when there is none."""
    column = next(
        (c for c in DICOM_IMAGE_COLUMNS if c in case.paths and case.paths[c].is_dir()), None
    )
    return (
        None if column is None else (column, read_volume(case.paths[column], where(case, column)))
    )


def native_mask(case: Case, column: str) -> sitk.Image:
    """The mask of ``column`` in its own geometry, as uint8 {0, 1}.

    An RTSTRUCT or DICOM-SEG is rasterised on the grid of the case's DICOM series.
    """
    file, roi = split_roi(case.path(column))
    location = where(case, column)
    if not file.exists():
        raise ImageReadError(f"{location}: file not found")
    if not is_dicom_file(file):
        return read_binary_mask(file, location)
    series = dicom_series_of(case)
    if series is None:
        raise MaskError(
            f"{location}: a DICOM RTSTRUCT or SEG needs its image as a DICOM "
            "series folder in an image column of the case"
        )
    series_column, image = series
    mask = rasterise_dicom_mask(file, roi, image, location, case.paths[series_column])
    return binary_mask(mask, location)


def load_case_mask(case: Case, column: str, reference: sitk.Image) -> sitk.Image:
    """The mask of ``column`` on the grid of ``reference`` (uint8 {0, 1}).

    A mask on another grid is resampled (nearest neighbour or partial volume, as configured);
    MaskError when nothing of it is left on the reference grid.
    """
    mask = native_mask(case, column)
    transform = _mask_transform(case, mask)
    if same_grid(mask, reference) and transform is None:
        return mask
    state = current()
    key = ("mask", column, grid_key(reference))
    if key not in state.resampled:
        location = str(where(case, column))
        if transform is None:
            check_overlap(mask, reference, location, state.settings.min_overlap)
        check_mask_inside(mask, reference, location, transform)
        method = state.settings.mask_interpolator
        state.resampled[key] = binary_mask(
            resample_mask(mask, reference, method, transform), where(case, column)
        )
        moved = " through the MRI to PET registration" if transform else ""
        state.note(f"{column} onto {_describe(reference)}", method + moved)
    return state.resampled[key]
