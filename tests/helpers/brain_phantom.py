"""A brain phantom symmetric about a sagittal plane away from the image centre: PET (FET or
FDOPA-like uptake), T1c, ADC and masks, written as NIfTI for a manifest row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

SHAPE = (40, 48, 56)  # z, y, x
SPACING_MM = 2.0
PLANE_X_MM = 47.3  # the image centre is at x = 55 mm
CENTRE_MM = np.array([PLANE_X_MM, 47.0, 39.0])  # x, y, z
BRAIN_RADII_MM = np.array([40.0, 44.0, 32.0])
CORTEX_MM = 6.0
LESION_CENTRE_MM = CENTRE_MM + np.array([-25.0, -15.0, 6.0])
LESION_RADIUS_MM = 8.0
STRIATUM_OFFSET_MM = np.array([22.0, 10.0, 0.0])
STRIATUM_RADIUS_MM = 6.0
VENTRICLE_OFFSET_MM = np.array([6.0, 0.0, 0.0])
VENTRICLE_RADII_MM = np.array([3.0, 12.0, 6.0])


def coordinates() -> np.ndarray:
    """(z, y, x, 3) physical x, y, z of every voxel centre."""
    z, y, x = np.meshgrid(*[np.arange(n) * SPACING_MM for n in SHAPE], indexing="ij")
    return np.stack([x, y, z], axis=-1)


def inside(centre: np.ndarray, radii, points: np.ndarray) -> np.ndarray:
    return (((points - centre) / radii) ** 2).sum(axis=-1) <= 1.0


def mirror(point: np.ndarray) -> np.ndarray:
    """The mirror image of a point across the phantom's plane."""
    return np.array([2 * PLANE_X_MM - point[0], point[1], point[2]])


def regions() -> dict[str, np.ndarray]:
    """Boolean (z, y, x) regions of the phantom."""
    points = coordinates()
    brain = inside(CENTRE_MM, BRAIN_RADII_MM, points)
    deep = inside(CENTRE_MM, BRAIN_RADII_MM - CORTEX_MM, points)
    sides = (np.array([-1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0]))
    striatum = np.any(
        [inside(CENTRE_MM + s * STRIATUM_OFFSET_MM, STRIATUM_RADIUS_MM, points) for s in sides],
        axis=0,
    )
    ventricles = np.any(
        [inside(CENTRE_MM + s * VENTRICLE_OFFSET_MM, VENTRICLE_RADII_MM, points) for s in sides],
        axis=0,
    )
    lesion = inside(LESION_CENTRE_MM, LESION_RADIUS_MM, points)
    return {
        "brain": brain,
        "gm": brain & ~deep,
        "wm": deep & ~ventricles & ~striatum,
        "striatum": striatum,
        "ventricles": ventricles,
        "lesion": lesion,
    }


def pet(striatum_suv: float = 1.0) -> np.ndarray:
    """SUV: white matter 1.0, cortex 1.3, CSF 0.1, striatum ``striatum_suv``, lesion 3.0."""
    r = regions()
    values = np.zeros(SHAPE, np.float32)
    values[r["brain"]] = 1.0
    values[r["gm"]] = 1.3
    values[r["striatum"]] = striatum_suv
    values[r["ventricles"]] = 0.1
    values[r["lesion"]] = 3.0
    return values


def t1c() -> np.ndarray:
    """T1 signal: white matter 900, cortex and striatum 600, CSF 200, lesion 1200."""
    r = regions()
    values = np.zeros(SHAPE, np.float32)
    values[r["brain"]] = 900.0
    values[r["gm"] | r["striatum"]] = 600.0
    values[r["ventricles"]] = 200.0
    values[r["lesion"]] = 1200.0
    return values


def adc() -> np.ndarray:
    """ADC in 10⁻³ mm²/s: brain 0.8, CSF 3.0, lesion 1.3."""
    r = regions()
    values = np.zeros(SHAPE, np.float32)
    values[r["brain"]] = 0.8
    values[r["ventricles"]] = 3.0
    values[r["lesion"]] = 1.3
    return values


def write(path: Path, array: np.ndarray) -> str:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((SPACING_MM,) * 3)
    sitk.WriteImage(image, str(path))
    return path.name


def write_brain_case(
    folder: Path, case_id: str, tracer: str = "FET", images: dict[str, np.ndarray] | None = None
) -> dict[str, str]:
    """A manifest row (paths relative to ``folder``'s parent) with PET, T1c, ADC and the
    lesion mask; no reference region."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "pet": pet(3.2 if tracer == "FDOPA" else 1.0),
        "t1c": t1c(),
        "adc": adc(),
        "lesion_mask": regions()["lesion"].astype(np.uint8),
    } | (images or {})
    row = {
        "case_id": case_id,
        "patient_id": case_id,
        "label": "1",
        "tracer": tracer,
        "primary": "glioma",
    }
    for column, array in arrays.items():
        row[column] = f"{folder.name}/{write(folder / f'{column}.nii.gz', array)}"
    return row
