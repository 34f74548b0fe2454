"""The built wheel, installed without extras in a fresh environment outside the checkout, runs
synth, extract and baseline with its packaged configuration and writes the same tables as the
checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

N_PATIENTS = "4"


def run(command: list[str | Path], cwd: Path, **env: str) -> str:
    """Run a command; fail with its output when it does not succeed."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def pins(lock: Path) -> str:
    """The `name==version ; marker` lines of a hashed lock file, as a pip constraints file."""
    return (
        "\n".join(
            re.sub(r"\s*\\$", "", line)
            for line in lock.read_text().splitlines()
            if re.match(r"^[A-Za-z0-9]", line)
        )
        + "\n"
    )


@pytest.fixture(scope="module")
def installed(repo_root, tmp_path_factory) -> Path:
    """The radiomix command of a fresh venv holding the wheel and the core dependencies."""
    folder = tmp_path_factory.mktemp("wheel")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            folder / "dist",
            repo_root,
        ],
        folder,
    )
    wheel = next((folder / "dist").glob("radiomix-*.whl"))
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    constraints = folder / "constraints.txt"
    constraints.write_text(pins(repo_root / "requirements" / "dev.txt"))
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "--require-hashes", "-r", repo_root / "requirements" / "build.txt"], folder)
    run(
        [*pip, "--no-build-isolation", "-c", constraints, wheel],
        folder,
        PYTHONPATH=str(repo_root / "requirements" / "pyradiomics-build"),
    )
    return folder / "venv" / "bin" / "radiomix"


def pipeline(radiomix: Path | str, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """synth → extract → baseline in ``folder`` with the packaged defaults."""
    folder.mkdir()
    run([radiomix, "synth", "--n-patients", N_PATIENTS, "--out", "cohort"], folder)
    run([radiomix, "extract", "cohort/data_manifest.csv", "--out", "features.parquet"], folder)
    run([radiomix, "baseline", "features.parquet", "--out", "baseline.csv"], folder)
    return pd.read_parquet(folder / "features.parquet"), pd.read_csv(folder / "baseline.csv")


def test_wheel_outside_the_checkout_gives_the_checkout_tables(installed, tmp_path):
    checkout = Path(sys.executable).with_name("radiomix")
    features, baseline = pipeline(installed, tmp_path / "wheel")
    expected_features, expected_baseline = pipeline(checkout, tmp_path / "checkout")
    assert any(column.startswith("pet_original_glcm_") for column in features.columns)
    pd.testing.assert_frame_equal(features, expected_features, check_exact=True)
    pd.testing.assert_frame_equal(baseline, expected_baseline, check_exact=True)


def test_wheel_core_names_the_missing_extra(installed, tmp_path):
    (tmp_path / "e.yaml").write_text("name: e\ninput: {table: t.csv}\nmodels: [{name: rf}]\n")
    done = subprocess.run(
        [installed, "train", "e.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert 'pip install "radiomix[ml]"' in done.stderr and "Traceback" not in done.stderr
