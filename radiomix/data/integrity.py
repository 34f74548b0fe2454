"""Checks of image files and voxel values that a reader would otherwise pass over silently.

- A NIfTI file must hold every byte its header announces and, when gzipped, pass the gzip
  CRC and length check; ITK pads a truncated file with zeros without a word.
- NaN and infinite voxels are errors. ITK's NIfTI reader turns them into 0 (nifti1_io
  replaces every non-finite float while reading), so NIfTI voxels are scanned with nibabel's
  view of the header, not through ITK; other formats are scanned after ITK reads them.

A NIfTI file is decompressed once: the checked voxels become the ITK image, on the geometry
ITK reads from the header (``read_nifti``).
- A PET image (SUV) must have positive uptake, no strongly negative voxels and a maximum a
  SUV can reach (an image left in Bq/mL has maxima in the thousands).
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from radiomix.errors import ImageReadError

if TYPE_CHECKING:
    import nibabel

PET_COLUMNS = ("pet", "pet_dynamic", "pet_early", "pet_late")
MAX_PLAUSIBLE_SUV = 200.0
"""Above any SUV in brain PET (FDG cortex ~10-20, amino acids < 10, bladder ~100)."""
NEGATIVE_FRACTION_OF_MAX = 0.2
"""Reconstruction undershoot rarely exceeds a few percent of the maximum."""
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: Path) -> bool:
    """Whether ``path`` names a NIfTI file (``.nii`` or ``.nii.gz``)."""
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def check_readable(path: Path, where: object) -> None:
    """ImageReadError when a file exists but this process may not read it."""
    try:
        with path.open("rb"):
            pass
    except PermissionError as error:
        raise ImageReadError(f"{where}: file is not readable (permission denied)") from error
    except IsADirectoryError:
        return
    except OSError as error:
        raise ImageReadError(f"{where}: file cannot be opened ({error.strerror})") from error


def _file_bytes(path: Path, where: object) -> bytes:
    """The (decompressed) bytes of a file; a gzip stream must pass its CRC and length check."""
    if not path.name.lower().endswith(".gz"):
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ImageReadError(
            f"{where}: gzip stream is truncated or corrupt ({error}); the file is damaged"
        ) from error


def _nifti_header(content: bytes, where: object) -> nibabel.Nifti1Header:
    """The NIfTI-1 or NIfTI-2 header at the start of ``content`` (nibabel)."""
    import nibabel

    for header_class in (nibabel.Nifti1Header, nibabel.Nifti2Header):
        try:
            return header_class.from_fileobj(io.BytesIO(content), check=True)
        except Exception:  # nibabel raises several types for a header of the other version
            continue
    raise ImageReadError(f"{where}: not a valid NIfTI-1 or NIfTI-2 header")


def checked_nifti_voxels(path: Path, where: object) -> tuple[np.ndarray, nibabel.Nifti1Header]:
    """The voxels of a NIfTI file as stored (flat) and its nibabel header; ImageReadError when
    the file is truncated or corrupt, or holds non-finite voxels.

    The expected size is the header's data offset plus the product of its dimensions times
    the voxel size; every float voxel is checked for NaN and infinity.
    """
    content = _file_bytes(path, where)
    header = _nifti_header(content, where)
    dtype = header.get_data_dtype()
    count = int(np.prod(header.get_data_shape(), dtype=np.int64))
    offset = int(header.get_data_offset())
    expected = offset + count * dtype.itemsize
    if len(content) < expected:
        raise ImageReadError(
            f"{where}: file is truncated: its header announces "
            f"{expected} bytes, the file holds {len(content)}"
        )
    voxels = np.frombuffer(content, dtype=dtype, count=count, offset=offset)
    if dtype.kind in "fc":
        check_finite(voxels, where)
    return voxels, header


def read_nifti(path: Path, where: object) -> sitk.Image:
    """A NIfTI file read once: its checked voxels (``checked_nifti_voxels``) on the grid ITK
    reads from the header (size, spacing, origin, direction, meta-data), the image ITK's own
    reader gives. Voxels ITK would rescale (``scl_slope``/``scl_inter``) or read as vectors
    are left to ITK, which then decompresses the file a second time."""
    voxels, header = checked_nifti_voxels(path, where)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    image = _image_from_voxels(voxels, header, reader)
    return reader.Execute() if image is None else image


def _image_from_voxels(
    voxels: np.ndarray, header: nibabel.Nifti1Header, reader: sitk.ImageFileReader
) -> sitk.Image | None:
    """The ITK image of ``voxels`` with the geometry of ``reader``; None when ITK would not
    read them as they are stored (scaled, several components, another size or voxel type)."""
    slope, intercept = header.get_slope_inter()
    size = reader.GetSize()
    if (
        slope not in (None, 1.0)
        or intercept not in (None, 0.0)
        or reader.GetNumberOfComponents() != 1
        or int(np.prod(size, dtype=np.int64)) != voxels.size
    ):
        return None
    native = voxels.astype(voxels.dtype.newbyteorder("="), copy=False)
    image = sitk.GetImageFromArray(native.reshape(size[::-1]), isVector=False)
    if image.GetPixelID() != reader.GetPixelID():
        return None
    image.SetSpacing(reader.GetSpacing())
    image.SetOrigin(reader.GetOrigin())
    image.SetDirection(reader.GetDirection())
    for key in reader.GetMetaDataKeys():
        image.SetMetaData(key, reader.GetMetaData(key))
    return image


def check_finite(voxels: np.ndarray, where: object) -> None:
    """ImageReadError counting the NaN and infinite voxels of an image."""
    n_bad = int(voxels.size - np.count_nonzero(np.isfinite(voxels)))
    if n_bad:
        n_nan = int(np.count_nonzero(np.isnan(voxels)))
        raise ImageReadError(
            f"{where}: {n_bad} non-finite voxel(s) ({n_nan} NaN, "
            f"{n_bad - n_nan} infinite); fix or mask them before use"
        )


def check_pet_values(voxels: np.ndarray, where: object) -> None:
    """ImageReadError when a PET image in SUV is all zero, mostly negative or implausible."""
    maximum, minimum = float(np.max(voxels)), float(np.min(voxels))
    if maximum <= 0:
        raise ImageReadError(
            f"{where}: PET image has no positive voxel (maximum {maximum:g}); "
            "expected an image in SUV"
        )
    if minimum < -NEGATIVE_FRACTION_OF_MAX * maximum:
        raise ImageReadError(
            f"{where}: PET image has strongly negative voxels (minimum "
            f"{minimum:g}, maximum {maximum:g}); expected an image in SUV"
        )
    if maximum > MAX_PLAUSIBLE_SUV:
        raise ImageReadError(
            f"{where}: PET maximum {maximum:g} is not a plausible SUV "
            f"(> {MAX_PLAUSIBLE_SUV:g}); is the image in Bq/mL?"
        )


def check_voxels(voxels: np.ndarray, column: str, where: object) -> None:
    """Every voxel finite, and PET values plausible for a PET column."""
    check_finite(voxels, where)
    if column in PET_COLUMNS:
        check_pet_values(voxels, where)
