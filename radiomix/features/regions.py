"""Values of an image inside the masks of a case, shared by the extractor families."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from radiomix.data.case_loader import load_case_mask
from radiomix.data.manifest import Case

LITRE_MM3 = 1000.0


def voxel_volume_ml(image: sitk.Image) -> float:
    """Volume of one voxel in millilitres."""
    return float(np.prod(image.GetSpacing()[:3])) / LITRE_MM3


def mask_array(case: Case, column: str, reference: sitk.Image) -> np.ndarray:
    """The mask of ``column`` on the grid of ``reference`` as a boolean (z, y, x) array."""
    return sitk.GetArrayFromImage(load_case_mask(case, column, reference)).astype(bool)


def region_values(case: Case, column: str, image: sitk.Image) -> np.ndarray:
    """The voxel values of ``image`` inside the mask of ``column`` (1-D float64)."""
    values = sitk.GetArrayViewFromImage(image)[mask_array(case, column, image)]
    return values.astype(np.float64)


def present_regions(
    case: Case, image: sitk.Image, columns: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Values of ``image`` in each of ``columns`` that the case has."""
    return {column: region_values(case, column, image) for column in columns if case.has(column)}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else float("nan")


REFERENCE_COLUMNS = ("ref_background", "ref_wm", "ref_gm", "ref_striatum")
MM3_PER_ML = 1000.0


def sphere_radius_mm(volume_ml: float) -> float:
    """Radius of a sphere of ``volume_ml`` (1 ml -> 6.20 mm, 2 ml -> 7.82 mm)."""
    return float(np.cbrt(3.0 * volume_ml * MM3_PER_ML / (4.0 * np.pi)))


def spherical_kernel(spacing_xyz: tuple[float, ...], radius_mm: float) -> np.ndarray:
    """Boolean (z, y, x) kernel of the voxels whose centre lies within ``radius_mm``."""
    half = [int(np.floor(radius_mm / step)) for step in spacing_xyz[::-1]]
    grids = np.meshgrid(
        *[np.arange(-n, n + 1) * step for n, step in zip(half, spacing_xyz[::-1], strict=True)],
        indexing="ij",
    )
    return sum(grid**2 for grid in grids) <= radius_mm**2 + 1e-9


def within_mm(mask: np.ndarray, spacing_xyz: tuple[float, ...], margin_mm: float) -> np.ndarray:
    """The voxels whose centre lies within ``margin_mm`` of a voxel of ``mask`` (Euclidean
    distance in mm, so anisotropic voxels are handled), ``mask`` included."""
    if margin_mm <= 0:
        return mask.copy()
    pad = [int(np.ceil(margin_mm / step)) for step in spacing_xyz[::-1]]
    box = bounding_box(mask, pad)
    distance = ndimage.distance_transform_edt(~mask[box], sampling=spacing_xyz[::-1])
    grown = np.zeros_like(mask)
    grown[box] = distance <= margin_mm + 1e-9
    return grown


def bounding_box(mask: np.ndarray, margin: list[int]) -> tuple[slice, ...]:
    """Slices around the true voxels of ``mask``, widened by ``margin`` voxels and clipped."""
    box = []
    for axis, (size, pad) in enumerate(zip(mask.shape, margin, strict=True)):
        other_axes = tuple(a for a in range(mask.ndim) if a != axis)
        occupied = np.flatnonzero(np.any(mask, axis=other_axes))
        box.append(slice(max(occupied[0] - pad, 0), min(occupied[-1] + pad + 1, size)))
    return tuple(box)


def reference_union(case: Case, reference: sitk.Image) -> np.ndarray:
    """Every voxel of the reference regions the case has (background, WM, GM, striatum)."""
    union = np.zeros(sitk.GetArrayViewFromImage(reference).shape[:3], dtype=bool)
    for column in REFERENCE_COLUMNS:
        if case.has(column):
            union |= mask_array(case, column, reference)
    return union


def search_region(
    case: Case, reference: sitk.Image, lesion: np.ndarray, margin_mm: float
) -> np.ndarray:
    """Where the biological tumour volume is looked for: the lesion mask grown by
    ``margin_mm``, without any voxel of a reference region."""
    grown = within_mm(lesion, reference.GetSpacing()[:3], margin_mm)
    return grown & ~reference_union(case, reference)


def btv_mask(values: np.ndarray, search: np.ndarray, lesion: np.ndarray, cut: float) -> np.ndarray:
    """Biological tumour volume: the voxels of ``search`` with value ≥ ``cut`` that are
    connected (26-neighbourhood) to such a voxel of the lesion mask."""
    above = (values >= cut) & search
    labels, _ = ndimage.label(above, structure=np.ones((3, 3, 3), dtype=bool))
    touching = np.unique(labels[above & lesion])
    return np.isin(labels, touching[touching > 0])
