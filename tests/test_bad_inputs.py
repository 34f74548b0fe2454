"""Bad input through the real command line: each kind is named, exits 2, and a batch goes on.

Every test builds a small cohort (three phantom cases a, b, c) in tmp_path, breaks case c or
a setting in one way, runs the verb as a user would and checks the named problem, the exit
code and that cases a and b come out exactly as from the intact cohort.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.phantoms import static_pet, write_case, write_image, write_manifest
from typer.testing import CliRunner

from radiomix.cli import app
from radiomix.data.manifest import load_manifest
from radiomix.features.cache import case_key

FAMILIES = "families: [pet_static, pet_dynamic]\n"
PET_FEATURES = ["pet_SUVmax", "pet_SUVmean", "pet_TBRmax", "dyn_TTP_min"]


def run(*args: str):
    """`radiomix ARGS` in this process; the result has exit_code and output."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def build_cohort(folder: Path) -> Path:
    """Cases a, b, c (complete phantoms) and the extraction configuration beside them."""
    rows = [write_case(folder / case, case) for case in "abc"]
    (folder / "extraction.yaml").write_text(FAMILIES)
    return write_manifest(folder, rows)


def extract(manifest: Path, out: Path):
    return run(
        "extract",
        manifest,
        "--out",
        out,
        "--config",
        manifest.parent / "extraction.yaml",
        "--workers",
        "1",
    )


@pytest.fixture(scope="module")
def intact(tmp_path_factory) -> pd.DataFrame:
    """The feature table of the intact cohort."""
    folder = tmp_path_factory.mktemp("intact")
    manifest = build_cohort(folder)
    result = extract(manifest, folder / "features.parquet")
    assert result.exit_code == 0, result.output
    return pd.read_parquet(folder / "features.parquet").set_index("case_id")


@pytest.fixture
def cohort(tmp_path) -> Path:
    return build_cohort(tmp_path / "cohort")


def pet_of_c(manifest: Path) -> Path:
    return manifest.parent / "c" / "pet.nii.gz"


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def cut_raw_nifti(path: Path) -> None:
    """A NIfTI whose gzip stream is whole but whose voxel data stops halfway."""
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: 352 + (len(raw) - 352) // 2]))


def with_voxels(value: float, count: int):
    def change(path: Path) -> None:
        pet = static_pet()
        pet.reshape(-1)[:count] = value
        write_image(path, pet.astype(np.float32))

    return change


def scaled(factor: float):
    def change(path: Path) -> None:
        write_image(path, (static_pet() * factor).astype(np.float32))

    return change


BROKEN_PET = {
    "truncated gzip": (truncate, "gzip stream is truncated or corrupt"),
    "data shorter than the header": (cut_raw_nifti, "file is truncated"),
    "NaN voxels": (with_voxels(np.nan, 7), "7 non-finite voxel(s) (7 NaN, 0 infinite)"),
    "infinite voxels": (with_voxels(np.inf, 3), "3 non-finite voxel(s) (0 NaN, 3 infinite)"),
    "negative SUV": (scaled(-1.0), "no positive voxel"),
    "all zero": (scaled(0.0), "no positive voxel"),
    "activity instead of SUV": (scaled(5000.0), "not a plausible SUV"),
}


@pytest.mark.parametrize("kind", BROKEN_PET)
def test_broken_pet_is_named_by_validate_and_fails_its_case_in_extract(cohort, intact, kind):
    change, message = BROKEN_PET[kind]
    change(pet_of_c(cohort))
    checked = run("validate", cohort)
    assert checked.exit_code == 2
    named = [
        line
        for line in checked.output.splitlines()
        if line.startswith(f"problem case c, column pet, file {pet_of_c(cohort)}: ")
    ]
    assert len(named) == 1 and message in named[0], checked.output
    out = cohort.parent / "features.parquet"
    result = extract(cohort, out)
    assert result.exit_code == 2 and "1 case(s) failed in part: c" in result.output
    errors = pd.read_csv(cohort.parent / "features_errors.csv")
    failed = errors[errors["kind"] == "error"]
    assert set(failed["case_id"]) == {"c"}
    assert failed["message"].str.contains(message, regex=False).any()
    table = pd.read_parquet(out).set_index("case_id")
    assert table.loc["c", ["pet_SUVmax", "pet_SUVmean", "pet_TBRmax"]].isna().all()
    assert not np.isinf(table.select_dtypes("float").to_numpy()).any()
    pd.testing.assert_frame_equal(table.loc[["a", "b"]], intact.loc[["a", "b"]])


def test_frame_times_in_minutes_are_refused(cohort, intact):
    sidecar = cohort.parent / "c" / "pet_dynamic.json"
    content = json.loads(sidecar.read_text())
    for key in ("FrameTimesStart", "FrameDuration"):
        content[key] = [value / 60 for value in content[key]]
    sidecar.write_text(json.dumps(content))
    checked = run("validate", cohort)
    assert checked.exit_code == 2 and "were they written in minutes?" in checked.output
    result = extract(cohort, cohort.parent / "features.parquet")
    assert result.exit_code == 2
    table = pd.read_parquet(cohort.parent / "features.parquet").set_index("case_id")
    assert math.isnan(table.loc["c", "dyn_TTP_min"])
    assert table.loc["c", "pet_SUVmax"] == intact.loc["c", "pet_SUVmax"]  # static PET is fine
    pd.testing.assert_frame_equal(table.loc[["a", "b"]], intact.loc[["a", "b"]])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_fails_its_case_only(cohort, intact):
    pet_of_c(cohort).chmod(0)
    checked = run("validate", cohort)
    assert checked.exit_code == 2 and "not readable (permission denied)" in checked.output
    result = extract(cohort, cohort.parent / "features.parquet")
    assert result.exit_code == 2
    table = pd.read_parquet(cohort.parent / "features.parquet").set_index("case_id")
    pd.testing.assert_frame_equal(table.loc[["a", "b"]], intact.loc[["a", "b"]])


def test_a_whole_disk_given_as_image_fails_fast_and_alone(cohort, intact):
    """A folder is read (and hashed for the cache) one level deep only, like DICOM series."""
    folder = cohort.parent / "not_dicom"
    (folder / "deep" / "deeper").mkdir(parents=True)
    (folder / "deep" / "deeper" / "big.bin").write_bytes(b"x" * 1000)
    table = pd.read_csv(cohort, dtype=str, keep_default_na=False)
    table.loc[table["case_id"] == "c", "pet"] = "not_dicom"
    table.to_csv(cohort, index=False)
    case = load_manifest(cohort).cases[2]
    key = case_key(case, "config")
    (folder / "deep" / "deeper" / "big.bin").write_bytes(b"y" * 1000)
    assert case_key(case, "config") == key  # nested files are not read
    result = extract(cohort, cohort.parent / "features.parquet")
    assert result.exit_code == 2 and "failed in part: c" in result.output
    table = pd.read_parquet(cohort.parent / "features.parquet").set_index("case_id")
    pd.testing.assert_frame_equal(table.loc[["a", "b"]], intact.loc[["a", "b"]])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda table: table.drop(columns="lesion_mask"), "has no lesion_mask column"),
        (lambda table: table.iloc[0:0], "holds no case"),
    ],
)
def test_manifest_that_cannot_work_is_refused_before_anything_runs(cohort, change, message):
    change(pd.read_csv(cohort, dtype=str)).to_csv(cohort, index=False)
    assert run("validate", cohort).exit_code == 2
    out = cohort.parent / "features.parquet"
    result = extract(cohort, out)
    assert result.exit_code == 2 and message in result.output
    assert not out.exists() and not (cohort.parent / ".radiomix_cache").exists()


def test_unwritable_output_is_refused_before_anything_runs(cohort):
    blocker = cohort.parent / "a_file"
    blocker.write_text("")
    result = extract(cohort, blocker / "features.parquet")
    assert result.exit_code == 2 and f"{blocker} is a file, not a folder" in result.output
    assert "Traceback" not in result.output


# --- rules and baseline --------------------------------------------------------------------

RULE = {
    "id": "r",
    "name": "test rule",
    "tracers": ["FET"],
    "population": "test",
    "positive": "pet_TBRmax >= 2.0",
    "parameters": {"pet_TBRmax": "higher"},
    "evidence": {"definition": "unchecked", "threshold": "unchecked", "population": "unchecked"},
    "citation": "test",
    "published": {"evidence": "unchecked"},
}


def baseline(tmp_path: Path, table: pd.DataFrame, **rule):
    features = tmp_path / "features.csv"
    table.to_csv(features, index=False)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"version": 2, "rules": [{**RULE, **rule}]}))
    return run("baseline", features, "--rules", rules, "--out", tmp_path / "baseline.csv")


def rule_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": ["a", "b", "c", "d"],
            "label": [1, 0, 1, 0],
            "tracer": ["FET", "fet", "Fet", "FET"],
            "pet_TBRmax": [2.5, 1.5, 2.2, 2.1],
        }
    )


def test_lower_case_tracer_gets_the_rule(tmp_path):
    result = baseline(tmp_path, rule_table())
    assert result.exit_code == 0, result.output
    report = pd.read_csv(tmp_path / "baseline.csv").iloc[0]
    assert (report["n_applicable"], report["tp"], report["fp"], report["tn"]) == (4, 2, 1, 1)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"positive": "pet_TBRmax >= 1e400"}, "number '1e400' is out of range"),
        ({"positive": "(" * 5000 + "pet_TBRmax >= 2" + ")" * 5000}, "nested deeper than 50"),
    ],
)
def test_bad_rule_is_named(tmp_path, rule, message):
    result = baseline(tmp_path, rule_table(), **rule)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_infinite_feature_value_is_named_by_baseline(tmp_path):
    table = rule_table()
    table.loc[2, "pet_TBRmax"] = np.inf
    result = baseline(tmp_path, table)
    assert result.exit_code == 2
    assert "case 'c': column 'pet_TBRmax' holds inf, not a finite number" in result.output


# --- training: table and settings ----------------------------------------------------------


def training_table(n: int = 24, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 2
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "patient_id": [f"p{i}" for i in range(n)],
            "label": label,
            "site": "A",
            "pet_SUVmax": rng.normal(2 + label, 0.5),
            "pet_TBRmax": rng.normal(1.5 + label, 0.4),
            "mri_ADC_mean": rng.normal(1.0, 0.2, n),
        }
    )


EXPERIMENT = {
    "name": "bad-input",
    "seed": 0,
    "input": {"table": "features.csv"},
    "models": [{"name": "l2_lr"}],
    "search": {"n_trials": 2},
    "outer_cv": {"folds": 3, "repeats": 1},
    "inner_cv": {"folds": 2},
}


def train(tmp_path: Path, table: pd.DataFrame, tracking: str, *options: str, **settings):
    table.to_csv(tmp_path / "features.csv", index=False)
    experiment = {**EXPERIMENT, **settings}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return run("train", path, "--out", tmp_path / "run", "--tracking-uri", tracking, *options)


def with_duplicate(table: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([table, table.iloc[[3]]], ignore_index=True)


def with_text_cell(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype({"pet_TBRmax": object}).assign(
        pet_TBRmax=lambda t: t["pet_TBRmax"].where(t.index != 5, "?")
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (with_duplicate, "1 row(s) repeat the case_id of an earlier row: c3"),
        (with_text_cell, "column 'pet_TBRmax' mixes numbers and text: case 'c5' holds '?'"),
        (lambda t: t.assign(mri_ADC_mean=np.nan), "empty in every labelled case: mri_ADC_mean"),
        (
            lambda t: t.assign(pet_SUVmax=t["pet_SUVmax"].where(t.index != 4, np.inf)),
            "column 'pet_SUVmax' holds an infinite value: case 'c4'",
        ),
    ],
)
def test_bad_training_table_is_refused(tmp_path, mlflow_uri, change, message):
    result = train(tmp_path, change(training_table()), mlflow_uri)
    assert result.exit_code == 2 and message in result.output, result.output


def test_bad_training_data_is_dropped_and_listed_on_request(tmp_path):
    from radiomix.modeling.config import ExperimentConfig
    from radiomix.modeling.data import load_model_data

    table = with_text_cell(with_duplicate(training_table())).assign(mri_ADC_mean=np.nan)
    table.to_csv(tmp_path / "features.csv", index=False)
    config = ExperimentConfig.model_validate(
        {**EXPERIMENT, "input": {"table": str(tmp_path / "features.csv"), "drop_bad_data": True}}
    )
    data = load_model_data(config, tmp_path / "features.csv")
    assert len(data.y) == 24 and data.features == ["pet_SUVmax"]
    assert [problem.split(":")[0] for problem in data.dropped] == [
        "1 row(s) repeat the case_id of an earlier row",
        "column 'pet_TBRmax' mixes numbers and text",
        "1 feature column(s) are empty in every labelled case",
    ]


def test_other_tracers_windows_are_not_bad_data_but_the_own_window_is(tmp_path):
    """A table whose dynamic series are all FET has empty FDOPA (10-30 min) and MET (20-30 min)
    TBR columns by design (each case fills its own tracer's window): left out. An empty FET
    window is refused."""
    from radiomix.errors import ConfigError
    from radiomix.modeling.config import ExperimentConfig
    from radiomix.modeling.data import load_model_data

    table = training_table().assign(
        tracer=["FET", "FET", "MET"] * 8,
        dyn_curve_voi_ml=lambda t: np.where(t["tracer"] == "FET", 2.0, np.nan),
        dyn_TBRmean_btv_20_40=lambda t: t["pet_TBRmax"] * 0.8,
        dyn_TBRmean_btv_10_30=np.nan,
        dyn_TBRmean_btv_20_30=np.nan,
    )
    table.to_csv(tmp_path / "features.csv", index=False)
    config = ExperimentConfig.model_validate(
        {**EXPERIMENT, "input": {"table": str(tmp_path / "features.csv")}}
    )
    data = load_model_data(config, tmp_path / "features.csv")
    assert "dyn_TBRmean_btv_20_40" in data.features and data.dropped == []
    assert not {"dyn_TBRmean_btv_10_30", "dyn_TBRmean_btv_20_30"} & set(data.features)
    table.assign(dyn_TBRmean_btv_20_40=np.nan).to_csv(tmp_path / "features.csv", index=False)
    with pytest.raises(ConfigError, match="empty in every labelled case: dyn_TBRmean_btv_20_40"):
        load_model_data(config, tmp_path / "features.csv")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"input": {"table": "features.csv", "site_pattern": "(["}},
            "not a valid regular expression",
        ),
        ({"seed": 2**32}, "less than or equal to"),
        ({"search": {"storage": "no url"}}, "not a database URL"),
        ({"search": {"storage": "sqlite:////no/such/folder/optuna.db"}}, "cannot be opened"),
        (
            {
                "models": [
                    {"name": "rf", "params": {"n_estimator": {"type": "int", "low": 5, "high": 9}}}
                ]
            },
            "model rf has no hyper-parameter ['n_estimator']",
        ),
        (
            {
                "models": [
                    {
                        "name": "l1_lr",
                        "params": {"penalty": {"type": "categorical", "choices": ["l2"]}},
                    }
                ]
            },
            "model l1_lr has no hyper-parameter ['penalty']",
        ),
        (
            {
                "models": [
                    {
                        "name": "svm",
                        "params": {"C": {"type": "float", "low": 0, "high": 1, "log": True}},
                    }
                ]
            },
            "a log-scale parameter needs low > 0",
        ),
        (
            {
                "models": [
                    {"name": "l2_lr", "params": {"C": {"type": "float", "low": -1, "high": 1}}}
                ]
            },
            "parameter C",
        ),
        (
            {"search": {"k_features": {"type": "int", "low": 0, "high": 3}}},
            "k_features must be whole numbers >= 1",
        ),
        ({"outer_cv": {"folds": 13}}, "class 0 has 12 patient(s): too few for outer_cv.folds 13"),
        ({"outer_cv": {"folds": 6}, "inner_cv": {"folds": 11}}, "inner_cv.folds 11"),
    ],
)
def test_bad_setting_is_named_before_training(tmp_path, mlflow_uri, settings, message):
    result = train(tmp_path, training_table(), mlflow_uri, **settings)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_corrupt_tracking_store_is_named(tmp_path):
    database = tmp_path / "mlflow.db"
    database.write_bytes(b"this is not a database" * 100)
    result = train(tmp_path, training_table(), f"sqlite:///{database}")
    assert result.exit_code == 2 and "MLflow tracking store" in result.output
    assert "cannot be used" in result.output


def test_unwritable_train_output_is_named(tmp_path, mlflow_uri):
    (tmp_path / "run").write_text("")
    result = train(tmp_path, training_table(), mlflow_uri)
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
