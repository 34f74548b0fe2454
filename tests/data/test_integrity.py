"""A NIfTI file read once (integrity checks and voxels from one decompression) gives the image
ITK's own reader gives."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from radiomix.data.integrity import read_nifti
from radiomix.errors import ImageReadError


def _oblique_affine() -> np.ndarray:
    """Voxels of 1.9 x 2.1 x 2.5 mm, rotated 10 degrees about z and 5 about x, shifted."""
    a, b = np.deg2rad(10.0), np.deg2rad(5.0)
    about_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    about_x = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = about_z @ about_x @ np.diag([1.9, 2.1, 2.5])
    affine[:3, 3] = [-60.0, -70.5, 12.25]
    return affine


def _write(path: Path, voxels: np.ndarray, slope: float | None = None) -> Path:
    image = nibabel.Nifti1Image(voxels, _oblique_affine())
    if slope is not None:
        image.header.set_slope_inter(slope, 1.5)
    nibabel.save(image, path)
    return path


def _cases(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    xyz = (7, 6, 5)
    return {
        "float32 oblique": _write(folder / "f.nii.gz", rng.normal(size=xyz).astype(np.float32)),
        "big-endian int16": _write(folder / "i.nii", rng.integers(-500, 500, xyz).astype(">i2")),
        "uint8 mask": _write(folder / "m.nii.gz", (rng.random(xyz) > 0.5).astype(np.uint8)),
        "4D frames": _write(folder / "d.nii.gz", rng.random((*xyz, 4)).astype(np.float64)),
        # ITK applies scl_slope and scl_inter: left to ITK's own reader
        "scaled int16": _write(folder / "s.nii.gz", rng.integers(0, 99, xyz).astype(np.int16), 2),
    }


@pytest.mark.parametrize(
    "name", ["float32 oblique", "big-endian int16", "uint8 mask", "4D frames", "scaled int16"]
)
def test_one_read_gives_itks_image(tmp_path, name):
    path = _cases(tmp_path)[name]
    expected, got = sitk.ReadImage(str(path)), read_nifti(path, path)
    assert got.GetPixelID() == expected.GetPixelID()
    assert got.GetSize() == expected.GetSize()
    np.testing.assert_allclose(got.GetSpacing(), expected.GetSpacing(), rtol=0, atol=0)
    np.testing.assert_allclose(got.GetOrigin(), expected.GetOrigin(), rtol=0, atol=0)
    np.testing.assert_allclose(got.GetDirection(), expected.GetDirection(), rtol=0, atol=0)
    np.testing.assert_array_equal(
        sitk.GetArrayViewFromImage(got), sitk.GetArrayViewFromImage(expected)
    )


def test_scaled_voxels_are_rescaled_as_itk_does(tmp_path):
    path = _cases(tmp_path)["scaled int16"]
    stored = np.asanyarray(nibabel.load(path).dataobj.get_unscaled())
    got = sitk.GetArrayFromImage(read_nifti(path, path))
    np.testing.assert_allclose(got, stored.T * 2 + 1.5)


def test_non_finite_voxels_are_found_before_itk_zeroes_them(tmp_path):
    voxels = np.ones((4, 4, 4), np.float32)
    voxels[1, 2, 3] = np.nan
    path = _write(tmp_path / "nan.nii.gz", voxels)
    assert not np.isnan(sitk.GetArrayViewFromImage(sitk.ReadImage(str(path)))).any()
    with pytest.raises(ImageReadError, match=r"1 non-finite voxel\(s\) \(1 NaN, 0 infinite\)"):
        read_nifti(path, path)
