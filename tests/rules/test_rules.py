"""Rule grammar, rules file and rule evaluation on tables where every outcome is known."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiomix.errors import ConfigError, RadiomixError, RuleError
from radiomix.features import ExtractionConfig, feature_names, load_config
from radiomix.features.registry import registered
from radiomix.rules import evaluate_rules, load_rules
from radiomix.rules.apply import apply_rule
from radiomix.rules.config import table_columns
from radiomix.rules.expression import And, Compare, Feature, Number, Or, evaluate, parse_expression

NAN = np.nan


@pytest.fixture(scope="module")
def rules() -> dict:
    return {rule.id: rule for rule in load_rules()}


def test_precedence_and_binds_tighter_than_or() -> None:
    node = parse_expression("pet_SUVmax > 1 or pet_TBRmax >= 2 and not pet_LNmax < -0.5", "r")
    assert isinstance(node, Or) and isinstance(node.operands[1], And)
    assert node.operands[0] == Compare(">", Feature("pet_SUVmax"), Number(1.0))
    assert node.operands[1].operands[1].operand.right == Number(-0.5)


def test_texture_feature_names_are_known() -> None:
    node = parse_expression("pet_original_glcm_Contrast > 1e-2", "r")
    assert node == Compare(">", Feature("pet_original_glcm_Contrast"), Number(0.01))


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("pet_SUVmax.__class__ > 1", 10, "attribute access"),
        ("exec(pet_SUVmax) > 1", 4, "calls are not allowed"),
        ("import os", 7, "expected a comparison operator"),
        ("__import__('os') > 1", 11, "unexpected character"),
        ("pet_SUVmax + 1 > 2", 11, "unexpected character '+'"),
        ("lambda: 1", 6, "unexpected character ':'"),
        ("pet_SUVmax > ", 13, "expected a feature name or a number"),
        ("(pet_SUVmax > 2", 15, "expected ')'"),
        ("pet_SUVmax 2", 11, "expected a comparison operator"),
        ("pet_SUVmax > 2 pet_TBRmax", 15, "unexpected 'pet_TBRmax'"),
        ("pet_SUVmax > and", 13, "found 'and'"),
        ("", 0, "empty expression"),
    ],
)
def test_parser_rejects_with_rule_id_and_position(text, position, fragment) -> None:
    with pytest.raises(RuleError) as info:
        parse_expression(text, "my_rule")
    message = str(info.value)
    assert "'my_rule'" in message
    assert f"at position {position}" in message
    assert fragment in message


def test_rules_read_every_feature_the_registry_declares() -> None:
    known = table_columns(load_config())
    names = [name for name in feature_names(load_config()) if "_original_" not in name]
    assert {"fdg_lesion_volume_ml", "dyn_curve_voi_ml", "pet_SUVpeak_ibsi_local"} <= set(names)
    for name in names:
        node = parse_expression(f"{name} > 1", "r", known)
        assert node == Compare(">", Feature(name), Number(1.0))


@pytest.mark.parametrize("name", ["mri_ADC_max", "pet_SUVmin", "fdg_lesion_volume"])
def test_rules_refuse_a_feature_no_family_declares(name) -> None:
    with pytest.raises(RuleError, match=f"rule 'r': '{name}' is neither a feature"):
        parse_expression(f"{name} > 1", "r", table_columns(load_config()))


def test_kleene_truth_tables() -> None:
    # a, b each true / false / unknown (NaN input): all nine combinations
    a = [5, 5, 5, 0, 0, 0, NAN, NAN, NAN]
    b = [5, 0, NAN, 5, 0, NAN, 5, 0, NAN]
    table = pd.DataFrame({"pet_SUVmax": a, "pet_TBRmax": b})
    both = evaluate(parse_expression("pet_SUVmax > 1 and pet_TBRmax > 1", "r"), table)
    either = evaluate(parse_expression("pet_SUVmax > 1 or pet_TBRmax > 1", "r"), table)
    negated = evaluate(parse_expression("not pet_SUVmax > 1", "r"), table)
    np.testing.assert_array_equal(both, [1, 0, NAN, 0, 0, 0, NAN, 0, NAN])
    np.testing.assert_array_equal(either, [1, 1, 1, 1, 0, NAN, 1, NAN, NAN])
    np.testing.assert_array_equal(negated, [0, 0, 0, 1, 1, 1, NAN, NAN, NAN])


def test_shipped_rules_are_complete(rules) -> None:
    assert set(rules) == {
        "fdg_dual_phase",
        "fdg_dual_phase_wm",
        "fdg_static_gm",
        "fdopa_visual_score",
        "fdopa_visual",
        "fdopa_ln_max",
        "fdopa_rsuv",
        "fet_twm",
        "fet_dynamic",
        "fet_metastasis_tbrmean",
        "fet_metastasis_tbrmax",
        "fet_metastasis_tbrmax_romagna",
        "fet_metastasis_combined",
        "fdopa_dynamic_slope",
        "met_lnr",
        "mrs_cho_naa",
        "mrs_cho_cr",
        "rcbv_mean",
        "rcbv_fraction",
        "adc_ratio",
    }
    assert rules["fet_dynamic"].inputs == ["dyn_TBRmean_btv_20_40", "dyn_TTP_min"]
    assert rules["fet_dynamic"].composite and rules["fet_dynamic"].direction == "higher"
    assert rules["fet_dynamic"].spec.parameters["dyn_TTP_min"] == "lower"
    assert rules["adc_ratio"].direction == "lower"
    assert rules["fdopa_dynamic_slope"].direction == "lower"
    assert rules["fdg_dual_phase"].inputs == ["fdg_dual_phase_index", "fdg_lesion_volume_ml"]
    assert rules["fdopa_rsuv"].spec.published.sensitivity == pytest.approx(0.90)
    assert rules["fet_dynamic"].spec.published.evidence == "checked"
    for rule in rules.values():
        assert rule.spec.citation and rule.spec.population
        if rule.spec.published.evidence != "checked":
            assert rule.spec.notes, rule.id


def _one_rule_table(
    column: str, values: list[float], tracer: str = "FET", primary: str = "glioma"
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(len(values))],
            "tracer": tracer,
            "primary": primary,
            column: values,
        }
    )


@pytest.mark.parametrize(
    ("rule_id", "column", "tracer", "primary", "values", "expected"),
    [
        ("fet_twm", "pet_TWMmax", "FET", "glioma", [2.65, 2.649, NAN], [1, 0, NAN]),
        ("fdopa_rsuv", "pet_LNmax", "FDOPA", "metastasis", [1.59, 1.591], [0, 1]),
        ("fdopa_visual", "pet_LSmax_over_max", "FDOPA", "metastasis", [1.0, 0.99], [1, 0]),
        ("fdg_dual_phase", "fdg_dual_phase_index", "FDG", "metastasis", [0.19, 0.2], [0, 1]),
        ("adc_ratio", "mri_ADC_ratio", "FET", "glioma", [1.6, 1.59], [0, 1]),
        ("rcbv_mean", "mri_rCBV_mean", "FDG", "metastasis", [1.8, 1.79], [1, 0]),
        ("rcbv_fraction", "mri_rCBV_fraction_gt_1p8", "FET", "glioma", [0.2, 0.21], [0, 1]),
        ("fet_metastasis_tbrmax_romagna", "pet_TBRmax", "FET", "metastasis", [2.15, 2.14], [1, 0]),
        (
            "mrs_cho_naa",
            "mrs_cho_naa",
            "FDOPA",
            "glioma",
            [1.81, 1.8, 1.6, 1.4, 1.39, NAN],
            [1, NAN, NAN, NAN, 0, NAN],
        ),
    ],
)
def test_thresholds_at_their_edges(
    rules, rule_id, column, tracer, primary, values, expected
) -> None:
    table = _one_rule_table(column, values, tracer, primary).assign(fdg_lesion_volume_ml=1.0)
    result = evaluate_rules(table, [rules[rule_id]])
    np.testing.assert_array_equal(result[f"rule_{rule_id}"], expected)
    np.testing.assert_array_equal(result[f"param_{rule_id}"], values)


def test_mrs_band_is_indeterminate_not_missing(rules) -> None:
    table = _one_rule_table("mrs_cho_naa", [1.6, NAN, 2.0])
    status = apply_rule(table, rules["mrs_cho_naa"]).status
    assert list(status) == ["indeterminate", "missing mrs_cho_naa", "applicable"]


def test_or_rule_is_decided_by_one_known_true_side(rules) -> None:
    table = pd.DataFrame(
        {
            "case_id": list("abcdef"),
            "tracer": "FET",
            "primary": "glioma",
            "dyn_TBRmean_btv_20_40": [2.4, 1.5, NAN, 1.5, NAN, 1.5],
            "dyn_TTP_min": [NAN, NAN, 30.0, 60.0, NAN, 30.0],
        }
    )
    outcome = apply_rule(table, rules["fet_dynamic"])
    np.testing.assert_array_equal(outcome.decision, [1, NAN, 1, 0, NAN, 1])
    assert list(outcome.status) == [
        "applicable",
        "missing dyn_TTP_min",
        "applicable",
        "applicable",
        "missing dyn_TBRmean_btv_20_40, dyn_TTP_min",
        "applicable",
    ]


def test_population_by_tracer_and_primary(rules) -> None:
    table = pd.DataFrame(
        {
            "case_id": list("abcde"),
            "tracer": ["fet", "FDOPA", "FET", None, " FET "],
            "primary": ["glioma", "glioma", "metastasis", "glioma", None],
            "pet_TWMmax": [3.0, 3.0, 3.0, 3.0, 3.0],
        }
    )
    outcome = apply_rule(table, rules["fet_twm"])
    assert list(outcome.status) == [
        "applicable",
        "other tracer",
        "other primary",
        "tracer unknown",
        "primary unknown",
    ]
    np.testing.assert_array_equal(outcome.decision, [1, NAN, NAN, NAN, NAN])
    np.testing.assert_array_equal(outcome.score, [3.0, NAN, NAN, NAN, NAN])
    by_tracer = evaluate_rules(table, [rules["fet_twm"]], by_primary=False)
    np.testing.assert_array_equal(by_tracer["rule_fet_twm"], [1, NAN, 1, NAN, 1])


def test_grade_and_rt_technique_restrict_when_known(rules) -> None:
    table = pd.DataFrame(
        {
            "case_id": list("abcd"),
            "tracer": "FET",
            "primary": "glioma",
            "grade": [4.0, 2.0, NAN, 3.0],
            "pet_TWMmax": 3.0,
        }
    )
    outcome = apply_rule(table, rules["fet_twm"])
    assert list(outcome.status) == ["applicable", "other grade", "applicable", "applicable"]
    assert outcome.unchecked.tolist() == [False, False, True, False]
    table = pd.DataFrame(
        {
            "case_id": list("abc"),
            "tracer": "FDOPA",
            "primary": "metastasis",
            "rt_technique": ["SRS", "wbrt", ""],
            "pet_LNmax": 2.0,
        }
    )
    outcome = apply_rule(table, rules["fdopa_rsuv"])
    assert list(outcome.status) == ["applicable", "other RT technique", "applicable"]
    assert outcome.unchecked.tolist() == [False, False, True]


def test_size_criterion_puts_small_lesions_out(rules) -> None:
    table = pd.DataFrame(
        {
            "case_id": list("abc"),
            "tracer": "FDG",
            "primary": "metastasis",
            "fdg_dual_phase_index": 0.3,
            "fdg_lesion_volume_ml": [0.6, 0.5, NAN],
        }
    )
    outcome = apply_rule(table, rules["fdg_dual_phase"])
    assert list(outcome.status) == [
        "applicable",
        "outside fdg_lesion_volume_ml > 0.5",
        "missing fdg_lesion_volume_ml",
    ]
    np.testing.assert_array_equal(outcome.decision, [1, NAN, NAN])


def test_composite_rule_is_scored_on_its_decision(rules) -> None:
    table = pd.DataFrame(
        {
            "case_id": list("abc"),
            "tracer": "FET",
            "primary": "glioma",
            "dyn_TBRmean_btv_20_40": [1.5, 2.5, 1.5],
            "dyn_TTP_min": [30.0, 60.0, 60.0],
        }
    )
    result = evaluate_rules(table, [rules["fet_dynamic"], rules["fet_twm"]])
    np.testing.assert_array_equal(result["rule_fet_dynamic"], [1, 1, 0])
    np.testing.assert_array_equal(result["param_fet_dynamic"], [1, 1, 0])


def test_visual_score_rule_reads_the_manifest_column(rules) -> None:
    table = _one_rule_table("visual_score", [4, 3, 2, NAN], "FDOPA", "metastasis")
    np.testing.assert_array_equal(
        evaluate_rules(table, [rules["fdopa_visual_score"]])["rule_fdopa_visual_score"],
        [1, 1, 0, NAN],
    )


def test_absent_feature_column_means_not_applicable(rules) -> None:
    table = pd.DataFrame({"case_id": ["a"], "tracer": ["FET"], "primary": ["glioma"]})
    outcome = apply_rule(table, rules["fet_twm"])
    assert list(outcome.status) == ["missing pet_TWMmax"]
    assert np.isnan(outcome.decision).all()


def test_non_numeric_feature_names_case_and_column(rules) -> None:
    table = _one_rule_table("pet_TWMmax", [3.0, "high"])
    with pytest.raises(RuleError, match=r"case 'c1'.*'pet_TWMmax'.*'high'"):
        evaluate_rules(table, [rules["fet_twm"]])


def test_table_without_tracer_column(rules) -> None:
    table = pd.DataFrame({"pet_TWMmax": [3.0]})
    with pytest.raises(RadiomixError, match="'tracer' column"):
        evaluate_rules(table, [rules["fet_twm"]])


RULE = """
version: 2
rules:
  - id: {id}
    name: test rule
    tracers: [FET]
    population: test
    positive: {positive}
    parameters: {{pet_TWMmax: {direction}}}
    evidence: {{definition: checked, threshold: checked, population: unchecked}}
    citation: test
    published: {{sensitivity: 0.9, evidence: checked}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_custom_rules_file_loads_and_applies(tmp_path) -> None:
    path = _write(
        tmp_path, RULE.format(id="twm_low", positive="pet_TWMmax >= 2.5", direction="higher")
    )
    (rule,) = load_rules(path)
    table = _one_rule_table("pet_TWMmax", [2.5, 2.4])
    np.testing.assert_array_equal(evaluate_rules(table, [rule])["rule_twm_low"], [1, 0])


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        (
            RULE.format(id="r1", positive="pet_TWMmax > 2", direction="up"),
            ConfigError,
            "rule 'r1' (entry 1), field parameters.pet_TWMmax",
        ),
        (
            RULE.format(id="r1", positive="pet_TWMmax > 2", direction="higher")
            + RULE.format(id="r1", positive="pet_TWMmax > 2", direction="higher").split("rules:")[
                1
            ],
            ConfigError,
            "duplicate rule ids ['r1']",
        ),
        (
            RULE.format(id="r1", positive="pet_TWMmax > 2", direction="higher").replace(
                "citation: test", "citation: test\n    colour: red"
            ),
            ConfigError,
            "field colour",
        ),
        (
            RULE.format(id="r1", positive="open(pet_TWMmax) > 2", direction="higher"),
            RuleError,
            "rule 'r1': calls are not allowed",
        ),
        (
            RULE.format(id="r1", positive="pet_TBRmax > 2", direction="higher"),
            RuleError,
            "parameters ['pet_TWMmax'] must be the features of its expressions ['pet_TBRmax']",
        ),
        ("version: 1\nrules: [\n", ConfigError, "not valid YAML"),
        ("- just a list", ConfigError, "must be a mapping"),
        ("!!python/object/apply:os.system ['echo hacked']", ConfigError, "not valid YAML"),
    ],
)
def test_bad_rules_files_are_rejected_clearly(tmp_path, text, error, fragment) -> None:
    with pytest.raises(error) as info:
        load_rules(_write(tmp_path, text))
    assert fragment in str(info.value)


def test_missing_rules_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read rules file"):
        load_rules(tmp_path / "absent.yaml")


def _fet_window(config: ExtractionConfig, window: tuple[float, float]) -> ExtractionConfig:
    """The configuration with `window` as the FET and the default TBR window."""
    tracers = {**config.pet_dynamic.tracers, "FET": {"tbr_window_min": window}}
    dynamic = config.pet_dynamic.model_copy(update={"tbr_window_min": window, "tracers": tracers})
    return config.model_copy(update={"pet_dynamic": dynamic})


def test_rules_are_checked_against_the_extraction_configuration_of_the_table(tmp_path) -> None:
    """The packaged FET window (20-40 min) names `dyn_TBRmean_btv_20_40`; a configuration
    whose FET and default windows are 10-30 min makes no such column, and a rule reading it is
    refused by name."""
    packaged = load_config()
    text = RULE.format(
        id="fet_window", positive="dyn_TBRmean_btv_20_40 >= 2", direction="higher"
    ).replace("pet_TWMmax: higher", "dyn_TBRmean_btv_20_40: higher")
    path = _write(tmp_path, text)
    (rule,) = load_rules(path, packaged)
    assert rule.inputs == ["dyn_TBRmean_btv_20_40"]
    with pytest.raises(RuleError) as info:
        load_rules(path, _fet_window(packaged, (10.0, 30.0)))
    assert "rule 'fet_window': 'dyn_TBRmean_btv_20_40' is neither a feature" in str(info.value)


def test_texture_features_are_those_of_the_configured_images(tmp_path) -> None:
    text = RULE.format(
        id="texture", positive="pet_original_glcm_Contrast > 1", direction="higher"
    ).replace("pet_TWMmax: higher", "pet_original_glcm_Contrast: higher")
    path = _write(tmp_path, text)
    packaged = load_config()
    assert load_rules(path, packaged)[0].parameters == ["pet_original_glcm_Contrast"]
    texture = packaged.texture.model_copy(update={"images": {"t1c": "t1c"}})
    without_pet = packaged.model_copy(update={"texture": texture})
    with pytest.raises(RuleError, match="'pet_original_glcm_Contrast' is neither a feature"):
        load_rules(path, without_pet)


def test_loading_the_rules_lists_no_texture_name(monkeypatch) -> None:
    """The packaged rules read no texture feature: checking them never asks the texture family
    (whose names come from pyradiomics) for its names."""

    def refuse(config: ExtractionConfig) -> list[str]:
        raise AssertionError("texture names listed")

    families = registered()
    monkeypatch.setitem(families, "texture", replace(families["texture"], names=refuse))
    assert len(load_rules()) > 10
    with pytest.raises(AssertionError, match="texture names listed"):
        parse_expression("pet_original_glcm_Contrast > 1", "r", table_columns(load_config()))
