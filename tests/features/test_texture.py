"""Texture features: naming, IBSI corrections, errors, caching, and PyRadiomics' own baseline."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from scipy import stats

from radiomix.errors import ConfigError, ExtractionError
from radiomix.features.config import ExtractionConfig, load_config
from radiomix.features.texture import (
    get_extractor,
    pyradiomics_params,
    texture_features,
    texture_keys,
)
from radiomix.features.texture_family import texture_names
from radiomix.paths import CONFIG_DIR

TEXTURE_PARAMS = CONFIG_DIR / "extraction"
PET_PARAMS = TEXTURE_PARAMS / "pet.yaml"
BASELINE_CLASSES = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
BASELINE_CASE = "brain1"
# The shape baseline was written by pyradiomics 2.0.1 (its provenance row); the mesh of 3.0.1
# gives volume and surface area within 0.1 % of it (pyradiomics' own tests accept 3 %).
MESH_FEATURES = ("MeshVolume", "SurfaceArea", "SurfaceVolumeRatio", "Sphericity")
MESH_REL_TOL = 1e-3


def small_params(**settings) -> dict:
    """A small original-image parameter set (bin width 0.25 as for SUV)."""
    return {
        "imageType": {"Original": {}},
        "featureClass": {"shape": None, "firstorder": None, "glcm": ["Contrast"]},
        "setting": {"label": 1, "binWidth": 0.25, **settings},
    }


@pytest.fixture(scope="module")
def lesion() -> tuple[sitk.Image, sitk.Image]:
    """A 16³ noisy 'SUV' image with an ellipsoidal lesion mask, anisotropic spacing."""
    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[:16, :16, :16]
    inside = ((z - 8) / 5.0) ** 2 + ((y - 7.5) / 6.0) ** 2 + ((x - 8) / 4.0) ** 2 <= 1
    values = rng.gamma(shape=4.0, scale=0.8, size=inside.shape) + 2.0 * inside
    image = sitk.GetImageFromArray(values.astype(np.float32))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    for img in (image, mask):
        img.SetSpacing((2.0, 2.0, 3.0))
    return image, mask


def test_names_are_image_filter_class_feature(lesion):
    image, mask = lesion
    params = {**pyradiomics_params(PET_PARAMS), "imageType": {"Original": {}, "Wavelet": {}}}
    features = texture_features(image, mask, params, "pet")
    assert "pet_original_glcm_Contrast" in features
    assert "pet_wavelet-LLH_glszm_ZoneEntropy" in features
    assert not any("diagnostics" in name for name in features)
    filters = {name.split("_")[1] for name in features}
    assert filters == {
        "original",
        "wavelet-LLH",
        "wavelet-LHL",
        "wavelet-LHH",
        "wavelet-HLL",
        "wavelet-HLH",
        "wavelet-HHL",
        "wavelet-HHH",
        "wavelet-LLL",
    }
    assert all(isinstance(value, float) for value in features.values())


def test_log_names_carry_sigma(lesion):
    image, mask = lesion
    params = {**small_params(), "imageType": {"LoG": {"sigma": [2.0]}}}
    features = texture_features(image, mask, params, "adc")
    assert "adc_log-sigma-2-0-mm-3D_firstorder_Mean" in features


def test_filters_switch_keeps_only_original():
    with_filters = pyradiomics_params(PET_PARAMS)
    assert set(with_filters["imageType"]) == {"Original"}  # pet.yaml ships with filters off
    switched_on = pyradiomics_params({**_raw_yaml(PET_PARAMS), "radiomix": {"filters": True}})
    assert set(switched_on["imageType"]) == {"Original", "LoG", "Wavelet"}
    assert "radiomix" not in switched_on


def _extracted_names(config: ExtractionConfig, lesion) -> list[str]:
    """The texture columns pyradiomics actually writes for every image of a configuration."""
    image, mask = lesion
    return [
        key
        for name in config.textured_images()
        for key in texture_features(image, mask, config.texture.params[name], name)
    ]


def test_declared_names_of_default_configuration_are_the_extracted_ones(lesion):
    config = load_config()
    assert texture_names(config) == _extracted_names(config, lesion)  # names and order


def test_declared_names_with_filters_are_the_extracted_ones(lesion, tmp_path):
    images = {name: str(TEXTURE_PARAMS / f"{name}.yaml") for name in ("pet", "adc")}
    path = tmp_path / "filters.yaml"
    path.write_text(
        yaml.safe_dump({"families": ["texture"], "texture": {"images": images, "filters": True}})
    )
    config = load_config(path)
    declared = texture_names(config)
    assert {
        "pet_log-sigma-2-0-mm-3D_glcm_Contrast",
        "adc_wavelet-HLH_ngtdm_Busyness",
        "pet_wavelet-LLL_firstorder_Mean",
    } <= set(declared)
    assert declared == _extracted_names(config, lesion)


@pytest.mark.parametrize(
    "image_type",
    [
        {"Wavelet": {"level": 2}, "Square": {}, "Gradient": {}},
        {"LoG": {"sigma": [2, 3.5]}, "Exponential": {}, "SquareRoot": {}, "Logarithm": {}},
    ],
)
def test_declared_keys_follow_pyradiomics_filter_names(lesion, image_type):
    image, mask = lesion
    params = {
        "imageType": image_type,
        "featureClass": {"firstorder": ["Mean"], "shape": None},
        "setting": {"label": 1, "binWidth": 0.25},
    }
    extracted = [key.removeprefix("x_") for key in texture_features(image, mask, params, "x")]
    assert texture_keys(params) == extracted


def test_deprecated_features_only_when_listed():
    every = {"featureClass": {"shape": None}}
    listed = {"featureClass": {"shape": ["Compactness1", "Sphericity"]}}
    assert "original_shape_Sphericity" in texture_keys(every)
    assert "original_shape_Compactness1" not in texture_keys(every)  # deprecated in pyradiomics
    assert texture_keys(listed) == ["original_shape_Compactness1", "original_shape_Sphericity"]


@pytest.mark.parametrize(
    "params, named",
    [
        ({"featureClass": {"glcm": ["Contrastt"]}}, "Contrastt"),
        ({"imageType": {"LBP3D": {}}}, "LBP3D"),
    ],
)
def test_undeclarable_parameter_set_raises_config_error(params, named):
    with pytest.raises(ConfigError, match=named):
        texture_keys(params)


def _raw_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_kurtosis_is_excess_kurtosis(lesion):
    image, mask = lesion
    corrected = texture_features(image, mask, small_params(), "pet")
    plain = texture_features(image, mask, small_params(), "pet", ibsi_corrections=False)
    voxels = sitk.GetArrayFromImage(image)[sitk.GetArrayFromImage(mask) == 1].astype(float)
    scipy_excess = stats.kurtosis(voxels, fisher=True, bias=True)
    assert corrected["pet_original_firstorder_Kurtosis"] == pytest.approx(scipy_excess, rel=1e-6)
    assert plain["pet_original_firstorder_Kurtosis"] == pytest.approx(scipy_excess + 3, rel=1e-6)


def test_axis_lengths_use_unbiased_covariance(lesion):
    image, mask = lesion
    corrected = texture_features(image, mask, small_params(), "pet")
    plain = texture_features(image, mask, small_params(), "pet", ibsi_corrections=False)
    coords = np.argwhere(sitk.GetArrayFromImage(mask) == 1) * np.array([3.0, 2.0, 2.0])
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(coords.T, ddof=1)))
    expected = dict(zip(("Least", "Minor", "Major"), 4 * np.sqrt(eigenvalues), strict=True))
    for axis, length in expected.items():
        assert corrected[f"pet_original_shape_{axis}AxisLength"] == pytest.approx(length, rel=1e-9)
        assert plain[f"pet_original_shape_{axis}AxisLength"] < length
    untouched = [name for name in plain if "Kurtosis" not in name and "AxisLength" not in name]
    assert all(corrected[name] == plain[name] for name in untouched)


def test_empty_mask_raises_extraction_error(lesion):
    image, mask = lesion
    empty = sitk.Image(mask.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(mask)
    with pytest.raises(ExtractionError, match=r"image 'pet' of case 'C007'"):
        texture_features(image, empty, small_params(), "pet", case_id="C007")


def test_absent_label_raises_extraction_error(lesion):
    image, mask = lesion
    with pytest.raises(ExtractionError, match=r"image 't1c'.*[Ll]abel"):
        texture_features(image, mask, small_params(label=2), "t1c")


def test_invalid_parameter_set_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="invalid pyradiomics parameter set"):
        get_extractor({"setting": {"binWidht": 0.25}})
    broken = tmp_path / "broken.yaml"
    broken.write_text("setting: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        get_extractor(broken)


def test_missing_parameter_file_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.yaml"):
        texture_features(
            sitk.Image(4, 4, 4, sitk.sitkFloat32), None, tmp_path / "absent.yaml", "pet"
        )


def test_edited_parameter_file_is_read_again(tmp_path):
    import os

    path = tmp_path / "params.yaml"
    path.write_text("setting: {binWidth: 0.25}\n")
    assert get_extractor(path).settings["binWidth"] == 0.25
    path.write_text("setting: {binWidth: 0.5}\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert get_extractor(path).settings["binWidth"] == 0.5


def test_extractor_is_cached_per_parameter_set():
    assert get_extractor(PET_PARAMS) is get_extractor(str(PET_PARAMS))
    assert get_extractor(PET_PARAMS) is get_extractor(pyradiomics_params(PET_PARAMS))
    assert get_extractor(small_params()) is not get_extractor(small_params(binWidth=0.5))


@pytest.mark.parametrize("name", ["pet", "t1c", "flair", "adc", "rcbv"])
def test_shipped_parameter_files(name):
    params = pyradiomics_params(TEXTURE_PARAMS / f"{name}.yaml")
    settings = get_extractor(params).settings
    assert settings["label"] == 1
    assert not settings.get("resampledPixelSpacing")
    if name == "pet":
        assert settings["binWidth"] == 0.25
        assert not settings["normalize"]
    else:
        assert settings["normalize"]


# --- PyRadiomics' own baseline (brain1), settings from the baseline's provenance row ----------


def read_baseline(shared_data: Path, feature_class: str) -> pd.Series:
    table = pd.read_csv(
        shared_data / "pyradiomics" / "baseline" / f"baseline_{feature_class}.csv", index_col=0
    )
    return table[BASELINE_CASE]


@pytest.fixture(scope="module")
def brain1_features(request) -> tuple[dict[str, float], dict[str, pd.Series]]:
    shared_data = request.getfixturevalue("shared_data")
    baselines = {cls: read_baseline(shared_data, cls) for cls in BASELINE_CLASSES}
    settings = {
        ast.literal_eval(baselines[cls]["diagnostics_Configuration_Settings"]).__repr__()
        for cls in BASELINE_CLASSES
    }
    assert len(settings) == 1, "one extraction serves every class only if settings agree"
    params = {
        "imageType": {"Original": {}},
        "featureClass": {cls: None for cls in BASELINE_CLASSES},
        "setting": ast.literal_eval(settings.pop()),
    }
    folder = shared_data / "pyradiomics"
    image = sitk.ReadImage(str(folder / f"{BASELINE_CASE}_image.nrrd"))
    mask = sitk.ReadImage(str(folder / f"{BASELINE_CASE}_label.nrrd"))
    features = texture_features(image, mask, params, BASELINE_CASE, ibsi_corrections=False)
    return features, baselines


@pytest.mark.shared
@pytest.mark.parametrize("feature_class", BASELINE_CLASSES)
def test_brain1_equals_pyradiomics_baseline(brain1_features, feature_class):
    features, baselines = brain1_features
    baseline = baselines[feature_class]
    expected = {
        name: float(value) for name, value in baseline.items() if name.startswith("original_")
    }
    assert len(expected) >= 5
    for name, value in expected.items():
        ours = features[f"{BASELINE_CASE}_{name}"]
        rel_tol = MESH_REL_TOL if name.endswith(MESH_FEATURES) else 1e-9
        assert math.isclose(ours, value, rel_tol=rel_tol, abs_tol=1e-12), (name, ours, value)


def _ball_in_noise(shape=(40, 48, 56), label: int = 1) -> tuple[sitk.Image, sitk.Image]:
    rng = np.random.default_rng(3)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    ball = (z - 12) ** 2 + (y - 30) ** 2 + (x - 20) ** 2 <= 36
    values = rng.gamma(2.0, 1.0, shape).astype(np.float32) + 3.0 * ball
    image, mask = sitk.GetImageFromArray(values), sitk.GetImageFromArray(ball.astype(np.uint8))
    mask = mask * label
    image.SetSpacing((2.0, 1.5, 1.0))
    mask.CopyInformation(image)
    return image, mask


@pytest.mark.parametrize("label", [1, 2])
def test_cropping_to_the_lesion_leaves_every_feature_unchanged(monkeypatch, label):
    from radiomix.features import texture as texture_module

    image, mask = _ball_in_noise(label=label)
    params = {
        **pyradiomics_params(PET_PARAMS),
        "setting": {**pyradiomics_params(PET_PARAMS)["setting"], "label": label},
    }
    assert texture_module.crop_is_exact(get_extractor(params))
    cropped = texture_features(image, mask, params, "pet")
    monkeypatch.setattr(texture_module, "crop_is_exact", lambda extractor: False)
    whole = texture_features(image, mask, params, "pet")
    assert len(whole) > 100 and cropped == pytest.approx(whole, rel=0, abs=0, nan_ok=True)
    small_image, _ = texture_module.crop_to_label(image, mask, label)
    assert small_image.GetSize() == (15, 15, 15)  # the 13-voxel ball and one voxel around it


def test_no_cropping_when_features_depend_on_the_whole_image():
    from radiomix.features.texture import crop_is_exact

    params = pyradiomics_params(PET_PARAMS)
    with_filters = {**params, "imageType": {"Original": {}, "LoG": {"sigma": [2.0]}}}
    normalised = {**params, "setting": {**params["setting"], "normalize": True}}
    resampled = {**params, "setting": {**params["setting"], "resampledPixelSpacing": [2, 2, 2]}}
    assert not any(crop_is_exact(get_extractor(p)) for p in (with_filters, normalised, resampled))
