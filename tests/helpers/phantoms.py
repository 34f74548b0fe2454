"""Phantom cases whose feature values are known by construction: a 20³ grid of 2 mm voxels
with a lesion, four reference regions, static, dual-phase and dynamic PET and MRI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomix.features import load_config
from radiomix.features.config import ExtractionConfig
from radiomix.paths import CONFIG_DIR

SHAPE = (20, 20, 20)  # z, y, x
SPACING_MM = 2.0
VOXEL_ML = SPACING_MM**3 / 1000.0

# Regions as (z, y, x) slices; none overlaps another.
LESION = np.s_[4:12, 4:12, 4:12]
LESION_LOW = np.s_[4:6, 4:12, 4:12]  # the first 2 of the 8 lesion slices (128 voxels)
BACKGROUND = np.s_[14:18, 14:18, 14:18]
WM = np.s_[14:18, 2:6, 2:6]
GM = np.s_[2:6, 14:18, 2:6]
STRIATUM = np.s_[14:18, 14:18, 2:6]
REGIONS = {
    "lesion_mask": LESION,
    "ref_background": BACKGROUND,
    "ref_wm": WM,
    "ref_gm": GM,
    "ref_striatum": STRIATUM,
}

# Frame timing 5×1 + 5×3 + 6×5 min (0–50 min), in seconds.
FRAME_MIN = [1.0] * 5 + [3.0] * 5 + [5.0] * 6
FRAME_START_MIN = np.concatenate([[0.0], np.cumsum(FRAME_MIN)[:-1]])
FRAME_MID_MIN = FRAME_START_MIN + np.array(FRAME_MIN) / 2


def write_image(path: Path, array: np.ndarray) -> str:
    """Write a (z, y, x) or (t, z, y, x) array on the phantom grid; return the file name."""
    if array.ndim == 4:
        image = sitk.JoinSeries([sitk.GetImageFromArray(frame) for frame in array])
        image.SetSpacing((SPACING_MM,) * 3 + (1.0,))
    else:
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((SPACING_MM,) * 3)
    sitk.WriteImage(image, str(path))
    return path.name


def filled(values: dict[str, float], default: float = 0.0) -> np.ndarray:
    """A phantom volume with ``default`` everywhere and a value per region."""
    array = np.full(SHAPE, default, dtype=np.float32)
    for region, value in values.items():
        array[REGIONS.get(region, region)] = value
    return array


def mask(region) -> np.ndarray:
    array = np.zeros(SHAPE, dtype=np.uint8)
    array[region] = 1
    return array


def static_pet() -> np.ndarray:
    """Background 1.5 everywhere (ref_background too); lesion 3.0 except 128 voxels at 2.0;
    WM 1.0, GM 2.0, striatum 2.5."""
    array = filled(
        {"lesion_mask": 3.0, "ref_wm": 1.0, "ref_gm": 2.0, "ref_striatum": 2.5}, default=1.5
    )
    array[LESION_LOW] = 2.0
    return array


def dynamic_pet(lesion_curve: np.ndarray, background_curve: np.ndarray) -> np.ndarray:
    frames = np.zeros((len(FRAME_MIN), *SHAPE), dtype=np.float32)
    frames[:, 4:12, 4:12, 4:12] = lesion_curve[:, None, None, None]
    frames[:, 14:18, 14:18, 14:18] = background_curve[:, None, None, None]
    return frames


def write_sidecar(image_path: Path) -> None:
    timing = {
        "FrameTimesStart": (FRAME_START_MIN * 60).tolist(),
        "FrameDuration": (np.array(FRAME_MIN) * 60).tolist(),
    }
    image_path.with_name(image_path.name.removesuffix(".nii.gz") + ".json").write_text(
        json.dumps(timing)
    )


def write_case(
    folder: Path, case_id: str, lesion_curve: np.ndarray | None = None, skip: tuple[str, ...] = ()
) -> dict[str, str]:
    """Write every image and mask of one phantom case; return its manifest row."""
    folder.mkdir(parents=True, exist_ok=True)
    half = np.zeros(SHAPE, dtype=bool)
    half[LESION] = True
    half[:, :, 8:] = False  # the x < 8 half of the lesion
    images = {
        "pet": static_pet(),
        "pet_early": np.where(
            half, 2.0, filled({"lesion_mask": 4.0, "ref_gm": 2.0, "ref_wm": 1.0})
        ),
        "pet_late": np.where(half, 4.0, filled({"lesion_mask": 6.0, "ref_gm": 2.5, "ref_wm": 1.0})),
        "adc": np.where(half, 1.4, filled({"lesion_mask": 1.0, "ref_wm": 0.8}, 1.0)),
        "rcbv": np.where(half, 5.0, filled({"lesion_mask": 3.0, "ref_wm": 2.0}, 1.0)),
    }
    row = {
        "case_id": case_id,
        "patient_id": f"P{case_id}",
        "label": "1",
        "site": "A",
        "tracer": "FET",
        "primary": "glioma",
        "mrs_cho_naa": "2.1",
        "mrs_cho_cr": "1.7",
        "age": "54",
    }
    for column, array in images.items():
        file = write_image(folder / f"{column}.nii.gz", array.astype(np.float32))
        row[column] = f"{case_id}/{file}"
    curve = linear_curve() if lesion_curve is None else lesion_curve
    dynamic = folder / "pet_dynamic.nii.gz"
    write_image(dynamic, dynamic_pet(curve, np.full(len(FRAME_MIN), 0.95)))
    write_sidecar(dynamic)
    row["pet_dynamic"] = f"{case_id}/{dynamic.name}"
    for column, region in REGIONS.items():
        row[column] = f"{case_id}/{write_image(folder / f'{column}.nii.gz', mask(region))}"
    return {column: value for column, value in row.items() if column not in skip}


def write_manifest(folder: Path, rows: list[dict[str, str]]) -> Path:
    path = folder / "data_manifest.csv"
    pd.DataFrame(rows).fillna("").to_csv(path, index=False)
    return path


def linear_curve() -> np.ndarray:
    """1 + 0.03 t (t in min): slope 1.8 SUV/h, still rising (pattern 1)."""
    return 1.0 + 0.03 * FRAME_MID_MIN


def quick_config(**changes) -> ExtractionConfig:
    """The project configuration with texture of ``pet`` only, no filters."""
    config = load_config(CONFIG_DIR / "extraction.yaml")
    texture = config.texture.model_copy(
        update={
            "images": {"pet": config.texture.images["pet"]},
            "dynamic_maps": (),
            "params": {"pet": {**config.texture.params["pet"], "radiomix": {"filters": False}}},
        }
    )
    return config.model_copy(update={"texture": texture, **changes})
