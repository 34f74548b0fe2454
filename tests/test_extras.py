"""The core runs without the optional extras; a missing extra is named, not a traceback.

A module set to None in ``sys.modules`` cannot be imported, as if it were not installed.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from helpers.phantoms import quick_config, write_case, write_manifest

import radiomix
from radiomix.errors import MissingExtraError
from radiomix.features import extract_features
from radiomix.paths import EXPERIMENTS_DIR

BLOCK_MLFLOW = "import sys; sys.modules['mlflow'] = None; "


def test_cli_names_the_extra_of_a_missing_module():
    code = BLOCK_MLFLOW + "from radiomix.cli import run; run()"
    script = subprocess.run(
        [sys.executable, "-c", code, "train", str(EXPERIMENTS_DIR / "demo_all.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert script.returncode == 2, script.stderr
    assert script.stderr.startswith("error: mlflow is not installed")
    assert 'pip install "radiomix[ml]"' in script.stderr and "Traceback" not in script.stderr


def test_python_api_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.delitem(sys.modules, "radiomix.evaluation.experiment", raising=False)
    with pytest.raises(MissingExtraError, match=r"'ml' extra"):
        _ = radiomix.run_experiment


def test_extraction_without_dask_runs_on_local_workers_with_the_serial_table(tmp_path, monkeypatch):
    rows = [write_case(tmp_path / name, name) for name in ("a", "b")]
    manifest = write_manifest(tmp_path, rows)
    serial = extract_features(
        manifest, tmp_path / "serial.parquet", config=quick_config(), workers=1
    )
    monkeypatch.setitem(sys.modules, "distributed", None)
    parallel = extract_features(
        manifest,
        tmp_path / "parallel.parquet",
        config=quick_config(),
        workers=2,
        cache_dir=tmp_path / "c",
    )
    assert parallel.n_computed == 2
    pd.testing.assert_frame_equal(parallel.table, serial.table, check_exact=True)


def test_a_scheduler_without_dask_names_the_extra(tmp_path):
    manifest = write_manifest(tmp_path, [write_case(tmp_path / "a", "a")])
    code = "import sys; sys.modules['distributed'] = None; from radiomix.cli import run; run()"
    script = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "extract",
            str(manifest),
            "--out",
            str(tmp_path / "f.parquet"),
            "--scheduler",
            "tcp://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert script.returncode == 2, script.stderr
    assert 'pip install "radiomix[dask]"' in script.stderr and "Traceback" not in script.stderr
