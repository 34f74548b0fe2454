"""Automatic reference regions for a case whose ``ref_*`` cells are empty.

- ``ref_background``: the crescent-shaped region of the contralateral, unaffected hemisphere
  covering grey and white matter that the amino-acid PET guideline asks for (Law et al.,
  EJNMMI 2019, after Unterrainer et al., EJNMMI Res 2017, where crescent-shaped VOIs had the
  lowest reader variability). Built as a reader draws it: the outer ``CRESCENT_DEPTH_MM`` of
  the brain (cortex and the white matter beneath it), in the hemisphere across the
  mid-sagittal plane, within ``CRESCENT_LEVEL_MM`` of the lesion's axial level and
  ``CRESCENT_HALF_ANGLE_DEG`` either side of the mirror image of the lesion as seen from the
  brain's axis; lesion (plus margin) and ventricles/CSF left out. The plane is the brain's
  own symmetry plane: the reflection that best matches the image with itself (Pearson
  correlation over the brain, lesion masked), searched from the brain's centre.
- ``ref_striatum`` (FDOPA): on each side of the plane, the largest blob above half the
  maximum of normal brain (striatal FDOPA uptake is the highest of normal brain), lesion
  excluded.
- ``ref_wm``, ``ref_gm``: a three-class tissue segmentation (CSF, grey, white matter) of the
  T1c inside the brain by Otsu's multiple thresholds (SimpleITK), or (``tissue:
  mni152_template``) nilearn's MNI152 white and grey matter masks, shipped in the package,
  carried onto the T1c by a similarity registration of the MNI152 T1 template; lesion
  excluded, each class eroded by one voxel against partial volume.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import SimpleITK as sitk
from pydantic import BaseModel, ConfigDict
from scipy import ndimage, optimize

from radiomix.errors import MaskError

if TYPE_CHECKING:
    import nibabel.spatialimages

CRESCENT_DEPTH_MM = 15.0  # cortex (2-5 mm) and the white matter beneath it [project default]
CRESCENT_LEVEL_MM = 10.0  # above and below the lesion's centre: about 5 slices of 2 mm each
CRESCENT_HALF_ANGLE_DEG = 60.0  # arc either side of the mirrored lesion [project default]
CSF_FRACTION = 0.5
LESION_MARGIN_MM = 4.0
PLANE_SEARCH_MM = 30.0
PLANE_SEARCH_STEP_MM = 2.0
STRIATUM_FRACTION_OF_MAX = 0.5
STRIATUM_MAX_DISTANCE_MM = 40.0
SMOOTHING_MM = 2.0
TISSUE_FRACTION = 0.3  # of the median positive voxel: above air and most CSF
MIN_SYMMETRY = 0.7
SEARCH_SPACINGS_MM = (8.0, 4.0)  # the plane's coarse search, then its refinement
FATOL = 1e-5  # the plane search stops when the correlation changes less
FLAT_CV = 1e-3  # normal brain this uniform (coefficient of variation) has no inner structure
MAX_TILT_RAD = np.deg2rad(15.0)  # the head is scanned roughly straight


class RegionsConfig(BaseModel):
    """How automatic reference regions are made (the ``regions`` section of the extraction
    configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tissue: Literal["t1_segmentation", "mni152_template"] = "t1_segmentation"


@dataclass(frozen=True)
class Plane:
    """A plane n·p = offset (unit normal n, patient coordinates in mm)."""

    normal: np.ndarray
    offset: float
    score: float = 1.0  # correlation of the image with its reflection over the brain
    method: str = "symmetry"

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (mm) of (N, 3) points from the plane."""
        return points @ self.normal - self.offset

    def reflection(self) -> sitk.AffineTransform:
        """The reflection across the plane as a SimpleITK transform (its own inverse)."""
        transform = sitk.AffineTransform(3)
        transform.SetMatrix((np.eye(3) - 2.0 * np.outer(self.normal, self.normal)).ravel().tolist())
        transform.SetTranslation((2.0 * self.offset * self.normal).tolist())
        return transform


def voxel_points(image: sitk.Image, mask: np.ndarray) -> np.ndarray:
    """Physical (N, 3) points of the true voxels of a (z, y, x) mask on ``image``'s grid."""
    indices = np.argwhere(mask)[:, ::-1].astype(float)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    return np.array(image.GetOrigin()) + (indices * np.array(image.GetSpacing())) @ direction.T


def brain_mask(image: sitk.Image) -> np.ndarray:
    """Head tissue: the largest component of the smoothed image above ``TISSUE_FRACTION`` of
    the median of its positive voxels, holes (ventricles) filled (z, y, x bool)."""
    smooth = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(image, SMOOTHING_MM))
    positive = smooth[smooth > 0]
    if positive.size == 0:
        raise MaskError("the image has no positive voxel to find the brain in")
    above = smooth > TISSUE_FRACTION * np.median(positive)
    labels, count = ndimage.label(above)
    if count == 0:
        raise MaskError("no brain found")
    sizes = ndimage.sum(above, labels, range(1, count + 1))
    return ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))


def _mm_to_voxels(image: sitk.Image, mm: float) -> np.ndarray:
    return np.maximum(np.round(mm / np.array(image.GetSpacing()[::-1])).astype(int), 1)


def dilate(mask: np.ndarray, image: sitk.Image, mm: float) -> np.ndarray:
    """Dilation of a (z, y, x) mask by an ellipsoid of ``mm`` radius."""
    radius = _mm_to_voxels(image, mm)
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radius)]
    ball = sum((g / r) ** 2 for g, r in zip(grids, radius, strict=True)) <= 1.0
    return ndimage.binary_dilation(mask, structure=ball)


def _plane_from(params: np.ndarray, score: float = 1.0) -> Plane:
    offset, yaw, roll = params
    normal = np.array([np.cos(yaw) * np.cos(roll), np.sin(yaw) * np.cos(roll), np.sin(roll)])
    return Plane(normal, float(offset), score)


def symmetry_plane(image: sitk.Image, brain: np.ndarray, lesion: np.ndarray) -> Plane:
    """The mid-sagittal plane: the reflection (offset along x, yaw and roll up to
    ``MAX_TILT_RAD``) that best matches the image with itself over the brain, the lesion
    replaced by the brain's median; its ``score`` is that correlation (below
    ``MIN_SYMMETRY`` the brain shows no clear plane). A brain of uniform uptake (a phantom)
    has no plane of its own beyond its shape's: the sagittal plane through its centre.

    The image is smoothed and searched from coarse to fine: on voxels of at least the first
    of ``SEARCH_SPACINGS_MM``, a scan of the offset (``PLANE_SEARCH_MM`` either side of the
    brain's centre) and Nelder–Mead over offset and both angles; then Nelder–Mead from there
    on voxels of at least the second.
    """
    values = sitk.GetArrayFromImage(image).astype(np.float32)
    values[dilate(lesion, image, LESION_MARGIN_MM)] = np.median(values[brain])
    filled = sitk.GetImageFromArray(values)
    filled.CopyInformation(image)
    centre = float(voxel_points(image, brain)[:, 0].mean())
    normal_brain = values[brain]
    if np.std(normal_brain) <= FLAT_CV * abs(np.mean(normal_brain)):
        return Plane(np.array([1.0, 0.0, 0.0]), centre, 1.0, "brain centre (uniform brain)")
    smooth = sitk.SmoothingRecursiveGaussian(filled, SMOOTHING_MM)
    coarse, fine = (_Mirror.of(smooth, brain, image, spacing) for spacing in SEARCH_SPACINGS_MM)
    offsets = np.arange(
        centre - PLANE_SEARCH_MM, centre + PLANE_SEARCH_MM + 1e-9, PLANE_SEARCH_STEP_MM
    )
    best = max(
        offsets, key=lambda offset: coarse.correlation(_plane_from(np.array([offset, 0.0, 0.0])))
    )
    start = _most_symmetric(coarse, np.array([best, 0.0, 0.0]), np.array([2.0, 0.03, 0.03]))
    result = _most_symmetric(fine, start.x, np.array([0.5, 0.01, 0.01]))
    return _plane_from(result.x, -float(result.fun))


def _most_symmetric(
    mirror: _Mirror, start: np.ndarray, steps: np.ndarray
) -> optimize.OptimizeResult:
    """Nelder–Mead over (offset, yaw, roll) from ``start``, the first simplex ``steps`` along
    each, for the highest correlation with tilts up to ``MAX_TILT_RAD``."""

    def cost(params: np.ndarray) -> float:
        if np.any(np.abs(params[1:]) > MAX_TILT_RAD):
            return 1.0
        return -mirror.correlation(_plane_from(params))

    return optimize.minimize(
        cost,
        start,
        method="Nelder-Mead",
        options={
            "xatol": 0.05,
            "fatol": FATOL,
            "initial_simplex": np.vstack([start, start + np.diag(steps)]),
        },
    )


class _Mirror:
    """The correlation of a (coarse) image over the brain with its reflection across a plane:
    only the brain's voxels are reflected, straight in index space, and interpolated
    (trilinear, scipy), not the whole image resampled."""

    @classmethod
    def of(cls, image: sitk.Image, brain: np.ndarray, grid: sitk.Image, spacing: float) -> _Mirror:
        """``image`` and the ``brain`` (a mask on ``grid``) on voxels of at least ``spacing``."""
        coarse = _coarse(image, spacing)
        return cls(coarse, _coarse_mask(brain, grid, coarse))

    def __init__(self, image: sitk.Image, inside: np.ndarray) -> None:
        self.array = sitk.GetArrayFromImage(image)
        values = self.array[inside].astype(float)
        self.standard = (values - values.mean()) / (values.std() or 1.0)
        self.grid = np.argwhere(inside)[:, ::-1].T.astype(np.float32)  # (x, y, z) indices
        self.origin = np.array(image.GetOrigin())
        scaled = np.array(image.GetDirection()).reshape(3, 3) * np.array(image.GetSpacing())
        self.to_physical, self.to_index = scaled, np.linalg.inv(scaled)

    def correlation(self, plane: Plane) -> float:
        """Pearson correlation of the brain's values with their mirror images (0 if either is
        constant); outside the image counts as 0, as in SimpleITK's resampling."""
        transform = plane.reflection()
        reflection = np.array(transform.GetMatrix()).reshape(3, 3)
        matrix = self.to_index @ reflection @ self.to_physical
        moved = reflection @ self.origin + np.array(transform.GetTranslation()) - self.origin
        shift = self.to_index @ moved
        # einsum and sum rather than BLAS, whose threads cost more than these small products
        index = np.einsum("ij,jn->in", matrix.astype(np.float32), self.grid)
        index = (index + shift[:, None].astype(np.float32))[::-1]
        mirrored = ndimage.map_coordinates(self.array, index, order=1, mode="nearest")
        # ITK's rule: within half a voxel of the grid the edge value, beyond it 0
        size = np.array(self.array.shape)[:, None]
        mirrored[np.any((index < -0.5) | (index > size - 0.5), axis=0)] = 0.0
        mirrored = mirrored.astype(float)
        spread = mirrored.std()
        if spread == 0 or not self.standard.any():
            return 0.0
        return float((self.standard * (mirrored - mirrored.mean())).mean() / spread)


def _coarse(image: sitk.Image, mm: float) -> sitk.Image:
    """The image on voxels of at least ``mm`` (linear; unchanged if coarser)."""
    spacing = np.maximum(np.array(image.GetSpacing()), mm)
    size = np.maximum(
        np.round(np.array(image.GetSize()) * np.array(image.GetSpacing()) / spacing), 1
    ).astype(int)
    if np.array_equal(size, image.GetSize()):
        return image
    grid = sitk.Image([int(n) for n in size], sitk.sitkFloat32)
    grid.SetSpacing(tuple(spacing))
    grid.SetDirection(image.GetDirection())
    offset = np.array(image.GetDirection()).reshape(3, 3) @ ((spacing - image.GetSpacing()) / 2)
    grid.SetOrigin(tuple(np.array(image.GetOrigin()) + offset))
    return sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, 0.0)


def _coarse_mask(mask: np.ndarray, image: sitk.Image, grid: sitk.Image) -> np.ndarray:
    """A (z, y, x) mask on ``image``'s grid brought onto ``grid`` (nearest)."""
    source = sitk.GetImageFromArray(mask.astype(np.uint8))
    source.CopyInformation(image)
    return (
        sitk.GetArrayFromImage(
            sitk.Resample(source, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
        )
        > 0
    )


def background_crescent(
    image: sitk.Image, lesion: np.ndarray, plane: Plane, brain: np.ndarray
) -> np.ndarray:
    """The contralateral background crescent (see the module docstring): brain voxels at most
    ``CRESCENT_DEPTH_MM`` below the brain's surface, across the plane from the lesion, at its
    level and within the arc around its mirror image; lesion (plus margin) and CSF (below
    ``CSF_FRACTION`` × the brain median) excluded."""
    if plane.score < MIN_SYMMETRY:
        raise MaskError(
            f"no clear mid-sagittal symmetry (correlation {plane.score:.2f} of the "
            "image with its mirror image); draw ref_background by hand"
        )
    points = voxel_points(image, brain)
    centre = voxel_points(image, lesion).mean(axis=0)
    mirror = centre - 2.0 * plane.signed_distance(centre[None])[0] * plane.normal
    axis = points.mean(axis=0)
    axis -= plane.signed_distance(axis[None])[0] * plane.normal  # on the mid-sagittal plane
    side = np.sign(plane.signed_distance(centre[None])[0])
    values = sitk.GetArrayViewFromImage(image)[brain]
    keep = (
        (_depth_mm(brain, image)[brain] <= CRESCENT_DEPTH_MM)
        & (side * plane.signed_distance(points) < 0)
        & (np.abs(points[:, 2] - centre[2]) <= CRESCENT_LEVEL_MM)
        & (_axial_angle(points - axis, mirror - axis) <= np.deg2rad(CRESCENT_HALF_ANGLE_DEG))
        & (values >= CSF_FRACTION * np.median(values))
    )
    region = np.zeros(lesion.shape, dtype=bool)
    region[brain] = keep
    region &= ~dilate(lesion, image, LESION_MARGIN_MM)
    if not region.any():
        raise MaskError("no normal brain in the contralateral crescent at the lesion's level")
    return region


def _depth_mm(brain: np.ndarray, image: sitk.Image) -> np.ndarray:
    """Distance (mm) of each brain voxel from the nearest voxel outside the brain (the image
    border counts as outside)."""
    padded = np.pad(brain, 1)
    depth = ndimage.distance_transform_edt(padded, sampling=image.GetSpacing()[::-1])
    return depth[1:-1, 1:-1, 1:-1]


def _axial_angle(vectors: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Angle (rad) between (N, 3) vectors and one direction, both projected onto the axial
    (x, y) plane."""
    angles = np.arctan2(vectors[:, 1], vectors[:, 0]) - np.arctan2(towards[1], towards[0])
    return np.abs(np.angle(np.exp(1j * angles)))


def striatum(image: sitk.Image, lesion: np.ndarray, plane: Plane, brain: np.ndarray) -> np.ndarray:
    """The largest connected blob above ``STRIATUM_FRACTION_OF_MAX`` of the brain's maximum
    on each side of the plane within ``STRIATUM_MAX_DISTANCE_MM`` of it, lesion (plus margin)
    excluded."""
    values = sitk.GetArrayViewFromImage(image)
    candidates = brain & ~dilate(lesion, image, 2 * LESION_MARGIN_MM)
    hot = candidates & (values >= STRIATUM_FRACTION_OF_MAX * values[candidates].max())
    distance = np.full(lesion.shape, np.inf)
    distance[hot] = plane.signed_distance(voxel_points(image, hot))
    region = np.zeros(lesion.shape, dtype=bool)
    for side in (-1.0, 1.0):
        near = hot & (side * distance > 0) & (np.abs(distance) <= STRIATUM_MAX_DISTANCE_MM)
        labels, count = ndimage.label(near)
        if count == 0:
            raise MaskError("no striatal uptake found on one side of the mid-sagittal plane")
        sizes = ndimage.sum(near, labels, range(1, count + 1))
        region |= labels == 1 + int(np.argmax(sizes))
    return region


def tissue_classes(t1: sitk.Image, lesion: np.ndarray) -> dict[str, np.ndarray]:
    """White and grey matter of a T1-weighted image: Otsu's two thresholds inside the brain
    split CSF, grey and white matter (ascending T1 signal); lesion excluded, eroded once."""
    brain = brain_mask(t1)
    values = sitk.GetArrayFromImage(t1).astype(np.float32)
    inside = values[brain]
    classes = sitk.OtsuMultipleThresholds(sitk.GetImageFromArray(inside.reshape(1, 1, -1)), 2)
    labels = np.zeros(values.shape, dtype=np.uint8)
    labels[brain] = sitk.GetArrayFromImage(classes).ravel() + 1
    keep = ~dilate(lesion, t1, LESION_MARGIN_MM)
    return {
        "ref_gm": ndimage.binary_erosion(labels == 2) & keep,
        "ref_wm": ndimage.binary_erosion(labels == 3) & keep,
    }


def template_tissue_classes(
    t1: sitk.Image, lesion: np.ndarray, where: str
) -> tuple[dict[str, np.ndarray], sitk.Transform]:
    """White and grey matter of nilearn's MNI152 masks on the grid of ``t1``, through a
    similarity registration of the MNI152 T1 template to it; lesion excluded, eroded once.
    Returns the masks and the transform (case points to template points)."""
    from nilearn import datasets

    from radiomix.data.registration import register_similarity

    template = _from_nibabel(datasets.load_mni152_template(resolution=2))
    transform = register_similarity(t1, template, where)
    keep = ~dilate(lesion, t1, LESION_MARGIN_MM)
    masks = {}
    for column, loader in (
        ("ref_wm", datasets.load_mni152_wm_mask),
        ("ref_gm", datasets.load_mni152_gm_mask),
    ):
        warped = sitk.Resample(
            _from_nibabel(loader(resolution=2)),
            t1,
            transform,
            sitk.sitkNearestNeighbor,
            0.0,
            sitk.sitkUInt8,
        )
        masks[column] = ndimage.binary_erosion(sitk.GetArrayFromImage(warped) > 0) & keep
    return masks, transform


def _from_nibabel(image: nibabel.spatialimages.SpatialImage) -> sitk.Image:
    """A nibabel image as a SimpleITK image, through ITK's NIfTI reader (RAS to LPS)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.nii.gz"
        image.to_filename(str(path))
        return sitk.ReadImage(str(path), sitk.sitkFloat32)
