"""The ``texture`` family: pyradiomics features of every configured image inside the lesion.

Each image is textured with its own parameter set (``configs/extraction/<image>.yaml``); the
dynamic series can be textured through per-voxel parametric maps (``dynamic_maps``: the
time-averaged SUV, the time to peak or the slope over a window).
One image failing (e.g. a lesion too small for pyradiomics) is reported and the other images
are still textured.
"""

from __future__ import annotations

import SimpleITK as sitk

from radiomix.data.case_loader import load_case_image, load_case_mask
from radiomix.data.manifest import Case
from radiomix.errors import RadiomixError
from radiomix.features.config import ExtractionConfig
from radiomix.features.pet_dynamic import parametric_map
from radiomix.features.registry import Extracted, register
from radiomix.features.texture import texture_features, texture_keys


def texture_inputs(config: ExtractionConfig) -> dict[str, tuple[str, ...]]:
    """One output group per textured image (name prefix) and the columns it needs."""
    return {
        f"{name}_": (column, "lesion_mask") for name, column in config.textured_images().items()
    }


def texture_names(config: ExtractionConfig) -> list[str]:
    """Every texture feature name, declared by each image's parameter set."""
    return [
        f"{name}_{key}"
        for name in config.textured_images()
        for key in texture_keys(config.texture.params[name])
    ]


def _texture_image(case: Case, name: str, column: str, config: ExtractionConfig) -> sitk.Image:
    if column == "pet_dynamic":
        spec = config.dynamic_map(name)
        return parametric_map(case, spec.map, spec.window_min)
    return load_case_image(case, column)


@register("texture", inputs=texture_inputs, names=texture_names, costly_names=True)
def texture(case: Case, config: ExtractionConfig) -> Extracted:
    """Pyradiomics features ``<image>_<filter>_<class>_<feature>`` of each present image."""
    result = Extracted({})
    for name, column in config.textured_images().items():
        if not (case.has(column) and case.has("lesion_mask")):
            continue
        try:
            image = _texture_image(case, name, column, config)
            mask = load_case_mask(case, "lesion_mask", image)
            result.features |= texture_features(
                image, mask, config.texture.params[name], name, case_id=case.case_id
            )
        except RadiomixError as error:
            result.problems.append(f"image {name}: {error}")
    return result
