"""Texture (and shape / first-order) features computed with pyradiomics.

A parameter set is a pyradiomics parameter file (YAML) or the same structure as a dict,
with one optional radiomix section, stripped before pyradiomics sees it::

    radiomix:
      filters: false   # false: only the Original image type is kept (LoG / wavelet off)

Feature names are ``<image_name>_<pyradiomics key>``, e.g. ``pet_original_glcm_Contrast``.
By default two IBSI corrections are applied to pyradiomics' output (see ``ibsi_correct``).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
from collections.abc import Callable
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from radiomix.errors import ConfigError, ExtractionError
from radiomix.yaml_io import read_yaml

if TYPE_CHECKING:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

RADIOMIX_SECTION = "radiomix"
DIAGNOSTICS_PREFIX = "diagnostics_"
EXCESS_KURTOSIS_OFFSET = 3.0
AXIS_LENGTH_FEATURES = ("MajorAxisLength", "MinorAxisLength", "LeastAxisLength")
VOXEL_COUNT_KEYS = ("diagnostics_Mask-interpolated_VoxelNum", "diagnostics_Mask-original_VoxelNum")


def quiet_pyradiomics() -> None:
    """Let only warnings and errors of pyradiomics' logger through."""
    import radiomics

    radiomics.setVerbosity(logging.WARNING)
    logging.getLogger("radiomics").setLevel(logging.WARNING)


def read_param_file(path: Path) -> dict[str, Any]:
    """Read a YAML parameter file into a dict, raising ``ConfigError`` when unreadable."""
    return read_yaml(path, "pyradiomics parameter file")


def pyradiomics_params(params: dict[str, Any] | Path | str) -> dict[str, Any]:
    """The pure pyradiomics parameter dict of a radiomix parameter set (YAML path or dict).

    The ``radiomix`` section is removed; with ``radiomix.filters: false`` every image type
    other than ``Original`` is dropped.
    """
    raw = read_param_file(Path(params)) if isinstance(params, str | Path) else params
    resolved = copy.deepcopy(raw)
    options = resolved.pop(RADIOMIX_SECTION, None) or {}
    if not options.get("filters", True):
        image_types = resolved.get("imageType") or {"Original": {}}
        resolved["imageType"] = {"Original": image_types.get("Original") or {}}
    return resolved


def params_key(params: dict[str, Any]) -> str:
    """A canonical text key of a pyradiomics parameter dict (for caching)."""
    return json.dumps(params, sort_keys=True, default=str)


@functools.lru_cache(maxsize=32)
def _extractor_for_key(key: str) -> RadiomicsFeatureExtractor:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    quiet_pyradiomics()
    try:
        extractor = RadiomicsFeatureExtractor(json.loads(key))
    except Exception as exc:  # pykwalify schema errors and pyradiomics' own checks
        raise ConfigError(f"invalid pyradiomics parameter set: {exc}") from exc
    if not extractor.settings.get("resampledPixelSpacing"):
        # The diagnostics (image hashes, mask statistics: ~10 % of a case's extraction) are
        # dropped; without resampling, the voxel count taken from them is the mask's own.
        extractor.settings["additionalInfo"] = False
    return extractor


@functools.lru_cache(maxsize=32)
def _key_for_file(path: Path, modified_ns: int) -> str:
    return params_key(pyradiomics_params(path))


def get_extractor(params: dict[str, Any] | Path | str) -> RadiomicsFeatureExtractor:
    """The pyradiomics ``RadiomicsFeatureExtractor`` for a parameter set, built once and cached.

    A parameter file is read again only when its modification time changes.
    """
    if isinstance(params, str | Path):
        path = Path(params).resolve()
        try:
            modified_ns = path.stat().st_mtime_ns
        except OSError as exc:
            raise ConfigError(f"cannot read pyradiomics parameter file {params}: {exc}") from exc
        return _extractor_for_key(_key_for_file(path, modified_ns))
    return _extractor_for_key(params_key(pyradiomics_params(params)))


def _wavelet_types(settings: dict[str, Any]) -> list[str]:
    """pyradiomics' ``getWaveletImage`` names of a 3D image: every L/H decomposition but the
    all-L one per level (``wavelet-LLH``, ``wavelet2-LLH`` from level 2), then the last
    approximation."""
    axes = 2 if settings.get("force2D") else 3
    levels = range(1, int(settings.get("level", 1)) + 1)
    prefixes = {level: "wavelet" if level == 1 else f"wavelet{level}" for level in levels}
    details = ["".join(bands) for bands in product("LH", repeat=axes) if "H" in bands]
    return [f"{prefixes[level]}-{bands}" for level in levels for bands in details] + [
        f"{prefixes[levels[-1]]}-{'L' * axes}"
    ]


def _log_types(settings: dict[str, Any]) -> list[str]:
    """pyradiomics' ``getLoGImage`` names, one per sigma (``log-sigma-2-0-mm-3D``); a sigma too
    large for the image is skipped by pyradiomics and its features are then NaN."""
    return [
        f"log-sigma-{str(sigma).replace('.', '-')}-mm-3D" for sigma in settings.get("sigma") or []
    ]


# pyradiomics image type -> the derived image names it yields (imageoperations.get<type>Image).
IMAGE_TYPE_NAMES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "Original": lambda settings: ["original"],
    "LoG": _log_types,
    "Wavelet": _wavelet_types,
    "Square": lambda settings: ["square"],
    "SquareRoot": lambda settings: ["squareroot"],
    "Logarithm": lambda settings: ["logarithm"],
    "Exponential": lambda settings: ["exponential"],
    "Gradient": lambda settings: ["gradient"],
}


def _class_features(class_name: str, listed: list[str] | None) -> list[str]:
    """The features pyradiomics computes for a class: the listed ones, or all but the
    deprecated ones when none are listed (``RadiomicsFeaturesBase.enableAllFeatures``)."""
    from radiomics import getFeatureClasses

    classes = getFeatureClasses()
    if class_name not in classes:
        raise ConfigError(
            f"unknown pyradiomics feature class {class_name!r} "
            f"(known: {', '.join(sorted(classes))})"
        )
    known = classes[class_name].getFeatureNames()
    unknown = [name for name in listed or [] if name not in known]
    if unknown:
        raise ConfigError(f"unknown {class_name} feature(s) {', '.join(unknown)}")
    return list(listed) if listed else [name for name, old in known.items() if not old]


def _image_types(extractor: RadiomicsFeatureExtractor) -> list[str]:
    names = []
    for image_type, custom in extractor.enabledImagetypes.items():
        if image_type not in IMAGE_TYPE_NAMES:
            raise ConfigError(
                f"image type {image_type!r} is not supported (supported: "
                f"{', '.join(IMAGE_TYPE_NAMES)})"
            )
        names += IMAGE_TYPE_NAMES[image_type](extractor.settings | (custom or {}))
    return names


def texture_keys(params: dict[str, Any] | Path | str) -> list[str]:
    """The pyradiomics keys (``<imagetype>_<class>_<feature>``) a parameter set yields on a 3D
    image, in pyradiomics' order, read from the configuration without computing: shape on the
    original image first, then every other class on every enabled image type
    (``RadiomicsFeatureExtractor.execute``)."""
    extractor = get_extractor(params)
    classes = {
        name: _class_features(name, listed)
        for name, listed in extractor.enabledFeatures.items()
        if name != "shape2D" or extractor.settings.get("force2D")
    }  # 2D shape needs it
    keys = [
        f"original_{name}_{feature}"
        for name, features in classes.items()
        if name.startswith("shape")
        for feature in features
    ]
    return keys + [
        f"{kind}_{name}_{feature}"
        for kind in _image_types(extractor)
        for name, features in classes.items()
        if not name.startswith("shape")
        for feature in features
    ]


def _mask_voxel_count(result: dict[str, Any], mask: sitk.Image, label: int) -> int:
    """Voxels of the (possibly resampled) mask that pyradiomics used for its shape features."""
    for key in VOXEL_COUNT_KEYS:
        if key in result:
            return int(result[key])
    return int(np.count_nonzero(sitk.GetArrayViewFromImage(mask) == label))


def ibsi_correct(features: dict[str, float], voxel_count: int) -> dict[str, float]:
    """Turn pyradiomics values into IBSI-conformant ones (keys are pyradiomics keys).

    - ``*_firstorder_Kurtosis``: pyradiomics returns plain kurtosis, IBSI excess kurtosis (−3).
    - ``*_shape_{Major,Minor,Least}AxisLength``: pyradiomics divides the coordinate covariance by
      N, IBSI by N − 1; the lengths are scaled by sqrt(N / (N − 1)).
    """
    axis_scale = math.sqrt(voxel_count / (voxel_count - 1)) if voxel_count > 1 else 1.0
    corrected = dict(features)
    for key, value in features.items():
        if key.endswith("_firstorder_Kurtosis"):
            corrected[key] = value - EXCESS_KURTOSIS_OFFSET
        elif "_shape_" in key and key.endswith(AXIS_LENGTH_FEATURES):
            corrected[key] = value * axis_scale
    return corrected


def crop_is_exact(extractor: RadiomicsFeatureExtractor) -> bool:
    """Whether pyradiomics' features depend only on the voxels inside the mask's bounding box:
    the Original image only, no intensity normalisation (whole-image statistics) and no
    resampling (pyradiomics crops then itself)."""
    settings = extractor.settings
    return (
        set(extractor.enabledImagetypes) == {"Original"}
        and not settings.get("normalize")
        and not settings.get("resampledPixelSpacing")
    )


def crop_to_label(image: sitk.Image, mask: sitk.Image, label: int) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask cut to the bounding box of ``label`` plus one voxel (pyradiomics wants
    background in the mask), unchanged when the label is absent (pyradiomics then names the
    problem). pyradiomics casts the whole mask to 32 bits and sorts it before cropping it
    itself; cutting first keeps a large scan's memory near its own size."""
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.Execute(mask if mask.GetPixelID() == sitk.sitkUInt8 else sitk.Cast(mask, sitk.sitkUInt32))
    if not shape.HasLabel(label):
        return image, mask
    box, extent = shape.GetBoundingBox(label), mask.GetSize()
    low = [max(start - 1, 0) for start in box[: len(extent)]]
    high = [
        min(start + size + 1, whole)
        for start, size, whole in zip(box[: len(extent)], box[len(extent) :], extent, strict=True)
    ]
    index, size = low, [end - start for start, end in zip(low, high, strict=True)]
    return (sitk.RegionOfInterest(image, size, index), sitk.RegionOfInterest(mask, size, index))


def _run_extractor(
    extractor: RadiomicsFeatureExtractor, image: sitk.Image, mask: sitk.Image, where: str
) -> dict[str, Any]:
    if crop_is_exact(extractor):
        image, mask = crop_to_label(image, mask, int(extractor.settings.get("label", 1)))
    try:
        return dict(extractor.execute(image, mask))
    except Exception as exc:  # any pyradiomics failure becomes one radiomix error
        raise ExtractionError(f"pyradiomics failed on {where}: {exc}") from exc


def texture_features(
    image: sitk.Image,
    mask: sitk.Image,
    params: dict[str, Any] | Path | str,
    image_name: str,
    *,
    ibsi_corrections: bool = True,
    case_id: str | None = None,
) -> dict[str, float]:
    """Pyradiomics features of one image in one mask: ``<image_name>_<filter>_<class>_<feature>``.

    ``params`` is a pyradiomics parameter set (YAML path or dict; see the module docstring).
    The values are IBSI-conformant: kurtosis is reported as excess kurtosis (−3) and the
    major/minor/least axis lengths use the N − 1 covariance. Pass ``ibsi_corrections=False``
    for output identical to pyradiomics. Diagnostics are dropped. Any pyradiomics failure
    (empty mask, label absent, ROI too small) raises ``ExtractionError`` naming the image
    and, when given, the case.
    """
    extractor = get_extractor(params)
    where = f"image '{image_name}'" + (f" of case '{case_id}'" if case_id else "")
    result = _run_extractor(extractor, image, mask, where)
    voxel_count = None
    if ibsi_corrections:
        voxel_count = _mask_voxel_count(result, mask, int(extractor.settings.get("label", 1)))
    return named_features(result, image_name, voxel_count)


def named_features(
    result: dict[str, Any], image_name: str, voxel_count: int | None
) -> dict[str, float]:
    """Pyradiomics' ``execute`` output as radiomix features: diagnostics dropped, values as
    floats, IBSI-corrected when the mask's ``voxel_count`` is given, keys prefixed."""
    features = {
        key: float(value) for key, value in result.items() if not key.startswith(DIAGNOSTICS_PREFIX)
    }
    if voxel_count is not None:
        features = ibsi_correct(features, voxel_count)
    return {f"{image_name}_{key}": value for key, value in features.items()}
