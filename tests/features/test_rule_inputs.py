"""Rule inputs as their sources define them, on hand-made phantoms with known answers:
BTV TBRmean (static and 20–40 min), each tracer's TBR window, the curve VOI around the
hotspot, timing from the injection, PERCIST SUVpeak beside a hot structure, the BTV beyond
the lesion mask and Gasparetto's rCBV fraction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from helpers.phantoms import write_image

from radiomix.data.manifest import load_manifest
from radiomix.features import extract_case
from radiomix.features.config import BtvConfig, CurveVoiConfig, ExtractionConfig, load_config
from radiomix.features.mri import rcbv_fraction
from radiomix.features.pet_dynamic import tbr_names, windowed_names
from radiomix.features.pet_static import ibsi_local_peak, suv_peak
from radiomix.rules.apply import apply_rule
from radiomix.rules.config import load_rules

SPACING_MM = 2.0
VOXEL_ML = SPACING_MM**3 / 1000.0
FRAME_MIN = np.array([1.0] * 5 + [3.0] * 5 + [5.0] * 6)  # 0–50 min
FRAME_START_MIN = np.concatenate([[0.0], np.cumsum(FRAME_MIN)[:-1]])
FRAME_MID_MIN = FRAME_START_MIN + FRAME_MIN / 2
IN_20_40 = (FRAME_MID_MIN >= 20) & (FRAME_MID_MIN <= 40)


def box(array_shape, region) -> np.ndarray:
    mask = np.zeros(array_shape, dtype=np.uint8)
    mask[region] = 1
    return mask


def write_sidecar(image: Path, extra: dict | None = None, starts_s=None) -> None:
    starts = FRAME_START_MIN * 60 if starts_s is None else np.asarray(starts_s)
    content = {"FrameTimesStart": starts.tolist(), "FrameDuration": (FRAME_MIN * 60).tolist()}
    image.with_name(image.name.removesuffix(".nii.gz") + ".json").write_text(
        json.dumps(content | (extra or {}))
    )


def case_of(
    folder: Path,
    images: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    sidecar: dict | None = None,
    tracer: str = "FET",
):
    """One manifest row of the given images and masks, loaded as a Case."""
    folder.mkdir(parents=True, exist_ok=True)
    row = {"case_id": folder.name, "label": "1", "tracer": tracer, "primary": "glioma"}
    for column, array in {**images, **masks}.items():
        row[column] = write_image(folder / f"{column}.nii.gz", array)
    if "pet_dynamic" in images:
        write_sidecar(folder / "pet_dynamic.nii.gz", sidecar)
    manifest = folder / "manifest.csv"
    pd.DataFrame([row]).to_csv(manifest, index=False)
    return load_manifest(manifest).cases[0]


def config(families: tuple[str, ...], **changes) -> ExtractionConfig:
    return ExtractionConfig(families=families).model_copy(update=changes)


# --- BTV TBRmean on a half-hot lesion ----------------------------------------------------

SHAPE = (24, 24, 24)
LESION = np.s_[4:12, 4:12, 4:12]
HOT_HALF = np.s_[4:12, 4:12, 8:12]
BACKGROUND = np.s_[16:22, 16:22, 16:22]


def half_hot_volume() -> np.ndarray:
    """Background 1.0 everywhere; the lesion half at 1.0, half at 2.6."""
    array = np.ones(SHAPE, dtype=np.float32)
    array[HOT_HALF] = 2.6
    return array


@pytest.fixture(scope="module")
def half_hot(tmp_path_factory):
    static = half_hot_volume()
    dynamic = np.stack([static * (0.5 + 0.01 * t) for t in FRAME_MID_MIN])
    masks = {"lesion_mask": box(SHAPE, LESION), "ref_background": box(SHAPE, BACKGROUND)}
    case = case_of(
        tmp_path_factory.mktemp("half") / "half",
        {"pet": static, "pet_dynamic": dynamic.astype(np.float32)},
        masks,
    )
    return extract_case(case, config(("pet_static", "pet_dynamic"))).features


def test_btv_tbrmean_of_a_half_hot_lesion_is_the_hot_half(half_hot):
    assert half_hot["pet_TBRmean"] == pytest.approx(1.8)  # whole mask
    assert half_hot["pet_TBRmean_btv"] == pytest.approx(2.6)  # voxels >= 1.6 x background
    assert half_hot["pet_BTV_ml"] == pytest.approx(8 * 8 * 4 * VOXEL_ML)
    # The 20–40 min summed image is the static one scaled by the same factor in lesion and
    # background, so the ratios are the same.
    assert half_hot["dyn_TBRmean_20_40"] == pytest.approx(1.8)
    assert half_hot["dyn_TBRmean_btv_20_40"] == pytest.approx(2.6)
    assert half_hot["dyn_TBRmax_20_40"] == pytest.approx(2.6)


def test_fet_dynamic_rule_reads_the_btv_tbr(half_hot):
    rule = next(rule for rule in load_rules() if rule.id == "fet_dynamic")
    table = pd.DataFrame([{**half_hot, "tracer": "FET", "primary": "glioma", "dyn_TTP_min": 47.5}])
    assert apply_rule(table, rule).decision.tolist() == [1.0]  # 2.60 >= 2.0; the mask reads 1.80


def test_btv_empty_falls_back_to_the_whole_mask(tmp_path):
    static = np.ones(SHAPE, dtype=np.float32)
    static[LESION] = 1.3  # below 1.6 x background everywhere
    masks = {"lesion_mask": box(SHAPE, LESION), "ref_background": box(SHAPE, BACKGROUND)}
    case = case_of(tmp_path / "cold", {"pet": static}, masks)
    features = extract_case(case, config(("pet_static",))).features
    assert features["pet_BTV_ml"] == 0.0
    assert features["pet_TBRmean_btv"] == pytest.approx(1.3)


# --- Each tracer's TBR window ------------------------------------------------------------

# Lesion uptake per frame (background 1.0): 4.0 before 20 min, 2.0 from 20 to 30 min, 3.0
# after. By hand, duration-weighted over the frames whose mid-time is in the window:
# FDOPA 10–30 min: three 3-min frames at 4.0 and two 5-min frames at 2.0 -> 56/19;
# FET 20–40 min: two 5-min frames at 2.0 and two at 3.0 -> 2.5; MET 20–30 min -> 2.0.
WINDOW_TBR = {"FDOPA": ("10_30", 56 / 19), "FET": ("20_40", 2.5), "MET": ("20_30", 2.0)}


def stepped_uptake_frames() -> np.ndarray:
    uptake = np.select([FRAME_MID_MIN < 20, FRAME_MID_MIN <= 30], [4.0, 2.0], 3.0)
    frames = np.ones((FRAME_MID_MIN.size, *SHAPE), dtype=np.float32)
    frames[(slice(None), *LESION)] = uptake[:, None, None, None]
    return frames


@pytest.mark.parametrize("tracer", sorted(WINDOW_TBR))
def test_each_tracer_sums_its_own_published_tbr_window(tmp_path, tracer):
    masks = {"lesion_mask": box(SHAPE, LESION), "ref_background": box(SHAPE, BACKGROUND)}
    case = case_of(
        tmp_path / tracer, {"pet_dynamic": stepped_uptake_frames()}, masks, tracer=tracer
    )
    packaged = load_config().model_copy(update={"families": ("pet_dynamic",)})
    result = extract_case(case, packaged)
    tag, expected = WINDOW_TBR[tracer]
    for name in (f"dyn_TBRmean_{tag}", f"dyn_TBRmax_{tag}", f"dyn_TBRmean_btv_{tag}"):
        assert result.features[name] == pytest.approx(expected)
    others = set(windowed_names(packaged)) - set(tbr_names(packaged, tracer).values())
    assert len(others) == 6 and others.isdisjoint(result.features)
    assert not any(name in problem.message for problem in result.problems for name in others)


def test_tracer_rules_read_their_tracers_window():
    """Every windowed TBR a rule reads is its tracers' configured window."""
    packaged = load_config()
    checked = 0
    for rule in load_rules():
        for name in set(rule.inputs) & set(windowed_names(packaged)):
            assert rule.spec.tracers
            for tracer in rule.spec.tracers:
                assert name in tbr_names(packaged, tracer).values(), (rule.id, tracer)
                checked += 1
    assert checked >= 1  # fet_dynamic reads dyn_TBRmean_btv_20_40


# --- Gasparetto's rCBV fraction ------------------------------------------------------------


def test_rcbv_fraction_counts_voxels_strictly_above_the_threshold():
    assert rcbv_fraction(np.array([1.8, 1.81, 1.0, 2.0]), 1.0, 1.8) == pytest.approx(0.5)
    assert rcbv_fraction(np.array([0.9, 1.0]), 0.5, 1.8) == pytest.approx(0.5)
    assert np.isnan(rcbv_fraction(np.array([1.0]), 0.0, 1.8))


def test_rcbv_fraction_of_a_lesion_with_a_known_hot_part(tmp_path):
    """230 of 1000 lesion voxels at 2.0 x white matter, the rest at 1.0: the fraction is 0.23
    (Gasparetto positive, > 20 %) while the mean rCBV is 1.23 (below 1.8)."""
    rcbv = np.ones(SHAPE, dtype=np.float32)
    lesion = box(SHAPE, np.s_[2:12, 2:12, 2:12])
    rcbv[2:12, 2:12, 2:4] = 2.0  # 200 voxels
    rcbv[2:5, 2:12, 4] = 2.0  # 30 more
    masks = {"lesion_mask": lesion, "ref_wm": box(SHAPE, BACKGROUND)}
    case = case_of(tmp_path / "rcbv", {"rcbv": rcbv}, masks)
    features = extract_case(case, config(("mri",))).features
    assert features["mri_rCBV_fraction_gt_1p8"] == pytest.approx(0.23)
    assert features["mri_rCBV_mean"] == pytest.approx(1.23)
    rules = {rule.id: rule for rule in load_rules()}
    table = pd.DataFrame([{**features, "tracer": "FET", "primary": "glioma"}])
    assert apply_rule(table, rules["rcbv_fraction"]).decision.tolist() == [1.0]
    assert apply_rule(table, rules["rcbv_mean"]).decision.tolist() == [0.0]


# --- BTV beyond the mask, never into a reference region ----------------------------------


def test_btv_extends_beyond_the_mask_but_not_into_references(tmp_path):
    static = np.ones(SHAPE, dtype=np.float32)
    static[4:12, 4:12, 4:14] = 2.6  # uptake 2 voxels (4 mm) beyond the mask in x
    static[4:12, 4:12, 14:16] = 3.0  # a hot striatum touching it, labelled
    static[4:6, 20:22, 4:6] = 2.6  # hot, within 10 mm of the mask, not connected to it
    masks = {
        "lesion_mask": box(SHAPE, LESION),
        "ref_background": box(SHAPE, BACKGROUND),
        "ref_striatum": box(SHAPE, np.s_[4:12, 4:12, 14:16]),
    }
    case = case_of(tmp_path / "beyond", {"pet": static}, masks)
    features = extract_case(case, config(("pet_static",))).features
    assert features["pet_BTV_ml"] == pytest.approx(8 * 8 * 10 * VOXEL_ML)
    assert features["pet_TBRmean_btv"] == pytest.approx(2.6)
    inside_only = config(("pet_static",), btv=BtvConfig(margin_mm=0))
    assert extract_case(case, inside_only).features["pet_BTV_ml"] == pytest.approx(
        8 * 8 * 8 * VOXEL_ML
    )


# --- The curve VOI around the hotspot ---------------------------------------------------

BIG = (40, 40, 30)
BIG_LESION = np.s_[4:36, 4:36, 4:24]
HOT = np.s_[12:22, 12:22, 4:14]  # 10 × 10 × 10 voxels (20 mm) inside the lesion
HOT_CENTRE = (17, 17, 9)
BIG_BACKGROUND = np.s_[30:36, 30:36, 26:29]


def early_peak_curve() -> np.ndarray:
    """Peaks at 16.5 min, so highest in the 14–17 min frame (mid 15.5 min), then falls."""
    return 4.0 * (FRAME_MID_MIN / 16.5) * np.exp(1 - FRAME_MID_MIN / 16.5)


@pytest.fixture(scope="module")
def necrotic_case(tmp_path_factory):
    """Hot early-peaking rim around its hottest voxel, a large rising core, background 1."""
    frames = np.ones((FRAME_MID_MIN.size, *BIG), dtype=np.float32)
    frames[(slice(None), *BIG_LESION)] = (0.04 * FRAME_MID_MIN)[:, None, None, None]
    frames[(slice(None), *HOT)] = early_peak_curve()[:, None, None, None]
    frames[(slice(None), *HOT_CENTRE)] *= 1.05  # the hottest voxel, centre of the hot part
    masks = {"lesion_mask": box(BIG, BIG_LESION), "ref_background": box(BIG, BIG_BACKGROUND)}
    return case_of(tmp_path_factory.mktemp("necrotic") / "necrotic", {"pet_dynamic": frames}, masks)


def test_hotspot_sphere_gives_the_ttp_of_the_hot_part(necrotic_case):
    result = extract_case(necrotic_case, config(("pet_dynamic",)))
    features = result.features
    assert features["dyn_TTP_min"] == pytest.approx(15.5)
    assert features["dyn_pattern"] == 3.0
    # 2 ml sphere on 2 mm voxels: the voxels within 7.82 mm (3.91 voxels) of the centre.
    offsets = np.indices((9, 9, 9)).reshape(3, -1).T - 4
    n_sphere = int(np.sum(np.sum(offsets**2, axis=1) <= (7.8159 / 2.0) ** 2))
    assert features["dyn_curve_voi_ml"] == pytest.approx(n_sphere * VOXEL_ML)
    assert "lesion_sphere_2ml" in set(result.curves["region"])


def test_whole_mask_curve_is_dominated_by_the_core(necrotic_case):
    mask_voi = config(("pet_dynamic",)).pet_dynamic.model_copy(
        update={"curve_voi": CurveVoiConfig(kind="mask")}
    )
    features = extract_case(necrotic_case, config(("pet_dynamic",), pet_dynamic=mask_voi)).features
    assert features["dyn_TTP_min"] == pytest.approx(47.5)
    assert features["dyn_pattern"] == 1.0


@pytest.mark.parametrize("kind", ["isocontour", "btv"])
def test_isocontour_and_btv_vois_hold_the_hot_part(necrotic_case, kind):
    settings = config(("pet_dynamic",)).pet_dynamic.model_copy(
        update={"curve_voi": CurveVoiConfig(kind=kind)}
    )
    features = extract_case(necrotic_case, config(("pet_dynamic",), pet_dynamic=settings)).features
    assert features["dyn_TTP_min"] == pytest.approx(15.5)
    assert features["dyn_curve_voi_ml"] == pytest.approx(1000 * VOXEL_ML)


# --- Timing from the injection ----------------------------------------------------------


@pytest.mark.parametrize("injection_start_s", [-120.0, 0.0, 90.0])
def test_injection_start_moves_every_ttp_by_exactly_that_shift(
    tmp_path, necrotic_case, injection_start_s
):
    reference = extract_case(necrotic_case, config(("pet_dynamic",))).features
    sidecar = necrotic_case.path("pet_dynamic").with_name("pet_dynamic.json")
    content = json.loads(sidecar.read_text())
    moved = tmp_path / "pet_dynamic.json"
    moved.write_text(json.dumps(content | {"InjectionStart": injection_start_s}))
    image = tmp_path / "pet_dynamic.nii.gz"
    image.symlink_to(necrotic_case.path("pet_dynamic"))
    case = necrotic_case.__class__(
        **{**vars(necrotic_case), "paths": {**necrotic_case.paths, "pet_dynamic": image}}
    )
    features = extract_case(case, config(("pet_dynamic",))).features
    assert features["dyn_TTP_min"] - reference["dyn_TTP_min"] == pytest.approx(
        -injection_start_s / 60.0, abs=1e-9
    )


# --- PERCIST SUVpeak beside a hot structure ----------------------------------------------


def sphere_voxel_count(radius_voxels: float) -> int:
    half = int(np.floor(radius_voxels))
    offsets = np.indices((2 * half + 1,) * 3).reshape(3, -1).T - half
    return int(np.sum(np.sum(offsets**2, axis=1) <= radius_voxels**2 + 1e-9))


def test_suv_peak_beside_the_striatum_stays_in_the_lesion():
    array = np.ones(SHAPE)
    array[4:14, 4:14, 4:14] = 3.0  # 20 mm lesion
    array[8, 8, 8] = 3.5  # its hottest voxel, 4 voxels from every face
    array[4:14, 4:14, 14:20] = 6.0  # the striatum right against it
    lesion = box(SHAPE, np.s_[4:14, 4:14, 4:14]).astype(bool)
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing((SPACING_MM,) * 3)
    n = sphere_voxel_count(6.2035 / SPACING_MM)  # 1 cm³ sphere: radius 6.20 mm
    expected = (3.5 + 3.0 * (n - 1)) / n
    assert suv_peak(image, lesion) == pytest.approx(expected)
    assert suv_peak(image, lesion) <= 3.5
    # The IBSI local peak is centred on the hottest voxel, whose sphere lies in the lesion.
    assert ibsi_local_peak(image, lesion) == pytest.approx(expected)
    # Hottest voxel moved against the striatum: the IBSI peak reads the striatum, PERCIST not.
    array[8, 8, 8], array[8, 8, 13] = 3.0, 3.5
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing((SPACING_MM,) * 3)
    assert ibsi_local_peak(image, lesion) > 3.5
    # Spheres wholly in the lesion are centred 3 voxels or more from its faces; the one at
    # x = 10 reaches the hot voxel at x = 13.
    assert suv_peak(image, lesion) == pytest.approx(expected)


def test_suv_peak_of_a_lesion_smaller_than_the_sphere_is_its_mean_beside_a_hot_voxel():
    array = np.ones(SHAPE)
    array[10:12, 10:12, 10:12] = [[[2.0, 3.0], [2.0, 3.0]], [[2.0, 3.0], [2.0, 3.0]]]
    array[10:12, 10:12, 12:16] = 8.0
    lesion = box(SHAPE, np.s_[10:12, 10:12, 10:12]).astype(bool)
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing((SPACING_MM,) * 3)
    assert suv_peak(image, lesion) == pytest.approx(2.5)


def test_no_frame_in_the_tbr_window_is_reported_and_the_voi_uses_all_frames(tmp_path):
    static = half_hot_volume()
    frames = np.stack([static * (1.0 + 0.1 * t) for t in range(5)]).astype(np.float32)
    masks = {"lesion_mask": box(SHAPE, LESION), "ref_background": box(SHAPE, BACKGROUND)}
    folder = tmp_path / "short"
    case = case_of(folder, {"pet_dynamic": frames}, masks)
    (folder / "pet_dynamic.json").write_text(
        json.dumps(
            {
                "FrameTimesStart": [0, 180, 360, 540, 720],
                "FrameDuration": [180] * 5,
                "InjectionStart": 0,
            }
        )
    )  # 0-15 min: long enough not to read as minutes
    result = extract_case(case, config(("pet_dynamic",)))
    assert "dyn_TBRmean_btv_20_40" not in result.features
    assert result.features["dyn_TTP_min"] == pytest.approx(13.5)
    messages = [problem.message for problem in result.problems]
    assert any(
        "no frame with mid-time in [20.0, 40.0] min (the FET TBR window): no windowed TBR; "
        "the curve VOI is placed on the mean of all frames" in message
        for message in messages
    ), messages


@pytest.mark.shared
def test_ibsi_local_peak_matches_the_digital_phantom_consensus(shared_data):
    """IBSI 1 consensus value of the local intensity peak (VJGA) of the digital phantom."""
    folder = shared_data / "ibsi" / "digital_phantom" / "nifti"
    image = sitk.ReadImage(str(folder / "image" / "phantom.nii.gz"), sitk.sitkFloat64)
    roi = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "mask" / "mask.nii.gz")))
    assert ibsi_local_peak(image, roi.astype(bool)) == pytest.approx(2.6)
