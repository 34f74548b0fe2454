"""The ``texture`` family: pyradiomics features of every configured image inside the lesion.

Each image is textured with its own parameter set (``configs/extraction/<image>.yaml``); the
dynamic series can be textured through per-voxel parametric maps (``dynamic_maps``: the
time-averaged SUV, the time to peak or the slope over a window).
One image failing (e.g. a lesion too small for pyradiomics) is reported and the other images
are still textured.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import SimpleITK as sitk

from radiomix.data.case_loader import load_case_image, load_case_mask
from radiomix.data.manifest import Case
from radiomix.errors import RadiomixError
from radiomix.features.config import ExtractionConfig
from radiomix.features.pet_dynamic import parametric_map
from radiomix.features.registry import Extracted, register
from radiomix.features.texture import texture_features

PROBE_SIZE = 32
PROBE_SEED = 0


def texture_inputs(config: ExtractionConfig) -> dict[str, tuple[str, ...]]:
    """One output group per textured image (name prefix) and the columns it needs."""
    return {f"{name}_": (column, "lesion_mask")
            for name, column in config.textured_images().items()}


def texture_names(config: ExtractionConfig) -> list[str]:
    """Every texture feature name, found by running each parameter set on a probe phantom."""
    names = []
    for name in config.textured_images():
        params = json.dumps(config.texture.params[name], sort_keys=True)
        names += [f"{name}_{key}" for key in _probe_keys(params)]
    return names


@functools.lru_cache(maxsize=16)
def _probe_keys(params_json: str) -> tuple[str, ...]:
    """The pyradiomics keys a parameter set yields, on a 32³ noise phantom with a cube ROI."""
    values = np.random.default_rng(PROBE_SEED).uniform(1.0, 5.0, (PROBE_SIZE,) * 3)
    mask = np.zeros(values.shape, dtype=np.uint8)
    mask[8:24, 8:24, 8:24] = 1
    image, roi = sitk.GetImageFromArray(values.astype(np.float32)), sitk.GetImageFromArray(mask)
    features = texture_features(image, roi, json.loads(params_json), "probe")
    return tuple(key.removeprefix("probe_") for key in features)


def _texture_image(case: Case, name: str, column: str, config: ExtractionConfig
                   ) -> sitk.Image:
    if column == "pet_dynamic":
        spec = config.dynamic_map(name)
        return parametric_map(case, spec.map, spec.window_min)
    return load_case_image(case, column)


@register("texture", inputs=texture_inputs, names=texture_names)
def texture(case: Case, config: ExtractionConfig) -> Extracted:
    """Pyradiomics features ``<image>_<filter>_<class>_<feature>`` of each present image."""
    result = Extracted({})
    for name, column in config.textured_images().items():
        if not (case.has(column) and case.has("lesion_mask")):
            continue
        try:
            image = _texture_image(case, name, column, config)
            mask = load_case_mask(case, "lesion_mask", image)
            result.features |= texture_features(image, mask, config.texture.params[name], name,
                                                case_id=case.case_id)
        except RadiomixError as error:
            result.problems.append(f"image {name}: {error}")
    return result
