"""Reading images and masks (NIfTI, NRRD, MHA, DICOM series, RTSTRUCT) as SimpleITK images.

Every failure becomes a radiomix error naming the case, the manifest column and the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from radiomix.data.integrity import check_readable, check_voxels, is_nifti, read_nifti
from radiomix.errors import ImageGeometryError, ImageReadError, MaskError

SPACING_RTOL = 1e-4
ORIGIN_ATOL_MM = 1e-3
DIRECTION_ATOL = 1e-4
ROI_SEPARATOR = "#"


@dataclass(frozen=True)
class Where:
    """Where an image comes from, for error messages."""

    case_id: str = ""
    column: str = ""
    file: Path | str = ""

    def __str__(self) -> str:
        parts = [
            f"case {self.case_id}" if self.case_id else "",
            f"column {self.column}" if self.column else "",
            f"file {self.file}" if self.file else "",
        ]
        return ", ".join(part for part in parts if part)


_READS: ContextVar[dict[tuple[Path, str], sitk.Image] | None] = ContextVar(
    "radiomix_reads", default=None
)
MASK_SLAB_VOXELS = 1 << 22  # masks are checked in slabs of ~4 M voxels


@contextmanager
def reads_shared() -> Iterator[None]:
    """Within the block, each file is read (and a mask checked) once and its image shared by
    every caller.

    The extraction of one case runs inside it: several families need the same images and
    masks. Callers must not modify the images they get.
    """
    token = _READS.set({})
    try:
        yield
    finally:
        _READS.reset(token)


def _shared(key: tuple[Path, str], make: Callable[[], sitk.Image]) -> sitk.Image:
    """``make()``, once per key within ``reads_shared``."""
    shared = _READS.get()
    if shared is None:
        return make()
    if key not in shared:
        shared[key] = make()
    return shared[key]


def read_image(path: Path, where: Where | None = None, float32: bool = True) -> sitk.Image:
    """Read a 3D or 4D image file or a DICOM series folder as float32 (``float32=False``: in
    its stored voxel type, e.g. a uint8 mask at a quarter of the memory).

    A DICOM PET series is converted to body-weight SUV.
    """
    kind = "float32" if float32 else "stored"
    return _shared((path, kind), lambda: _read_image(path, where, float32))


def read_binary_mask(path: Path, where: Where) -> sitk.Image:
    """A mask file (3D) as uint8 {0, 1}, checked by ``binary_mask``."""
    return _shared((path, "mask"), lambda: binary_mask(read_volume(path, where), where))


def _read_image(path: Path, where: Where | None, float32: bool = True) -> sitk.Image:
    where = where or Where(file=path)
    if not path.exists():
        raise ImageReadError(f"{where}: file not found")
    check_readable(path, where)
    try:
        if path.is_dir():
            image = _read_dicom_folder(path)
        elif is_nifti(path):  # checked while read: ITK zero-fills what it cannot read
            image = read_nifti(path, where)
        else:
            image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ImageReadError(f"{where}: cannot read image ({_first_line(error)})") from error
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise ImageReadError(
            f"{where}: image has {image.GetNumberOfComponentsPerPixel()} "
            "components per voxel; expected a scalar image"
        )
    image = as_float32(image) if float32 else image
    check_voxels(sitk.GetArrayViewFromImage(image), where.column, where)
    return image


def as_float32(image: sitk.Image) -> sitk.Image:
    """The image with float32 voxels (SimpleITK's Cast filter does not handle 4D)."""
    if image.GetPixelID() == sitk.sitkFloat32:
        return image
    if image.GetDimension() <= 3:
        return sitk.Cast(image, sitk.sitkFloat32)
    converted = sitk.GetImageFromArray(
        sitk.GetArrayViewFromImage(image).astype(np.float32), isVector=False
    )
    converted.CopyInformation(image)
    return converted


def _read_dicom_folder(folder: Path) -> sitk.Image:
    from radiomix.data.suv import is_dicom_pet_series, read_dicom_pet_suv

    if is_dicom_pet_series(folder):
        return read_dicom_pet_suv(folder)  # 3D, or 4D (frames last) for a dynamic series
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    if not files:
        raise RuntimeError("no DICOM series in folder")
    image = sitk.ReadImage(files)
    for key in image.GetMetaDataKeys():  # DICOM tags, patient identity among them
        image.EraseMetaData(key)
    return image


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def read_volume(path: Path, where: Where | None = None, float32: bool = True) -> sitk.Image:
    """Read an image that must be 3D."""
    image = read_image(path, where, float32)
    if image.GetDimension() != 3:
        raise ImageReadError(
            f"{where or path}: expected a 3D image, found "
            f"{image.GetDimension()}D of size {image.GetSize()}"
        )
    return image


def read_dynamic(path: Path, where: Where | None = None) -> tuple[np.ndarray, sitk.Image]:
    """Read a 4D series as a (frames, z, y, x) array and the 3D grid of one frame."""
    image = read_image(path, where)
    if image.GetDimension() != 4:
        raise ImageReadError(
            f"{where or path}: expected a 4D image (frames on the 4th axis), "
            f"found {image.GetDimension()}D of size {image.GetSize()}"
        )
    size = list(image.GetSize())
    frame = sitk.Extract(image, [*size[:3], 0], [0, 0, 0, 0])
    return sitk.GetArrayFromImage(image), frame


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a single DICOM file (RTSTRUCT, SEG or an image slice)."""
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def split_roi(cell: Path) -> tuple[Path, str]:
    """Split ``rtstruct.dcm#ROI name`` into the file and the ROI name ("" when absent)."""
    text = str(cell)
    if ROI_SEPARATOR in Path(text).name:
        file, roi = text.rsplit(ROI_SEPARATOR, 1)
        return Path(file), roi
    return cell, ""


def read_mask(
    path: Path,
    reference: sitk.Image,
    where: Where | None = None,
    reference_dicom: Path | None = None,
) -> sitk.Image:
    """Read a binary mask on the grid of ``reference`` as uint8 {0, 1}.

    ``path`` is an image file or a DICOM RTSTRUCT (optionally ``file.dcm#ROI``), in which
    case ``reference_dicom`` is the DICOM series folder it was drawn on.
    """
    file, roi = split_roi(path)
    where = where or Where(file=file)
    if not file.exists():
        raise ImageReadError(f"{where}: file not found")
    check_readable(file, where)
    if is_dicom_file(file):
        mask = rasterise_dicom_mask(file, roi, reference, where, reference_dicom)
    else:
        mask = read_volume(file, where, float32=False)
    check_same_grid(reference, mask, where)
    return binary_mask(mask, where)


def binary_mask(mask: sitk.Image, where: Where) -> sitk.Image:
    """The mask as uint8 {0, 1}; MaskError when it is empty or has other values."""
    voxels = sitk.GetArrayViewFromImage(mask)
    step = max(1, MASK_SLAB_VOXELS // max(1, voxels[0].size))
    values = np.unique(
        np.concatenate(
            [np.unique(voxels[start : start + step]) for start in range(0, len(voxels), step)]
        )
    )
    if not np.all(np.isin(values, (0, 1))):
        shown = ", ".join(f"{value:g}" for value in values[:6])
        raise MaskError(f"{where}: mask is not binary (values {shown})")
    if not np.any(values == 1):
        raise MaskError(f"{where}: mask is empty")
    return sitk.Cast(mask, sitk.sitkUInt8)


def rasterise_dicom_mask(
    file: Path, roi: str, reference: sitk.Image, where: Where, reference_dicom: Path | None
) -> sitk.Image:
    modality = pydicom.dcmread(file, stop_before_pixels=True).get("Modality", "")
    if modality not in ("RTSTRUCT", "SEG"):
        raise MaskError(
            f"{where}: DICOM mask of modality {modality!r} is not supported "
            "(use an RTSTRUCT, a DICOM-SEG or a NIfTI/NRRD mask)"
        )
    if reference_dicom is None or not reference_dicom.is_dir():
        raise MaskError(f"{where}: a DICOM {modality} needs its image as a DICOM series folder")
    rasterise = rasterise_rtstruct if modality == "RTSTRUCT" else rasterise_seg
    try:
        voxels = rasterise(file, roi, reference_dicom, where)
    except MaskError:
        raise
    except Exception as error:  # rt-utils and highdicom raise many kinds on bad input
        raise MaskError(f"{where}: cannot rasterise {modality} ({_first_line(error)})") from error
    mask = sitk.GetImageFromArray(voxels.astype(np.uint8))
    if mask.GetSize() != reference.GetSize():
        raise ImageGeometryError(
            f"{where}: {modality} grid {mask.GetSize()} differs from its "
            f"image {reference.GetSize()}"
        )
    mask.CopyInformation(reference)
    return mask


def _choose(names: list[str], wanted: str, where: Where, file: Path) -> str:
    if not wanted:
        if len(names) != 1:
            raise MaskError(
                f"{where}: file holds regions {names}; name one as '{file.name}{ROI_SEPARATOR}NAME'"
            )
        return names[0]
    if wanted not in names:
        raise MaskError(f"{where}: region {wanted!r} not found (has {names})")
    return wanted


def rasterise_rtstruct(file: Path, roi: str, series: Path, where: Where) -> np.ndarray:
    """One ROI of an RTSTRUCT as a (z, y, x) array on its DICOM series (with rt-utils)."""
    from rt_utils import RTStructBuilder

    rtstruct = RTStructBuilder.create_from(dicom_series_path=str(series), rt_struct_path=str(file))
    roi = _choose(rtstruct.get_roi_names(), roi, where, file)
    # rt-utils gives (rows, columns, slices), slices in ascending position along the normal.
    return np.transpose(rtstruct.get_roi_mask_by_name(roi), (2, 0, 1))


def rasterise_seg(file: Path, segment: str, series: Path, where: Where) -> np.ndarray:
    """One segment of a DICOM-SEG as a (z, y, x) array on its DICOM series (with highdicom)."""
    import highdicom

    seg = highdicom.seg.segread(file)
    labels = {
        seg.get_segment_description(number).segment_label: number
        for number in seg.get_segment_numbers()
    }
    label = _choose(sorted(labels), segment, where, file)
    uids = [ds.SOPInstanceUID for ds in sorted_series_headers(series)]
    pixels = seg.get_pixels_by_source_instance(
        uids, segment_numbers=[labels[label]], assert_missing_frames_are_empty=True
    )
    return pixels[..., 0] > 0


def sorted_series_headers(series: Path) -> list[pydicom.Dataset]:
    """Headers of a DICOM series folder in ascending slice position along the normal."""
    from radiomix.data.suv import slice_axes

    headers = [
        pydicom.dcmread(path, stop_before_pixels=True)
        for path in sorted(series.iterdir())
        if is_dicom_file(path)
    ]
    normal = slice_axes(headers[0])[2]
    return sorted(headers, key=lambda ds: float(np.dot(normal, ds.ImagePositionPatient)))


def geometry_differences(reference: sitk.Image, other: sitk.Image) -> list[str]:
    """What differs between two voxel grids (size, spacing, origin, direction)."""
    differences = []
    if reference.GetSize()[:3] != other.GetSize()[:3]:
        differences.append(f"size {other.GetSize()[:3]} vs {reference.GetSize()[:3]}")
        return differences
    ref_spacing, spacing = np.array(reference.GetSpacing()[:3]), np.array(other.GetSpacing()[:3])
    if not np.allclose(spacing, ref_spacing, rtol=SPACING_RTOL, atol=0):
        differences.append(f"spacing {tuple(spacing)} vs {tuple(ref_spacing)}")
    if not np.allclose(other.GetOrigin()[:3], reference.GetOrigin()[:3], atol=ORIGIN_ATOL_MM):
        differences.append(f"origin {other.GetOrigin()[:3]} vs {reference.GetOrigin()[:3]}")
    if not np.allclose(_direction3(other), _direction3(reference), atol=DIRECTION_ATOL):
        differences.append("direction differs")
    return differences


def _direction3(image: sitk.Image) -> np.ndarray:
    dimension = image.GetDimension()
    return np.array(image.GetDirection()).reshape(dimension, dimension)[:3, :3]


def check_same_grid(reference: sitk.Image, other: sitk.Image, where: Where) -> None:
    """ImageGeometryError when ``other`` is not on the voxel grid of ``reference``."""
    differences = geometry_differences(reference, other)
    if differences:
        raise ImageGeometryError(
            f"{where}: not on the grid of the case's reference image ({'; '.join(differences)})"
        )
