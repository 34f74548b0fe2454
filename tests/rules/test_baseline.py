"""Baseline report and `baseline` command on a table where every outcome cell is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from radiomix.cli import app
from radiomix.errors import RadiomixError
from radiomix.rules import baseline_report, load_rules, parameter_report

NAN = np.nan

# FET / glioma cases for fet_twm (>= 2.65), each with its known confusion cell:
# TP ×4, FN ×2, TN ×3, FP ×1, two labelled cases without T/WM, one unlabelled case, and
# two FDOPA cases outside the rule's population.
TWM_CASES = [
    # (label, tracer, pet_TWMmax, mri_ADC_ratio, mrs_cho_naa)
    (1, "FET", 3.0, 1.40, 2.5),  # TP
    (1, "FET", 3.1, 1.45, 2.2),  # TP
    (1, "FET", 3.2, 1.50, 1.6),  # TP   (Cho/NAA indeterminate)
    (1, "FET", 3.3, 1.42, 1.2),  # TP   (Cho/NAA false negative)
    (1, "FET", 2.0, 1.41, NAN),  # FN
    (1, "FET", 2.1, 1.44, 2.1),  # FN
    (0, "FET", 2.2, 1.80, 1.0),  # TN
    (0, "FET", 2.3, 1.85, 1.5),  # TN   (Cho/NAA indeterminate)
    (0, "FET", 2.4, 1.90, 1.1),  # TN
    (0, "FET", 2.9, 1.75, 2.0),  # FP   (Cho/NAA false positive)
    (1, "FET", NAN, 1.43, 2.4),  # missing T/WM
    (0, "FET", NAN, 1.82, 1.3),  # missing T/WM
    (NAN, "FET", 3.5, 1.50, 2.0),  # unlabelled
    (1, "FDOPA", 3.0, NAN, NAN),  # other tracer
    (0, "FDOPA", 2.0, NAN, NAN),  # other tracer
]


@pytest.fixture()
def table() -> pd.DataFrame:
    frame = pd.DataFrame(
        TWM_CASES, columns=["label", "tracer", "pet_TWMmax", "mri_ADC_ratio", "mrs_cho_naa"]
    )
    frame.insert(0, "case_id", [f"case{i:02d}" for i in range(len(frame))])
    frame.insert(1, "patient_id", [f"p{i:02d}" for i in range(len(frame))])
    frame["primary"] = "glioma"
    frame["site"] = "A"
    return frame


@pytest.fixture(scope="module")
def rules() -> list:
    wanted = {"fet_twm", "adc_ratio", "mrs_cho_naa", "rcbv_mean"}
    return [rule for rule in load_rules() if rule.id in wanted]


def _row(report: pd.DataFrame, rule_id: str) -> pd.Series:
    return report.set_index("rule_id").loc[rule_id]


def test_every_confusion_cell_and_applicability_count(table, rules) -> None:
    row = _row(baseline_report(table, rules), "fet_twm")
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (4, 1, 3, 2)
    assert row["n_cases"] == 15
    assert row["n_applicable"] == 11 and row["n_not_applicable"] == 4
    assert (row["n_other_population"], row["n_missing_input"], row["n_indeterminate"]) == (2, 2, 0)
    assert row["n_unlabelled"] == 1 and row["n_evaluated"] == 10
    assert row["not_applicable_reasons"] == "missing pet_TWMmax: 2; other tracer: 2"
    assert row["sensitivity"] == pytest.approx(4 / 6)
    assert row["specificity"] == pytest.approx(3 / 4)
    assert row["accuracy"] == pytest.approx(7 / 10)
    assert row["ppv"] == pytest.approx(4 / 5)
    assert row["npv"] == pytest.approx(3 / 5)
    # Wilson 4/6 by the closed formula, z = 1.96
    z, p, n = 1.959964, 4 / 6, 6
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (row["sensitivity_ci_low"], row["sensitivity_ci_high"]) == pytest.approx(
        (centre - half, centre + half), abs=1e-6
    )


def test_parameter_auc_counts_pairs(table, rules) -> None:
    # positives 3.0-3.3 beat all four negatives (16 pairs); 2.0 and 2.1 beat none (of 24)
    row = parameter_report(table, rules).set_index("parameter").loc["pet_TWMmax"]
    assert row["rules"] == "fet_twm"
    assert row["n_auc"] == 10
    assert row["auc"] == pytest.approx(16 / 24)
    assert row["auc_ci_low"] < row["auc"] < row["auc_ci_high"]


def test_rule_row_scores_the_decision(table, rules) -> None:
    # the AUC of a 0/1 decision is the mean of its sensitivity and specificity
    row = _row(baseline_report(table, rules), "fet_twm")
    assert row["auc"] == pytest.approx((4 / 6 + 3 / 4) / 2)


def test_composite_rule_decision_and_each_parameter() -> None:
    # fet_dynamic: TBRmean_btv >= 2.0 or TTP < 45. Case by case (label, TBR, TTP):
    cases = [
        (1, 2.5, 60.0),
        (1, 1.5, 30.0),
        (1, 1.5, 50.0),
        (0, 1.5, 50.0),
        (0, 2.2, 60.0),
        (0, 1.8, 55.0),
    ]
    table = pd.DataFrame(cases, columns=["label", "dyn_TBRmean_btv_20_40", "dyn_TTP_min"])
    table = table.assign(case_id=[f"c{i}" for i in range(6)], tracer="FET", primary="glioma")
    fet = [rule for rule in load_rules() if rule.id == "fet_dynamic"]
    row = _row(baseline_report(table, fet), "fet_dynamic")
    # decisions 1, 1, 0, 0, 1, 0: TP 2, FN 1, FP 1, TN 2, both halves used
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (2, 1, 2, 1)
    assert row["auc"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    parameters = parameter_report(table, fet).set_index("parameter")
    # TBR: recurrences 2.5, 1.5, 1.5 vs 1.5, 2.2, 1.8: 2.5 beats 3, each 1.5 ties 1 (0.5)
    # and loses 2 -> (3 + 0.5 + 0.5) / 9
    assert parameters.loc["dyn_TBRmean_btv_20_40", "auc"] == pytest.approx(4 / 9)
    # TTP (lower = recurrence): 60, 30, 50 vs 50, 60, 55: 30 beats 3, 50 ties 50 and beats
    # 55 and 60 (2.5), 60 ties 60 (0.5) -> 6 / 9
    assert parameters.loc["dyn_TTP_min", "auc"] == pytest.approx(6 / 9)


def test_rules_sharing_a_parameter_share_one_auc_row() -> None:
    table = pd.DataFrame(
        {
            "case_id": list("abcdef"),
            "label": [1, 1, 1, 0, 0, 0],
            "tracer": "FDOPA",
            "primary": "metastasis",
            "pet_LNmax": [2.5, 1.5, 2.0, 1.7, 1.0, 1.8],
        }
    )
    fdopa = [rule for rule in load_rules() if rule.id in ("fdopa_ln_max", "fdopa_rsuv")]
    parameters = parameter_report(table, fdopa)
    assert len(parameters) == 1
    assert parameters.loc[0, "rules"] == "fdopa_ln_max, fdopa_rsuv"
    # 2.5 and 2.0 beat the three negatives, 1.5 beats 1.0: 7 of 9 pairs
    assert parameters.loc[0, "auc"] == pytest.approx(7 / 9)
    # Once the RT technique is known, the radiosurgery population is another set of cases.
    table["rt_technique"] = ["srs"] * 5 + ["wbrt"]
    assert len(parameter_report(table, fdopa)) == 2


def test_proxy_reports_what_its_threshold_implies() -> None:
    table = pd.DataFrame(
        {
            "case_id": ["a"],
            "label": [1],
            "tracer": "FDOPA",
            "primary": "metastasis",
            "pet_LNmax": [2.0],
            "pet_LSmax_over_max": [1.0],
        }
    )
    report = baseline_report(table, load_rules()).set_index("rule_id")
    # Lizarraga's L/S max 1.14 ± 0.39 vs 0.72 ± 0.29 at 1.0; L/N max 2.72 ± 0.95 vs
    # 1.81 ± 0.94 at 2.27 (midpoint) and at Cicone's 1.59.
    expected = {
        "fdopa_visual": (0.640, 0.833),
        "fdopa_ln_max": (0.682, 0.688),
        "fdopa_rsuv": (0.883, 0.407),
    }
    for rule_id, (sensitivity, specificity) in expected.items():
        assert report.loc[rule_id, "implied_sensitivity"] == pytest.approx(sensitivity, abs=1e-3)
        assert report.loc[rule_id, "implied_specificity"] == pytest.approx(specificity, abs=1e-3)
    assert np.isnan(report.loc["fet_dynamic", "implied_sensitivity"])


def test_lower_direction_rule_scores_low_values_as_recurrence(table, rules) -> None:
    # every recurrence has an ADC ratio below every radionecrosis: AUC 1, not 0
    row = _row(baseline_report(table, rules), "adc_ratio")
    assert row["auc"] == pytest.approx(1.0)
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (7, 0, 5, 0)
    assert row["n_other_population"] == 0 and row["n_missing_input"] == 2


def test_indeterminate_band_is_counted_not_scored(table, rules) -> None:
    row = _row(baseline_report(table, rules), "mrs_cho_naa")
    assert row["n_indeterminate"] == 2
    assert row["n_missing_input"] == 3
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (4, 1, 3, 1)
    assert row["n_unlabelled"] == 1


def test_rule_without_inputs_is_not_applicable_never_negative(table, rules) -> None:
    row = _row(baseline_report(table, rules), "rcbv_mean")
    assert row["n_applicable"] == 0 and row["n_missing_input"] == 15
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (0, 0, 0, 0)
    assert np.isnan(row["sensitivity"]) and np.isnan(row["auc"])


def test_published_figures_side_by_side(table, rules) -> None:
    row = _row(baseline_report(table, rules), "fet_twm")
    assert row["published_sensitivity"] == pytest.approx(0.80)
    assert row["published_specificity"] == pytest.approx(0.875)
    assert np.isnan(row["published_auc"])
    assert row["published_evidence"] == "checked"
    assert "Puranik" in row["citation"]


def test_bad_label_names_the_case(table, rules) -> None:
    table["label"] = table["label"].astype(object)
    table.loc[3, "label"] = "maybe"
    with pytest.raises(RadiomixError, match=r"case 'case03'.*'label'"):
        baseline_report(table, rules)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_command_prints_and_writes_csv(table, tmp_path, suffix) -> None:
    features = tmp_path / f"features{suffix}"
    table.to_csv(features, index=False) if suffix == ".csv" else table.to_parquet(features)
    out = tmp_path / "out" / "baseline.csv"
    result = CliRunner().invoke(
        app, ["baseline", str(features), "--out", str(out)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "fet_twm" in result.output and "Rule-based baseline" in result.output
    written = pd.read_csv(out)
    assert len(written) == len(load_rules())
    assert "pet_TWMmax" in set(pd.read_csv(out.with_name("baseline_parameters.csv"))["parameter"])
    row = _row(written, "fet_twm")
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (4, 1, 3, 2)


def test_command_writes_a_markdown_table(table, tmp_path) -> None:
    table.to_csv(tmp_path / "features.csv", index=False)
    markdown = tmp_path / "baseline.md"
    result = CliRunner().invoke(
        app,
        [
            "baseline",
            str(tmp_path / "features.csv"),
            "--out",
            str(tmp_path / "b.csv"),
            "--markdown",
            str(markdown),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = markdown.read_text().splitlines()
    assert lines[2 + len(load_rules())] == ""
    assert lines[3 + len(load_rules())].startswith("| parameter | rules |")
    fet_twm = next(line for line in lines if line.startswith("| fet_twm |"))
    assert "| 4 1 3 2 |" in fet_twm and "| 67 (" in fet_twm  # Se = 4 / 6


def test_command_reports_bad_input_without_traceback(tmp_path) -> None:
    missing = tmp_path / "nothing.csv"
    result = CliRunner().invoke(app, ["baseline", str(missing)])
    assert result.exit_code == 2
    assert "nothing.csv" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


def _synthetic_cohort(seed: int = 0, n: int = 120) -> pd.DataFrame:
    """FET glioma cases, one per patient, T/WM higher in recurrence."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "patient_id": [f"p{i}" for i in range(n)],
            "label": label,
            "tracer": "FET",
            "primary": "glioma",
            "site": "A",
            "pet_TWMmax": 2.4 + 0.5 * label + rng.normal(scale=0.45, size=n),
        }
    )


def test_duplicating_every_case_under_its_patient_keeps_the_interval_widths(rules) -> None:
    # Lesions of one patient are not independent evidence: duplicating each case under the
    # same patient must not narrow the AUC or sensitivity intervals (lesion-level DeLong and
    # Wilson would shrink them by about 30 %).
    table = _synthetic_cohort()
    doubled = pd.concat([table, table.assign(case_id=table["case_id"] + "b")], ignore_index=True)
    original = _row(baseline_report(table, rules), "fet_twm")
    twice = _row(baseline_report(doubled, rules), "fet_twm")
    assert twice["n_evaluated"] == 2 * original["n_evaluated"]
    for name in ("auc", "sensitivity", "specificity"):
        width = original[f"{name}_ci_high"] - original[f"{name}_ci_low"]
        assert width > 0.05
        assert twice[f"{name}_ci_high"] - twice[f"{name}_ci_low"] == pytest.approx(width, rel=0.10)
    as_lesions = baseline_report(doubled.assign(patient_id=doubled["case_id"]), rules)
    row = _row(as_lesions, "fet_twm")
    assert row["auc_ci_high"] - row["auc_ci_low"] < 0.8 * (
        original["auc_ci_high"] - original["auc_ci_low"]
    )
