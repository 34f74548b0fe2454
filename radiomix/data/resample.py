"""Native grids: each image keeps its own geometry and is brought onto a reference grid in
physical space (SimpleITK ``Resample``).

Which grid a modality's features are computed on is set by :class:`GridConfig`: by default
PET features on the PET image's own grid and MRI features on each MRI image's own grid; a
column name (e.g. ``pet``) puts every image of that group on that image's grid. Masks follow
the image they are applied to: they are resampled onto its grid by nearest neighbour, or by
partial-volume weights (the fraction of each target voxel covered by the mask, kept when at
least one half). Every resampling done for a case is recorded in its provenance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import SimpleITK as sitk
from pydantic import BaseModel, ConfigDict, Field

from radiomix.errors import ImageGeometryError

if TYPE_CHECKING:
    from radiomix.data.reference_regions import Plane

PET_COLUMNS = ("pet", "pet_dynamic", "pet_early", "pet_late")
MRI_COLUMNS = ("t1c", "flair", "adc", "rcbv")
OWN = "own"
INTERPOLATORS = {
    "linear": sitk.sitkLinear,
    "bspline": sitk.sitkBSpline,
    "nearest": sitk.sitkNearestNeighbor,
}
PARTIAL_VOLUME_KEEP = 0.5
MAX_SUPERSAMPLING = 4
MARGIN_MM = 1e-3


class GridConfig(BaseModel):
    """Reference grids and resampling methods (the ``grid`` section of the extraction
    configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pet: str = OWN
    mri: str = OWN
    image_interpolator: Literal["linear", "bspline"] = "linear"
    mask_interpolator: Literal["nearest", "partial_volume"] = "nearest"
    min_overlap: float = Field(0.5, gt=0, le=1)
    register_mri_to_pet: bool = False
    accept_cut_lesions: bool = False

    def reference_for(self, column: str) -> str:
        """The column whose grid ``column`` is computed on (``own``: its own grid)."""
        if column in PET_COLUMNS:
            return self.pet
        if column in MRI_COLUMNS:
            return self.mri
        return OWN


@dataclass
class CaseGrids:
    """The grid settings of the case being read, with its provenance record."""

    settings: GridConfig = field(default_factory=GridConfig)
    derived: Path | None = None
    tissue: str = "t1_segmentation"
    record: dict[str, object] = field(default_factory=dict)
    resampled: dict[tuple, sitk.Image] = field(default_factory=dict)
    mri_to_pet: tuple[str, sitk.Transform] | None = None  # the PET column and the transform
    plane: Plane | None = None  # the mid-sagittal plane

    def note(self, key: str, value: object) -> None:
        """Record one resampling or derived file in the case's provenance."""
        self.record[key] = value


_CASE: ContextVar[CaseGrids | None] = ContextVar("radiomix_case_grids", default=None)


@contextmanager
def case_grids(
    settings: GridConfig | None = None, derived: Path | None = None, tissue: str = "t1_segmentation"
) -> Iterator[CaseGrids]:
    """Within the block, images are put on the grids of ``settings`` and every resampling is
    recorded; derived files (automatic regions, transforms, QA figures) go to ``derived``;
    ``tissue`` says how automatic white and grey matter are made."""
    state = CaseGrids(settings or GridConfig(), derived, tissue)
    token = _CASE.set(state)
    try:
        yield state
    finally:
        _CASE.reset(token)


def current() -> CaseGrids:
    """The grid settings of the case being read (defaults outside :func:`case_grids`)."""
    return _CASE.get() or CaseGrids()


def grid_key(image: sitk.Image) -> tuple:
    """A hashable description of a 3D grid."""
    return (
        tuple(image.GetSize()[:3]),
        tuple(np.round(image.GetSpacing()[:3], 6)),
        tuple(np.round(image.GetOrigin()[:3], 4)),
        tuple(np.round(direction3(image).ravel(), 6)),
    )


def direction3(image: sitk.Image) -> np.ndarray:
    """The 3x3 direction matrix of the first three axes."""
    dimension = image.GetDimension()
    return np.array(image.GetDirection()).reshape(dimension, dimension)[:3, :3]


def physical_box(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Low and high corners (mm) of the axis-aligned box holding the image's voxels."""
    size = np.array(image.GetSize()[:3], dtype=float)
    corners = np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in size], indexing="ij"))
    corners = corners.reshape(3, -1).T
    points = (
        np.array(image.GetOrigin()[:3])
        + (corners * np.array(image.GetSpacing()[:3])) @ direction3(image).T
    )
    return points.min(axis=0), points.max(axis=0)


def overlap_fraction(first: sitk.Image, second: sitk.Image) -> float:
    """Volume of the intersection of two images' physical boxes over the smaller box."""
    (low_a, high_a), (low_b, high_b) = physical_box(first), physical_box(second)
    intersection = np.clip(np.minimum(high_a, high_b) - np.maximum(low_a, low_b), 0, None)
    smaller = min(np.prod(high_a - low_a), np.prod(high_b - low_b))
    return float(np.prod(intersection) / smaller) if smaller > 0 else 0.0


def check_overlap(image: sitk.Image, reference: sitk.Image, where: str, min_overlap: float) -> None:
    """ImageGeometryError when two images' physical boxes overlap less than ``min_overlap``."""
    fraction = overlap_fraction(image, reference)
    if fraction < min_overlap:
        low, high = physical_box(image)
        ref_low, ref_high = physical_box(reference)
        raise ImageGeometryError(
            f"{where}: physical box {_box(low, high)} overlaps the reference grid's box "
            f"{_box(ref_low, ref_high)} by {fraction:.0%} (at least {min_overlap:.0%} needed); "
            "are both images in one patient coordinate system?"
        )


def _box(low: np.ndarray, high: np.ndarray) -> str:
    return "[" + ", ".join(f"{a:.1f}..{b:.1f}" for a, b in zip(low, high, strict=True)) + "] mm"


def same_grid(first: sitk.Image, second: sitk.Image) -> bool:
    """Whether two images share one 3D voxel grid (up to rounding)."""
    return grid_key(first) == grid_key(second)


def resample_image(
    image: sitk.Image,
    reference: sitk.Image,
    interpolator: str,
    transform: sitk.Transform | None = None,
) -> sitk.Image:
    """A 3D image on the grid of ``reference`` (float32; 0 outside the image)."""
    return sitk.Resample(
        image,
        reference,
        transform or sitk.Transform(3, sitk.sitkIdentity),
        INTERPOLATORS[interpolator],
        0.0,
        sitk.sitkFloat32,
    )


def resample_frames(
    frames: np.ndarray, grid: sitk.Image, reference: sitk.Image, interpolator: str
) -> np.ndarray:
    """A (t, z, y, x) series on ``grid`` brought frame by frame onto ``reference``."""
    out = []
    for frame in frames:
        image = sitk.GetImageFromArray(frame.astype(np.float32))
        image.CopyInformation(grid)
        out.append(sitk.GetArrayFromImage(resample_image(image, reference, interpolator)))
    return np.stack(out)


def resample_mask(
    mask: sitk.Image, reference: sitk.Image, method: str, transform: sitk.Transform | None = None
) -> sitk.Image:
    """A binary mask on the grid of ``reference`` (uint8): ``nearest`` or ``partial_volume``."""
    transform = transform or sitk.Transform(3, sitk.sitkIdentity)
    if method == "nearest":
        return sitk.Resample(
            mask, reference, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
        )
    fraction = covered_fraction(mask, reference, transform)
    out = sitk.GetImageFromArray((fraction >= PARTIAL_VOLUME_KEEP).astype(np.uint8))
    out.CopyInformation(reference)
    return out


def covered_fraction(
    mask: sitk.Image, reference: sitk.Image, transform: sitk.Transform
) -> np.ndarray:
    """Fraction of each ``reference`` voxel covered by the mask, (z, y, x).

    Each target voxel is split into k³ sub-voxels (k up to 4 per axis, from the ratio of the
    spacings), each sub-voxel takes the mask value at its centre, and the fractions are
    their means; only the box around the mask is computed.
    """
    spacing = np.array(reference.GetSpacing()[:3])
    ratio = spacing / np.array(mask.GetSpacing()[:3])
    k = np.clip(2 * np.ceil(ratio).astype(int), 1, MAX_SUPERSAMPLING)
    low, high = _mask_index_box(mask, reference, transform)
    fine = sitk.Image(*[int(n) for n in (high - low) * k], sitk.sitkUInt8)
    direction = direction3(reference)
    start = np.array(reference.TransformContinuousIndexToPhysicalPoint([float(v) for v in low]))
    fine.SetOrigin(tuple(start + direction @ (spacing * (0.5 / k - 0.5))))
    fine.SetSpacing(tuple(spacing / k))
    fine.SetDirection(reference.GetDirection())
    sub = sitk.GetArrayFromImage(
        sitk.Resample(mask, fine, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    ).astype(np.float32)
    kz, ky, kx = k[::-1]
    shape = tuple(int(n) for n in (high - low)[::-1])
    blocks = sub.reshape(shape[0], kz, shape[1], ky, shape[2], kx).mean(axis=(1, 3, 5))
    fraction = np.zeros(reference.GetSize()[::-1], dtype=np.float32)
    fraction[low[2] : high[2], low[1] : high[1], low[0] : high[0]] = blocks
    return fraction


def _mask_index_box(
    mask: sitk.Image, reference: sitk.Image, transform: sitk.Transform
) -> tuple[np.ndarray, np.ndarray]:
    """Index box (x, y, z; low inclusive, high exclusive) of ``reference`` around the mask."""
    occupied = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)
    size = np.array(reference.GetSize()[:3])
    if occupied.size == 0:
        return np.zeros(3, int), np.ones(3, int)
    corners = (
        np.array(
            np.meshgrid(
                *[
                    (lo - 1, hi + 1)
                    for lo, hi in zip(occupied.min(0)[::-1], occupied.max(0)[::-1], strict=True)
                ],
                indexing="ij",
            )
        )
        .reshape(3, -1)
        .T
    )
    inverse = transform.GetInverse()
    points = [
        inverse.TransformPoint(
            mask.TransformContinuousIndexToPhysicalPoint([float(v) for v in corner])
        )
        for corner in corners
    ]
    indices = np.array([reference.TransformPhysicalPointToContinuousIndex(p) for p in points])
    low = np.clip(np.floor(indices.min(0)).astype(int) - 1, 0, size - 1)
    high = np.clip(np.ceil(indices.max(0)).astype(int) + 2, low + 1, size)
    return low, high


def check_mask_inside(
    mask: sitk.Image, image: sitk.Image, where: str, transform: sitk.Transform | None = None
) -> None:
    """ImageGeometryError when voxels of the mask lie outside the image's physical box."""
    occupied = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)
    if occupied.size == 0:
        return
    low, high = physical_box(image)
    lo_index, hi_index = occupied.min(0)[::-1], occupied.max(0)[::-1]
    inverse = (transform or sitk.Transform(3, sitk.sitkIdentity)).GetInverse()
    corners = np.array(
        [
            inverse.TransformPoint(
                mask.TransformContinuousIndexToPhysicalPoint([float(v) for v in corner])
            )
            for corner in np.array(
                np.meshgrid(
                    *[(a, b) for a, b in zip(lo_index, hi_index, strict=True)], indexing="ij"
                )
            )
            .reshape(3, -1)
            .T
        ]
    )
    if np.any(corners < low - MARGIN_MM) or np.any(corners > high + MARGIN_MM):
        raise ImageGeometryError(
            f"{where}: the mask reaches outside the image it is applied to (mask voxels span "
            f"{_box(corners.min(0), corners.max(0))}, the image {_box(low, high)})"
        )
