"""IBSI chapter 1 conformance on the IBSI digital phantom (consensus reference values)."""

from __future__ import annotations

import pandas as pd
import pytest
import typer

from radiomix.errors import ImageReadError
from radiomix.features.commands import ibsi_check_command
from radiomix.features.ibsi import (
    ibsi_check,
    load_mapping,
    matches,
    read_phantom,
    round_significant,
    summarise,
    tag_index,
)

# 487 IBSI reference rows for the phantom (5 without a value, none of them mapped).
# pyradiomics has a counterpart for 398:
# 14 morphology, 15 statistics, 15 histogram, 6 x 25 GLCM and 6 x 16 GLRLM (2D, 2.5D and 3D,
# averaged and merged), 3 x 16 GLSZM, 3 x 5 NGTDM and 3 x 15 NGLDM (2D, 2.5D and 3D).
N_ROWS = 487
N_MAPPED = 14 + 15 + 15 + 6 * 25 + 6 * 16 + 3 * 16 + 3 * 5 + 3 * 15
CORRECTED_TAGS = {
    "stat_kurt",
    "ih_kurt",
    "morph_pca_maj_axis",
    "morph_pca_min_axis",
    "morph_pca_least_axis",
}
# Uncorrected, the major axis (11.33 mm) stays inside its tolerance (11.4 ± 0.1) but not the others.
UNCORRECTED_FAILS = CORRECTED_TAGS - {"morph_pca_maj_axis"}

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def report(request) -> pd.DataFrame:
    return ibsi_check(request.getfixturevalue("shared_data"), ["phantom"])


def test_every_mapped_feature_matches_the_consensus_value(report):
    assert len(report) == N_ROWS
    assert (report["status"] == "fail").sum() == 0
    assert (report["status"] == "pass").sum() == N_MAPPED
    assert (report["status"] == "unmapped").sum() == N_ROWS - N_MAPPED


def test_unmapped_families_are_those_pyradiomics_lacks(report):
    unmapped = report[report["status"] == "unmapped"]
    assert set(report.loc[report["tag"].str.startswith("dzm_"), "status"]) == {"unmapped"}
    assert unmapped["tag"].str.startswith(("dzm_", "ivh_", "loc_")).sum() == 3 * 16 + 7 + 2
    assert {"ih_mode", "ngl_dc_perc_3D", "ngl_dc_energy_2D", "stat_cov"} <= set(unmapped["tag"])
    per_slice = report[report["tag"].str.endswith(("_2D_avg", "_2D_comb"))]
    assert set(per_slice["status"]) == {"pass"}


def test_uncorrected_pyradiomics_misses_exactly_kurtosis_and_axis_lengths(shared_data):
    raw = ibsi_check(shared_data, ["phantom"], ibsi_corrections=False)
    assert set(raw.loc[raw["status"] == "fail", "tag"]) == UNCORRECTED_FAILS
    assert (raw["status"] == "pass").sum() == N_MAPPED - len(UNCORRECTED_FAILS)
    raw_values = raw.set_index("tag")["radiomix"]
    for tag in CORRECTED_TAGS:  # off the reference at its printed precision
        reference = raw.set_index("tag").loc[tag, "reference"]
        assert round_significant(raw_values[tag], 3) != reference


def test_corrected_values_against_reference(report):
    values = report.set_index("tag")
    assert values.loc["stat_kurt", "reference"] == -0.355
    assert round_significant(values.loc["stat_kurt", "radiomix"], 3) == -0.355
    for tag, reference in {
        "morph_pca_maj_axis": 11.4,
        "morph_pca_min_axis": 9.31,
        "morph_pca_least_axis": 8.54,
    }.items():
        assert round_significant(values.loc[tag, "radiomix"], 3) == reference


def test_merged_and_averaged_glcm_differ_as_in_ibsi(report):
    values = report.set_index("tag")["radiomix"]
    assert round_significant(values["cm_joint_max_3D_avg"], 3) == 0.503
    assert round_significant(values["cm_joint_max_3D_comb"], 3) == 0.509
    assert round_significant(values["cm_info_corr1_2_5D_comb"], 3) == -0.0334


def test_2d_glcm_is_averaged_over_slices_as_in_ibsi(report):
    values = report.set_index("tag")["radiomix"]
    assert round_significant(values["cm_joint_max_2D_avg"], 3) == 0.519
    assert round_significant(values["cm_inv_diff_norm_2D_avg"], 3) == 0.851


def test_summary_counts_per_family(report):
    summary = summarise(report).loc["digital phantom"]
    assert summary.loc["total", "mapped"] == N_MAPPED
    assert summary.loc["total", "matched"] == N_MAPPED
    assert summary.loc["Morphology", "mapped"] == 14
    assert summary.loc["Intensity histogram", "unmapped"] == 23 - 15
    assert summary.loc["Co-occurrence matrix (3D, merged)", "matched"] == 25
    assert summary.loc["Distance zone matrix (3D)", "unmapped"] == 16


def test_command_writes_report(shared_data, tmp_path, capsys):
    out = tmp_path / "ibsi_report.csv"
    ibsi_check_command(out=out, shared=shared_data, dataset=["phantom"])
    written = pd.read_csv(out)
    assert (written["status"] == "pass").sum() == N_MAPPED
    assert "total" in capsys.readouterr().out


def test_command_rejects_unknown_data_set(shared_data, tmp_path):
    with pytest.raises(typer.BadParameter, match="'F'"):
        ibsi_check_command(out=tmp_path / "r.csv", shared=shared_data, dataset=["F"])


def test_missing_phantom_names_the_file(tmp_path):
    with pytest.raises(ImageReadError, match=r"phantom\.nii\.gz"):
        read_phantom(tmp_path)


def test_tag_index_suffixes_sources_and_cross_class_entries():
    index = tag_index(load_mapping())
    assert index["cm_contrast_3D_comb"] == ("3D_comb", "discretised", "original_glcm_Contrast")
    assert index["cm_contrast_2D_avg"] == ("2D_avg", "discretised", "original_glcm_Contrast")
    assert index["szm_zs_entr_2_5D"] == ("2_5D_avg", "discretised", "original_glszm_ZoneEntropy")
    assert index["ngl_glnu_norm_3D"][2] == "original_firstorder_Uniformity"
    assert index["stat_kurt"] == ("3D_avg", "intensity", "original_firstorder_Kurtosis")
    assert index["ih_kurt"] == ("3D_avg", "discretised", "original_firstorder_Kurtosis")
    assert index["morph_volume"][1] == "morphology"
    assert "dzm_sde_3D" not in index


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [(0.039654, 3, 0.0397), (1487.2, 3, 1490.0), (-0.35549, 3, -0.355), (0.0, 3, 0.0)],
)
def test_round_significant(value, digits, expected):
    assert round_significant(value, digits) == pytest.approx(expected, abs=1e-12)


def test_matches_uses_tolerance_or_printed_precision():
    assert matches(556.2, 556, 4, None)
    assert not matches(561.0, 556, 4, None)
    assert matches(0.50349, 0.503, 0, 3)
    assert not matches(0.5036, 0.503, 0, 3)
    assert not matches(float("nan"), 0.503, 0, 3)
