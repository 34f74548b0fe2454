"""Family values on phantoms whose features are known exactly by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.phantoms import (
    FRAME_MID_MIN,
    LESION,
    REGIONS,
    SPACING_MM,
    VOXEL_ML,
    filled,
    linear_curve,
    mask,
    quick_config,
    static_pet,
    write_case,
    write_image,
    write_manifest,
)
from scipy import stats

from radiomix.data.manifest import load_manifest
from radiomix.errors import ConfigError
from radiomix.features import extract_case, load_config
from radiomix.features.config import DynamicMapConfig, PetDynamicConfig
from radiomix.features.pet_dynamic import curve_pattern, slope
from radiomix.features.pet_static import ibsi_local_peak, suv_peak


@pytest.fixture(scope="module")
def phantom_case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    manifest = write_manifest(folder, [write_case(folder / "c1", "c1")])
    return load_manifest(manifest).cases[0]


@pytest.fixture(scope="module")
def phantom_result(phantom_case):
    return extract_case(phantom_case, quick_config())


def test_static_pet_values_known_by_construction(phantom_result):
    features = phantom_result.features
    lesion_mean = (128 * 2.0 + 384 * 3.0) / 512
    expected = {
        "pet_SUVmax": 3.0,
        "pet_SUVmean": lesion_mean,
        "pet_volume_ml": 512 * VOXEL_ML,
        "pet_TBRmax": 2.0,
        "pet_TBRmean": lesion_mean / 1.5,
        "pet_TWMmax": 3.0,
        "pet_TWMmean": lesion_mean,
        "pet_LSmax": 1.2,
        "pet_LSmean": lesion_mean / 2.5,
        "pet_LGMmax": 1.5,
        "pet_LGMmean": lesion_mean / 2.0,
        "pet_LNmax": 2.0,
        "pet_LSmax_over_max": 1.2,
        # 2.0 < 1.6 × 1.5 = 2.4 ≤ 3.0: only the 384 voxels at 3.0 are in the BTV; the
        # striatum (2.5) within the 10 mm search margin is a reference region, left out.
        "pet_BTV_ml": 384 * VOXEL_ML,
        "pet_TBRmean_btv": 2.0,
    }
    for name, value in expected.items():
        assert features[name] == pytest.approx(value, rel=1e-6), name


def brute_force_peak(
    array: np.ndarray, lesion: np.ndarray, spacing: float, volume_ml: float = 1.0
) -> float:
    """Independent PERCIST SUVpeak: for each lesion voxel, the lesion voxels within the
    1 cm³ sphere's radius; among the centres holding the most, the highest mean."""
    radius2 = (3 * volume_ml * 1000 / (4 * math.pi)) ** (2 / 3)
    coordinates = np.argwhere(lesion) * spacing
    values = array[lesion]
    best = (-1, -math.inf)
    for centre in coordinates:
        inside = np.sum((coordinates - centre) ** 2, axis=1) <= radius2 + 1e-9
        best = max(best, (int(inside.sum()), float(values[inside].mean())))
    return best[1]


def test_suv_peak_matches_brute_force_on_the_phantom(phantom_result):
    lesion = mask(LESION).astype(bool)
    expected = brute_force_peak(static_pet().astype(np.float64), lesion, SPACING_MM)
    assert phantom_result.features["pet_SUVpeak"] == pytest.approx(expected, rel=1e-9)
    assert 2.0 < expected < 3.0  # the 1 cm³ sphere cannot fit in the 3.0 part (6 slices)


def test_suv_peak_prefers_a_sphere_of_uptake_to_a_single_hot_voxel():
    array = np.ones((30, 30, 30))
    array[5:13, 5:13, 5:13] = 4.0  # 16 mm cube: a 1 cm³ sphere fits inside
    array[22, 22, 22] = 10.0  # a single hot voxel in background 1
    lesion = np.zeros(array.shape, dtype=bool)
    lesion[5:13, 5:13, 5:13] = True
    lesion[22, 22, 22] = True
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing((2.0, 2.0, 2.0))
    assert suv_peak(image, lesion) == pytest.approx(4.0)
    # The IBSI local peak is centred on the hottest voxel: a sphere of radius 3.1 voxels
    # holds 123 voxels, so the hot voxel alone gives (10 + 122) / 123.
    assert ibsi_local_peak(image, lesion) == pytest.approx(132 / 123)
    # A one-voxel lesion: its only voxel (the sphere never reads outside the lesion).
    single = np.zeros(array.shape, dtype=bool)
    single[22, 22, 22] = True
    assert suv_peak(image, single) == pytest.approx(10.0)


def test_dynamic_linear_curve_slope_ttp_pattern_and_tbr(phantom_result):
    features = phantom_result.features
    assert features["dyn_slope_suv_per_h"] == pytest.approx(1.8)
    assert features["dyn_TTP_min"] == pytest.approx(47.5)  # last frame, 45–50 min
    assert features["dyn_pattern"] == 1.0
    # Frames 20–25 … 35–40 min: mean of 1 + 0.03 t at their mid-times is 1.9; background 0.95.
    assert features["dyn_TBRmean_20_40"] == pytest.approx(2.0)


def test_dynamic_curves_are_returned_per_region(phantom_result):
    curves = phantom_result.curves
    lesion = curves[curves["region"] == "lesion_mask"]
    assert list(lesion["mid_min"]) == pytest.approx(FRAME_MID_MIN)
    assert list(lesion["suv"]) == pytest.approx(linear_curve(), rel=1e-6)
    background = curves[curves["region"] == "ref_background"]
    assert np.allclose(background["suv"], 0.95)
    assert set(curves["region"]) == set(REGIONS) | {"lesion_sphere_2ml"}


@pytest.mark.parametrize(("tau", "ttp", "pattern"), [(15.0, 15.5, 3.0), (30.0, 32.5, 2.0)])
def test_dynamic_gamma_curves(tmp_path, tau, ttp, pattern):
    curve = FRAME_MID_MIN * np.exp(-FRAME_MID_MIN / tau) / 5
    manifest = write_manifest(tmp_path, [write_case(tmp_path / "g", "g", lesion_curve=curve)])
    case = load_manifest(manifest).cases[0]
    features = extract_case(case, quick_config(families=("pet_dynamic",))).features
    late = (FRAME_MID_MIN >= 20) & (FRAME_MID_MIN <= 50)
    fit = stats.linregress(FRAME_MID_MIN[late], curve[late])
    assert features["dyn_TTP_min"] == pytest.approx(ttp)
    assert features["dyn_slope_suv_per_h"] == pytest.approx(fit.slope * 60, rel=1e-5)
    assert features["dyn_pattern"] == pattern


def test_curve_pattern_thresholds():
    settings = PetDynamicConfig()
    assert curve_pattern(20.0, 5.0, 1.0, settings) == 3.0  # early peak wins
    assert curve_pattern(35.0, 0.11, 1.0, settings) == 1.0
    assert curve_pattern(35.0, 0.09, 1.0, settings) == 2.0
    assert curve_pattern(35.0, -0.5, 1.0, settings) == 2.0


def test_fdg_dual_phase_index(phantom_result):
    # GM max pair: early 4/2 = 2, late 6/2.5 = 2.4 -> 0.2; mean pair: early 3/2 = 1.5,
    # late 5/2.5 = 2 -> 1/3; WM max pair: early 4/1, late 6/1 -> 0.5.
    features = phantom_result.features
    assert features["fdg_dual_phase_index"] == pytest.approx(0.2)
    assert features["fdg_dual_phase_index_mean"] == pytest.approx(1 / 3)
    assert features["fdg_dual_phase_index_wm"] == pytest.approx(0.5)
    assert features["fdg_lesion_volume_ml"] == pytest.approx(512 * VOXEL_ML)


def test_horky_index_uses_like_for_like_maxima(tmp_path):
    """Lesion max over GM max, not over GM mean: the mixed pair flips the call at 0.19."""
    gm = np.s_[2:6, 14:18, 2:6]
    early = filled({"lesion_mask": 3.0}, 1.0)
    late = filled({"lesion_mask": 3.0}, 1.0)
    early[gm], late[gm] = 2.0, 2.0
    early[2, 14, 2], late[2, 14, 2] = 2.4, 2.0  # GM max 2.4 early, 2.0 late
    row = write_case(tmp_path / "h", "h")
    row["pet_early"] = "h/" + write_image(tmp_path / "h" / "e.nii.gz", early)
    row["pet_late"] = "h/" + write_image(tmp_path / "h" / "l.nii.gz", late)
    case = load_manifest(write_manifest(tmp_path, [row])).cases[0]
    index = extract_case(case, quick_config(families=("fdg_dual_phase",))).features[
        "fdg_dual_phase_index"
    ]
    # max pair: (3/2.0 - 3/2.4) / (3/2.4) = 0.2 > 0.19; lesion max over the GM mean
    # (2.4 + 63 * 2) / 64 early, 2.0 late would give 0.0031.
    assert index == pytest.approx(0.2)


def test_mri_and_mrs_values(phantom_result):
    features = phantom_result.features
    assert features["mri_ADC_mean"] == pytest.approx(1.2)
    assert features["mri_ADC_min"] == pytest.approx(1.0)
    assert features["mri_ADC_ratio"] == pytest.approx(1.5)
    assert features["mri_rCBV_max"] == pytest.approx(2.5)
    assert features["mri_rCBV_mean"] == pytest.approx(2.0)
    assert features["mrs_cho_naa"] == 2.1
    assert features["mrs_cho_cr"] == 1.7


def test_texture_family_first_order_and_shape_match_the_phantom(phantom_result):
    features = phantom_result.features
    assert features["pet_original_firstorder_Maximum"] == pytest.approx(3.0)
    assert features["pet_original_firstorder_Mean"] == pytest.approx(2.75)
    assert features["pet_original_shape_VoxelVolume"] == pytest.approx(512 * SPACING_MM**3)
    assert phantom_result.problems == []


@pytest.mark.parametrize(
    ("kind", "window", "expected"),
    [
        ("sum", (20.0, 40.0), 1.9),  # mean of 1 + 0.03 t over frames 20–40 min
        ("ttp", (0.0, 50.0), 47.5),  # still rising: the last frame's mid-time
        ("slope", (20.0, 50.0), 1.8),  # 0.03 SUV/min
    ],
)
def test_dynamic_maps_are_textured(phantom_case, kind, window, expected):
    config = quick_config(families=("texture",))
    spec = DynamicMapConfig(name="dynmap", map=kind, window_min=window)
    texture = config.texture.model_copy(
        update={
            "images": {},
            "dynamic_maps": (spec,),
            "params": {"dynmap": config.texture.params["pet"]},
        }
    )
    features = extract_case(phantom_case, config.model_copy(update={"texture": texture})).features
    assert features["dynmap_original_firstorder_Mean"] == pytest.approx(expected, rel=1e-5)


def test_slope_map_matches_a_per_voxel_polyfit():
    mid_min = np.array([22.5, 27.5, 32.5, 37.5, 42.5, 47.5])
    frames = np.random.default_rng(1).normal(2.0, 0.5, (mid_min.size, 3, 4, 5))
    expected = np.apply_along_axis(lambda curve: np.polyfit(mid_min, curve, 1)[0], 0, frames)
    assert slope(frames, mid_min, np.ones(mid_min.size)) == pytest.approx(expected * 60)


def test_missing_reference_gives_nan_and_a_reason(tmp_path):
    row = write_case(tmp_path / "m", "m", skip=("ref_striatum", "adc"))
    case = load_manifest(write_manifest(tmp_path, [row])).cases[0]
    result = extract_case(case, quick_config(families=("pet_static", "mri")))
    assert "pet_LSmax" not in result.features
    assert result.features["pet_TBRmax"] == pytest.approx(2.0)
    reasons = {(p.stage, p.kind, p.message) for p in result.problems}
    assert (
        "pet_static",
        "missing",
        "no ref_striatum: pet_LSmax, pet_LSmean, pet_LSmax_over_max set to NaN",
    ) in reasons
    assert (
        "mri",
        "missing",
        "no adc: mri_ADC_mean, mri_ADC_min, mri_ADC_ratio set to NaN",
    ) in reasons
    assert result.features["mri_rCBV_mean"] == pytest.approx(2.0)


def test_dynamic_map_without_frames_in_its_window_is_reported(phantom_case):
    config = quick_config(families=("texture",))
    spec = DynamicMapConfig(name="late", map="sum", window_min=(60.0, 90.0))
    texture = config.texture.model_copy(
        update={
            "images": {},
            "dynamic_maps": (spec,),
            "params": {"late": config.texture.params["pet"]},
        }
    )
    result = extract_case(phantom_case, config.model_copy(update={"texture": texture}))
    assert result.features == {}
    [problem] = result.problems
    assert (problem.stage, problem.kind) == ("texture", "error")
    assert "case c1, column pet_dynamic" in problem.message
    assert "sum map needs 1 frame(s) with mid-time in [60.0, 90.0] min" in problem.message


def test_unknown_map_kind_is_a_config_error(tmp_path):
    (tmp_path / "pet.yaml").write_text("setting: {binWidth: 0.25}\n")
    config = tmp_path / "extraction.yaml"
    config.write_text("texture:\n  dynamic_maps:\n    - {name: m, map: auc, params: pet.yaml}\n")
    with pytest.raises(ConfigError, match="map"):
        load_config(config)
