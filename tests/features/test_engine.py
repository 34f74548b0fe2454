"""The extraction engine end to end: table, error report, cache, Dask, provenance, CLI."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.phantoms import (
    quick_config,
    static_pet,
    write_case,
    write_image,
    write_manifest,
)
from helpers.workers import kill_worker_on_b, malloc_trim_threshold, worker_threads

from radiomix.data.case_loader import load_case_image
from radiomix.data.manifest import load_manifest
from radiomix.errors import ConfigError, ExtractionError
from radiomix.features import engine as engine_module
from radiomix.features import extract_features, feature_names, read_provenance, register
from radiomix.features import registry as registry_module
from radiomix.features.cache import FeatureCache
from radiomix.features.engine import CaseResult, stored_config
from radiomix.features.regions import mask_array
from radiomix.paths import CONFIG_DIR


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Three phantom cases: complete, without ref_striatum/adc, and one with a broken mask."""
    folder = tmp_path_factory.mktemp("cohort")
    rows = [
        write_case(folder / "a", "a"),
        write_case(folder / "b", "b", skip=("ref_striatum", "adc")),
        write_case(folder / "c", "c"),
    ]
    (folder / "c" / "lesion_mask.nii.gz").write_bytes(b"not an image")
    rows[1]["label"], rows[1]["site"] = "0", "B"
    return write_manifest(folder, rows)


@pytest.fixture(scope="module")
def serial_run(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "features.parquet"
    first = extract_features(cohort, out, config=quick_config(), workers=1)
    second = extract_features(cohort, out, config=quick_config(), workers=1)
    return out, first, second


def test_table_has_one_row_per_case_with_stable_columns(serial_run):
    out, _, _ = serial_run
    table = pd.read_parquet(out)
    assert list(table["case_id"]) == ["a", "b", "c"]
    assert list(table.columns[:5]) == ["case_id", "patient_id", "label", "site", "tracer"]
    assert table["label"].tolist() == [1, 0, 1]
    assert table["age"].tolist() == [54.0, 54.0, 54.0]
    assert set(feature_names(quick_config())) <= set(table.columns)
    assert table.loc[0, "pet_TBRmax"] == pytest.approx(2.0)
    assert math.isnan(table.loc[1, "pet_LSmax"]) and math.isnan(table.loc[1, "mri_ADC_mean"])
    assert table.loc[1, "pet_TBRmax"] == pytest.approx(2.0)


def test_broken_case_is_reported_and_the_others_complete(serial_run):
    out, first, _ = serial_run
    errors = pd.read_csv(out.with_name("features_errors.csv"))
    assert list(errors.columns) == ["case_id", "stage", "kind", "message"]
    failed = errors[errors["kind"] == "error"]
    assert set(failed["case_id"]) == {"c"}
    assert {"pet_static", "pet_dynamic", "fdg_dual_phase", "mri", "texture"} <= set(failed["stage"])
    assert failed["message"].str.contains("lesion_mask").all()
    table = first.table.set_index("case_id")
    lesion_features = ["pet_SUVmax", "dyn_TTP_min", "mri_ADC_mean", "pet_original_glcm_Contrast"]
    assert table.loc["c", lesion_features].isna().all()
    assert table.loc["c", "mrs_cho_naa"] == 2.1  # a family without the mask still runs
    assert table.loc["a", lesion_features].notna().all()
    missing = errors[(errors["case_id"] == "b") & (errors["kind"] == "missing")]
    assert "no ref_striatum: pet_LSmax, pet_LSmean, pet_LSmax_over_max set to NaN" in set(
        missing["message"]
    )


def test_second_run_hits_the_cache_with_an_identical_table(serial_run):
    _, first, second = serial_run
    assert (first.n_computed, first.n_cached) == (3, 0)
    assert (second.n_computed, second.n_cached) == (0, 3)
    pd.testing.assert_frame_equal(first.table, second.table)
    pd.testing.assert_frame_equal(first.errors, second.errors)
    pd.testing.assert_frame_equal(first.curves, second.curves)


def test_changed_or_corrupt_entries_are_recomputed(cohort, tmp_path):
    folder = tmp_path / "cohort"
    rows = [write_case(folder / name, name) for name in ("a", "b")]
    manifest = write_manifest(folder, rows)
    config = quick_config(families=("pet_static",))
    out = tmp_path / "features.parquet"
    extract_features(manifest, out, config=config, workers=1)
    brighter = static_pet() * 2
    write_image(folder / "b" / "pet.nii.gz", brighter.astype(np.float32))
    entries = sorted((tmp_path / ".radiomix_cache").rglob("*.json"))
    assert len(entries) == 2
    rerun = extract_features(manifest, out, config=config, workers=1)
    assert (rerun.n_computed, rerun.n_cached) == (1, 1)
    assert rerun.table.loc[1, "pet_SUVmax"] == pytest.approx(6.0)
    for entry in (tmp_path / ".radiomix_cache").rglob("*.json"):
        entry.write_text('{"case_id": "a", "feat')  # as if a write had been cut short
    assert extract_features(manifest, out, config=config, workers=1).n_computed == 2


def test_cache_writes_leave_no_temporary_files(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.store("ab" + "0" * 62, {"x": 1.0})
    assert cache.load("ab" + "0" * 62) == {"x": 1.0}
    assert [path.suffix for path in tmp_path.rglob("*") if path.is_file()] == [".json"]


def test_provenance_in_parquet_metadata(serial_run, cohort):
    out, _, _ = serial_run
    provenance = read_provenance(out)
    assert provenance["config_sha256"] == quick_config().digest()
    assert provenance["manifest"] == str(cohort.resolve())
    import radiomics

    assert provenance["pyradiomics"] == radiomics.__version__.lstrip("v")
    assert provenance["numpy"] == np.__version__
    assert json.loads(provenance["config"])["families"][0] == "pet_static"


def test_curves_written_beside_the_table(serial_run):
    out, _, _ = serial_run
    curves = pd.read_parquet(out.with_name("features_curves.parquet"))
    assert sorted(path.name for path in out.parent.iterdir()) == [
        ".radiomix_cache",
        "features.parquet",
        "features_cases",
        "features_curves.parquet",
        "features_errors.csv",
    ]
    assert list(curves.columns) == ["case_id", "region", "frame", "mid_min", "suv"]
    assert set(curves["case_id"]) == {"a", "b"}
    lesion_a = curves[(curves["case_id"] == "a") & (curves["region"] == "lesion_mask")]
    assert lesion_a["suv"].to_numpy() == pytest.approx(1 + 0.03 * lesion_a["mid_min"].to_numpy())


def test_worker_processes_give_the_serial_table_exactly(serial_run, cohort, tmp_path):
    _, serial, _ = serial_run
    parallel = extract_features(
        cohort, tmp_path / "features.parquet", config=quick_config(), workers=2
    )
    assert parallel.n_computed == 3
    pd.testing.assert_frame_equal(parallel.table, serial.table, check_exact=True)
    pd.testing.assert_frame_equal(parallel.errors, serial.errors)
    pd.testing.assert_frame_equal(parallel.curves, serial.curves, check_exact=True)


def test_workers_are_separate_single_threaded_processes(cohort, monkeypatch):
    monkeypatch.setattr(engine_module, "extract_case", worker_threads)
    cases = list(load_manifest(cohort).cases)
    results: list[CaseResult] = []
    engine_module.run_local(cases, quick_config(), 2, results.append)
    assert sorted(result.case_id for result in results) == ["a", "b", "c"]
    pids = {result.features["pid"] for result in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert {(r.features["blas_threads"], r.features["itk_threads"]) for r in results} == {(1, 1)}


def test_a_killed_worker_fails_its_case_only(cohort, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "extract_case", kill_worker_on_b)
    out, config = tmp_path / "features.parquet", quick_config(families=("pet_static",))
    result = extract_features(cohort, out, config=config, workers=2)
    engine_rows = result.errors[result.errors["stage"] == "engine"]
    assert engine_rows["case_id"].tolist() == ["b"]
    assert "worker process died" in engine_rows["message"].iat[0]
    assert result.table["pet_SUVmax"].tolist()[::2] == [1.0, 1.0]
    monkeypatch.undo()
    rerun = extract_features(cohort, out, config=config, workers=1)
    assert (rerun.n_computed, rerun.n_cached) == (1, 2)  # b was not cached
    assert rerun.table.loc[1, "pet_SUVmax"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("workers", "n_cases", "expected"),
    [
        (None, 1, 1),
        (4, 1, 1),
        (None, 2, min(2, engine_module.usable_cores())),
        (8, 3, 3),
        (1, 50, 1),
        (3, 50, 3),
    ],
)
def test_worker_count(workers, n_cases, expected):
    assert engine_module.local_workers(workers, n_cases) == expected


def test_progress_is_reported_through_the_callback(cohort, tmp_path):
    config = quick_config(families=("mrs",))

    def reported() -> list[tuple[int, int]]:
        calls: list[tuple[int, int]] = []
        extract_features(
            cohort,
            tmp_path / "f.parquet",
            config=config,
            workers=2,
            progress=lambda done, total: calls.append((done, total)),
        )
        return calls

    assert reported() == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert reported() == [(3, 3)]  # the second run is served by the cache


def test_a_new_family_is_one_function_and_a_name(cohort, tmp_path, monkeypatch):
    monkeypatch.setattr(registry_module, "FAMILIES", dict(registry_module.registered()))

    @register("lesion_voxels", inputs={"lesion_voxel_count": ("pet", "lesion_mask")})
    def lesion_voxels(case, config):
        pet = load_case_image(case, "pet")
        return {"lesion_voxel_count": float(mask_array(case, "lesion_mask", pet).sum())}

    config = quick_config(families=("lesion_voxels",))
    result = extract_features(cohort, tmp_path / "f.parquet", config=config, workers=1)
    counts = result.table["lesion_voxel_count"].tolist()
    assert counts[:2] == [8.0**3] * 2 and math.isnan(counts[2])  # case c has a broken mask
    assert result.errors["stage"].tolist() == ["lesion_voxels"]


def test_unknown_family_is_a_config_error(cohort, tmp_path):
    with pytest.raises(ConfigError, match="unknown extractor family nope"):
        extract_features(cohort, tmp_path / "f.parquet", config=quick_config(families=("nope",)))


def test_extract_command_writes_the_table(cohort, tmp_path):
    import typer
    from typer.testing import CliRunner

    from radiomix.features.commands import extract_command

    app = typer.Typer()
    app.command()(extract_command)
    config = tmp_path / "extraction.yaml"
    config.write_text("families: [pet_static, mrs]\n")
    out = tmp_path / "table.parquet"
    result = CliRunner().invoke(
        app,
        [
            str(cohort),
            "--out",
            str(out),
            "--config",
            str(config),
            "--workers",
            "1",
            "--errors",
            str(tmp_path / "e.csv"),
        ],
    )
    assert result.exit_code == 2, result.output  # case c has a broken mask
    assert "3 computed" in result.output and "1 case(s) failed in part: c" in result.output
    table = pd.read_parquet(out)
    assert table["pet_SUVmax"].tolist()[:2] == [3.0, 3.0]
    assert (tmp_path / "e.csv").is_file()
    bad = CliRunner().invoke(app, [str(tmp_path / "absent.csv"), "--out", str(out)])
    assert bad.exit_code == 2 and "manifest not found" in bad.output


@pytest.mark.integration
def test_existing_scheduler_by_address(serial_run, cohort, tmp_path):
    from distributed import LocalCluster

    _, serial, _ = serial_run
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        result = extract_features(
            cohort,
            tmp_path / "features.parquet",
            config=quick_config(),
            scheduler=cluster.scheduler_address,
        )
    assert result.n_computed == 3
    pd.testing.assert_frame_equal(result.table, serial.table)


def test_config_in_provenance_rebuilds_the_same_configuration(serial_run, tmp_path):
    out, _, _ = serial_run
    rebuilt = stored_config(out)
    assert rebuilt == quick_config()
    assert rebuilt is not None and rebuilt.digest() == read_provenance(out)["config_sha256"]
    csv = tmp_path / "features.parquet"  # a CSV table, whatever its name: no provenance
    pd.read_parquet(out).to_csv(csv, index=False)
    assert read_provenance(csv) == {} and stored_config(csv) is None


def test_unreachable_scheduler_is_an_extraction_error(cohort, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ExtractionError, match=r"cannot connect to the Dask scheduler at tcp://"):
        extract_features(
            cohort, tmp_path / "f.parquet", config=quick_config(), scheduler="tcp://127.0.0.1:9"
        )


@pytest.mark.integration
def test_failed_task_is_reported_not_cached_and_retried(cohort, tmp_path, monkeypatch):
    from distributed import LocalCluster

    extract = engine_module.extract_case_single_threaded

    def failing_for_b(case, config, *derived):
        if case.case_id == "b":
            raise RuntimeError("worker lost")
        return extract(case, config, *derived)

    monkeypatch.setattr(engine_module, "extract_case_single_threaded", failing_for_b)
    out, config = tmp_path / "features.parquet", quick_config(families=("pet_static",))
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        result = extract_features(cohort, out, config=config, scheduler=cluster.scheduler_address)
    engine_rows = result.errors[result.errors["stage"] == "engine"]
    assert engine_rows["case_id"].tolist() == ["b"]
    assert "worker failed: RuntimeError: worker lost" in engine_rows["message"].iat[0]
    assert result.table["pet_SUVmax"].isna().tolist() == [False, True, True]  # c: broken mask
    monkeypatch.undo()
    rerun = extract_features(cohort, out, config=config, workers=1)
    assert (rerun.n_computed, rerun.n_cached) == (1, 2)
    assert rerun.table.loc[1, "pet_SUVmax"] == pytest.approx(3.0)


# The worker settings docs/cluster.md recommends (no malloc trimming, no profiler).
DASK_WORKER_ENVIRONMENT = {"DASK_CONFIG": str(CONFIG_DIR / "dask")}


@pytest.fixture
def dask_processes(tmp_path):
    """A scheduler and two single-threaded workers started with Dask's own commands as
    separate processes, listening on 127.0.0.1 only, without dashboards."""
    import shutil
    import subprocess
    import sys

    dask = shutil.which("dask", path=str(Path(sys.executable).parent))
    if dask is None:
        pytest.skip("the dask command is not installed (pip install radiomix[dask])")
    address_file = tmp_path / "scheduler.json"
    commands = [
        [
            dask,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(address_file),
        ]
    ]
    commands += [
        [
            dask,
            "worker",
            "--scheduler-file",
            str(address_file),
            "--host",
            "127.0.0.1",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--name",
            f"w{index}",
        ]
        for index in (1, 2)
    ]
    tests = str(Path(__file__).resolve().parents[1])  # workers import the probes of helpers/
    paths = [tests, os.environ.get("PYTHONPATH")]
    environment = {
        **os.environ,
        **DASK_WORKER_ENVIRONMENT,
        "PYTHONPATH": os.pathsep.join(filter(None, paths)),
    }
    processes = []
    try:
        for command in commands:
            processes.append(
                subprocess.Popen(
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment
                )
            )
            if command[1] == "scheduler":
                _wait_for(address_file)
        yield json.loads(address_file.read_text())["address"]
    finally:
        for process in reversed(processes):  # workers first, then their scheduler
            process.terminate()
            process.wait(timeout=30)


def _wait_for(path: Path, seconds: float = 60) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.is_file(), f"no {path.name} after {seconds} s"


@pytest.mark.integration
@pytest.mark.slow
def test_dask_scheduler_and_worker_commands_give_the_serial_table(
    serial_run, cohort, tmp_path, dask_processes
):
    from distributed import Client, get_task_stream

    _, serial, _ = serial_run
    assert dask_processes.startswith("tcp://127.0.0.1:")
    with Client(dask_processes) as client:
        client.wait_for_workers(2, timeout=120)
        with get_task_stream(client) as stream:
            result = extract_features(
                cohort,
                tmp_path / "features.parquet",
                config=quick_config(),
                scheduler=dask_processes,
            )
        pids = client.run(os.getpid)
        trim = client.run(malloc_trim_threshold)
    assert set(trim.values()) == {None}  # the documented setting reaches the workers
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    assert {task["worker"] for task in stream.data} == set(pids)  # both workers computed
    assert result.n_computed == 3
    pd.testing.assert_frame_equal(result.table, serial.table, check_exact=True)
    pd.testing.assert_frame_equal(result.errors, serial.errors)
    pd.testing.assert_frame_equal(result.curves, serial.curves, check_exact=True)
