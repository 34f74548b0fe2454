"""IBSI CT radiomics phantom, configurations A–E, and the IBSI image processing steps.

The configurations are checked against the IBSI consensus values and their tolerances; the
processing steps against hand computations on tiny images (IBSI reference manual, chapter 2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiomix.errors import ConfigError, MaskError
from radiomix.features.ibsi import IBSI_CT_CONFIGS, dataset_report, summarise
from radiomix.features.ibsi_preprocess import (
    IbsiConfiguration,
    axis_grid,
    binarise,
    discretise_fixed_bin_number,
    discretise_fixed_bin_size,
    interpolation_grid,
    load_configurations,
    preprocess,
    resample,
    resegment,
)

# Mapped reference rows per configuration: 60 diagnostics (initial / interpolated image and
# ROI, re-segmented ROI), 14 morphology, 15 statistics, 15 intensity histogram, and
# 2D configurations A, B: GLCM and GLRLM (2D and 2.5D, averaged and merged), GLSZM, NGTDM and
#   NGLDM (2D and 2.5D);
# 3D configurations C, D, E: GLCM and GLRLM (3D averaged and merged), GLSZM, NGTDM, NGLDM.
COMMON = 60 + 14 + 15 + 15
MAPPED_2D = COMMON + 4 * 25 + 4 * 16 + 2 * (16 + 5 + 15)
MAPPED_3D = COMMON + 2 * 25 + 2 * 16 + 16 + 5 + 15
EXPECTED = {"A": MAPPED_2D, "B": MAPPED_2D, "C": MAPPED_3D, "D": MAPPED_3D, "E": MAPPED_3D}


@pytest.fixture(scope="module")
def reports(request) -> dict[str, pd.DataFrame]:
    shared = request.getfixturevalue("shared_data")
    return {name: dataset_report(shared, name) for name in EXPECTED}


@pytest.mark.shared
@pytest.mark.parametrize("configuration", sorted(EXPECTED))
def test_every_mapped_feature_is_within_the_ibsi_tolerance(reports, configuration):
    report = reports[configuration]
    mapped = report[report["status"].isin(["pass", "fail"])]
    failed = mapped.loc[mapped["status"] == "fail", "tag"].tolist()
    assert failed == []
    assert len(mapped) == EXPECTED[configuration]
    unmapped = set(report.loc[report["status"] == "unmapped", "tag"])
    assert {"ih_mode", "ivh_v10", "loc_peak_glob", "stat_qcod", "morph_moran_i"} <= unmapped
    assert not any(tag.startswith(("cm_", "rlm_", "szm_", "ngt_")) for tag in unmapped)


@pytest.mark.shared
def test_fixed_bin_size_grey_levels_start_at_the_resegmentation_bound(reports):
    """Config C: ROI minimum −939 HU, bins of 25 HU from −1000: lowest grey level 3 (IBSI 3)."""
    values = reports["C"].set_index("tag")
    assert values.loc["int_mask_min_int_reseg_roi", "radiomix"] == pytest.approx(-939, abs=4)
    assert values.loc["ih_min", "radiomix"] == values.loc["ih_min", "reference"] == 3
    joint_average = values.loc["cm_joint_avg_3D_avg"]
    assert abs(joint_average["radiomix"] - joint_average["reference"]) <= joint_average["tolerance"]


@pytest.mark.shared
def test_interpolated_grids_match_ibsi(reports):
    c = reports["C"].set_index("tag")["radiomix"]
    assert [c[f"img_dim_{axis}_interp_img"] for axis in "xyz"] == [100, 99, 90]
    b = reports["B"].set_index("tag")["radiomix"]
    assert [b[f"img_dim_{axis}_interp_img"] for axis in "xyz"] == [100, 99, 60]
    assert b["vox_dim_z_interp_img"] == 3.0


@pytest.mark.shared
def test_summary_per_configuration(reports):
    summary = summarise(pd.concat(reports.values(), ignore_index=True))
    assert summary.loc[("configuration D", "total"), "mapped"] == MAPPED_3D
    assert summary.loc[("configuration D", "total"), "matched"] == MAPPED_3D
    assert summary.loc[("configuration A", "Size zone matrix (2D)"), "matched"] == 16
    assert summary.loc[("configuration E", "Distance zone matrix (3D)"), "unmapped"] == 16


def test_centre_aligned_axis_grid_follows_the_ibsi_example():
    # IBSI: 4 voxels of 3 mm to 2 mm -> ceil(12 / 2) = 6 points, centres aligned:
    # first point at (3 * 3 - 2 * 5) / 2 = -0.5 mm from the original first voxel centre.
    assert axis_grid(4, 3.0, 2.0) == (6, -0.5)
    # 0.977 mm x 204 to 2 mm: ceil(99.65) = 100 points.
    assert axis_grid(204, 0.977, 2.0)[0] == 100


def test_interpolation_grid_keeps_axes_and_follows_the_direction():
    image = sitk.Image([4, 4, 3], sitk.sitkFloat32)
    image.SetSpacing([3.0, 3.0, 5.0])
    image.SetOrigin([10.0, 20.0, 30.0])
    image.SetDirection([-1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])
    size, spacing, origin = interpolation_grid(image, (2.0, 2.0, None))
    assert size == (6, 6, 3)
    assert spacing == (2.0, 2.0, 5.0)
    # -0.5 mm along the flipped x axis is +0.5 mm in world x; z is not interpolated.
    assert origin == pytest.approx((10.5, 19.5, 30.0))


def _ramp(values, spacing: float) -> sitk.Image:
    image = sitk.GetImageFromArray(np.array(values, dtype=float).reshape(1, 1, -1))
    image.SetSpacing([spacing, 1.0, 1.0])
    return image


def test_linear_resampling_on_the_aligned_grid_with_boundary_padding():
    # values 0, 30, 60, 90 at x = 0, 3, 6, 9 mm; new points at -0.5, 1.5, ..., 9.5 mm.
    # Inside: 10 HU per mm; outside, the boundary intensities (0 and 90) are repeated.
    resampled = resample(_ramp([0, 30, 60, 90], 3.0), (2.0, None, None), sitk.sitkLinear)
    assert sitk.GetArrayFromImage(resampled).ravel() == pytest.approx([0, 15, 35, 55, 75, 90])


def test_partial_volume_threshold_includes_one_half():
    assert binarise(np.array([0.49, 0.5, 0.51, 1.0]), 0.5).tolist() == [False, True, True, True]


def test_mask_interpolation_binarises_linear_fractions():
    # Mask 0, 0, 1, 1 at 3 mm; at the 2 mm points (grid -1/6, 1/2, 7/6, 11/6, 5/2, 19/6) the
    # linear fractions are 0, 0, 1/6, 5/6, 1, 1: the ROI keeps the last three points.
    image = _ramp([0, 30, 60, 90], 3.0)
    mask = sitk.Cast(_ramp([0, 0, 1, 1], 3.0), sitk.sitkUInt8)
    config = IbsiConfiguration(
        name="tiny",
        aggregation="3D",
        spacing=(2.0, None, None),
        discretisation="fixed_bin_size",
        bin_width=25,
        resegment_range=(0, None),
    )
    images = preprocess(image, mask, config)
    roi = sitk.GetArrayFromImage(images.morphological_mask).ravel()
    assert roi.tolist() == [0, 0, 0, 1, 1, 1]
    # intensities 55, 75, 90 in bins of 25 HU from 0: 3, 4, 4
    assert sitk.GetArrayFromImage(images.discretised).ravel().tolist() == [0, 0, 0, 3, 4, 4]


def test_fixed_bin_size_is_anchored_at_the_lower_bound():
    values = np.array([-1000, -976, -975, -939, 400])
    # floor((x + 1000) / 25) + 1
    assert discretise_fixed_bin_size(values, -1000, 25).tolist() == [1, 1, 2, 3, 57]


def test_fixed_bin_number_puts_the_maximum_in_the_last_bin():
    assert discretise_fixed_bin_number(np.array([0.0, 5.0, 9.9, 10.0]), 4).tolist() == [1, 3, 4, 4]


def test_range_and_outlier_resegmentation():
    roi = np.ones(6, dtype=bool)
    values = np.array([-2000, -500, 0, 400, 401, 3000])
    assert resegment(values, roi, (-500, 400), None).tolist() == [0, 1, 1, 1, 0, 0]
    assert resegment(values, roi, (-500, None), None).tolist() == [0, 1, 1, 1, 1, 1]
    # 19 zeros and one 100: mean 5, sd sqrt(475) = 21.8; 100 lies 95 > 3 sd from the mean.
    spikes = np.array([0.0] * 19 + [100.0])
    kept = resegment(spikes, np.ones(20, dtype=bool), None, 3)
    assert kept.sum() == 19 and not kept[-1]
    # 9 zeros and one 100: mean 10, sd 30; 100 lies exactly 3 sd away and is kept.
    assert resegment(np.array([0.0] * 9 + [100.0]), np.ones(10, dtype=bool), None, 3).all()


def test_configurations_file_matches_the_ibsi_table():
    configurations = load_configurations(IBSI_CT_CONFIGS)
    assert sorted(configurations) == ["A", "B", "C", "D", "E"]
    assert configurations["A"].spacing is None
    assert configurations["B"].spacing == (2, 2, None)
    assert configurations["C"].resegment_range == (-1000, 400)
    assert configurations["D"].resegment_range is None and configurations["D"].outlier_sigma == 3
    assert configurations["E"].interpolation == "bspline"


def test_invalid_configuration_is_a_config_error():
    with pytest.raises(ConfigError, match=r"configuration X: .*bin_width"):
        IbsiConfiguration(name="X", aggregation="3D", discretisation="fixed_bin_size")
    with pytest.raises(ConfigError, match="interpolation"):
        IbsiConfiguration(
            name="X",
            aggregation="3D",
            discretisation="fixed_bin_number",
            bin_number=8,
            interpolation="sinc",
        )


def test_resegmentation_that_removes_everything_is_a_mask_error():
    image = _ramp([0, 30, 60, 90], 3.0)
    mask = sitk.Cast(_ramp([0, 1, 1, 0], 3.0), sitk.sitkUInt8)
    config = IbsiConfiguration(
        name="empty",
        aggregation="3D",
        discretisation="fixed_bin_number",
        bin_number=4,
        resegment_range=(500, 600),
    )
    with pytest.raises(MaskError, match="empty: no ROI voxel left after re-segmentation"):
        preprocess(image, mask, config)
