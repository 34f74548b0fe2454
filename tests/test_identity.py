"""No patient identity from DICOM headers in any file written from extraction to prediction.

A small synthetic cohort whose static and dynamic PET are rewritten as DICOM series carrying
PatientName, PatientID, PatientBirthDate, OtherPatientIDs, AccessionNumber and
InstitutionName goes through extract -> train (a real MLflow SQLite store) -> report ->
export -> predict; every file written (feature table and its metadata, cache, error reports,
the MLflow database and artifacts, the HTML report, the exported model, the predictions) is
then searched for those values, compressed and packed files unpacked.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import SimpleITK as sitk
from helpers.dicom import IDENTITY, write_pet_series
from typer.testing import CliRunner

from radiomix.cli import app

N_PATIENTS = 16
STATIC_TIMING = {"start": [1200.0], "duration": [600.0]}  # 20-30 min after injection


def _as_dicom(cohort: Path, cell: str) -> str:
    """A PET NIfTI (static, or 4D with its BIDS sidecar) written beside itself as a DICOM
    series (once); its manifest cell."""
    nifti = cohort / cell
    series = nifti.parent / nifti.name.replace(".nii.gz", "_dicom")
    if not series.is_dir():
        image = sitk.ReadImage(str(nifti))
        geometry = {"spacing": image.GetSpacing()[:3], "origin": image.GetOrigin()[:3]}
        if image.GetDimension() == 3:
            frames, timing = sitk.GetArrayFromImage(image)[None], STATIC_TIMING
        else:
            frames = sitk.GetArrayFromImage(image)
            sidecar = json.loads(
                nifti.with_name(nifti.name.replace(".nii.gz", ".json")).read_text()
            )
            timing = {"start": sidecar["FrameTimesStart"], "duration": sidecar["FrameDuration"]}
        write_pet_series(series, frames, timing["start"], timing["duration"], **geometry)
    return str(series.relative_to(cohort))


def _dicom_manifests(manifest: Path) -> tuple[Path, Path]:
    """The cohort with DICOM PET plus one unlabelled case whose PET series has no
    PatientWeight (an error naming its file), and three new unlabelled cases to predict."""
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    for index, row in table.iterrows():
        for column in ("pet", "pet_dynamic"):
            if row[column]:
                table.loc[index, column] = _as_dicom(manifest.parent, row[column])
    broken = table[table["pet"] != ""].iloc[[0]].assign(case_id="broken", patient_id="B0", label="")
    pet = sitk.ReadImage(
        str(manifest.parent / table.loc[broken.index[0], "pet"].replace("_dicom", ".nii.gz"))
    )
    write_pet_series(
        manifest.parent / "broken_pet",
        sitk.GetArrayFromImage(pet)[None],
        STATIC_TIMING["start"],
        STATIC_TIMING["duration"],
        spacing=pet.GetSpacing(),
        origin=pet.GetOrigin(),
        edit=lambda ds: delattr(ds, "PatientWeight"),
    )
    broken["pet"] = "broken_pet"
    training = manifest.parent / "dicom_manifest.csv"
    pd.concat([table, broken]).to_csv(training, index=False)
    new = pd.concat([table.head(2), broken]).assign(
        case_id=["n0", "n1", "n2"], patient_id=["q0", "q1", "q2"], label="", label_source=""
    )
    new_cases = manifest.parent / "new_cases.csv"
    new.to_csv(new_cases, index=False)
    return training, new_cases


def _readable(path: Path) -> bytes:
    """A file's bytes with gzip and zip containers unpacked and parquet tables as text."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        metadata = b"".join(table.schema.metadata.values()) if table.schema.metadata else b""
        return table.to_pandas().to_csv().encode() + metadata
    return _unpacked(data)


def _unpacked(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return _unpacked(gzip.decompress(data))
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return b"".join(_unpacked(archive.read(name)) for name in archive.namelist())
    return data


def _forms(value: str) -> set[str]:
    """A value as a header holds it and as it might be printed: with spaces for carets, its
    name components (those long enough not to occur in words), a birth date with dashes."""
    forms = {value, value.replace("^", " "), *(part for part in value.split("^") if len(part) > 4)}
    if value.isdigit() and len(value) == 8:
        forms.add(f"{value[:4]}-{value[4:6]}-{value[6:]}")
    return {form.lower() for form in forms}


@pytest.mark.slow
def test_no_identity_tag_in_any_output_from_extraction_to_prediction(tmp_path, monkeypatch):
    from radiomix.evaluation.experiment import run_experiment
    from radiomix.modeling.config import ExperimentConfig
    from radiomix.synth.cohort import synthesize_cohort

    monkeypatch.chdir(tmp_path)  # anything written relative to the working folder is searched
    manifest = synthesize_cohort(tmp_path / "input", N_PATIENTS, seed=3, workers=1)
    training, new_cases = _dicom_manifests(manifest)
    out = tmp_path / "out"
    config = out / "extraction.yaml"
    out.mkdir()
    config.write_text("families: [pet_static, pet_dynamic, mri]\n")
    table = out / "features.parquet"
    runner = CliRunner()
    errors_csv = out / "errors.csv"
    extract = ["extract", str(training), "--out", str(table), "--config", str(config)]
    extracted = runner.invoke(app, [*extract, "--workers", "1", "--errors", str(errors_csv)])
    assert table.is_file(), extracted.output
    uri = f"sqlite:///{out / 'mlflow' / 'mlflow.db'}"
    experiment = ExperimentConfig.model_validate(
        {
            "name": "identity-test",
            "seed": 0,
            "input": {"table": str(table)},
            "models": [{"name": "l2_lr"}],
            "search": {"n_trials": 2},
            "outer_cv": {"folds": 2, "repeats": 1},
            "inner_cv": {"folds": 2},
        }
    )
    run_id = run_experiment(experiment, out / "run", tracking_uri=uri).run_id
    predictions = out / "predictions.csv"
    for command in (
        ["report", run_id, "--out", str(out / "report.html"), "--tracking-uri", uri],
        ["export", run_id, "--out", str(out / "model"), "--tracking-uri", uri],
        ["predict", str(new_cases), "--model", str(out / "model"), "--out", str(predictions)],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code in (0, 2), (command, result.output)  # 2: the broken case

    written = {
        path: _readable(path)
        for path in tmp_path.rglob("*")
        if path.is_file() and path.relative_to(tmp_path).parts[0] != "input"
    }
    everything = b"\n".join(written.values()).lower()
    # The search sees what the outputs say: the broken case's error, the features, the run.
    errors = errors_csv.read_text()
    assert "broken" in errors and "PatientWeight" in errors
    assert predictions.is_file() and (out / "report.html").is_file()
    assert (out / "mlflow" / "mlruns").is_dir() and (out / "model").is_dir()
    assert b"pet_suvmax" in everything and run_id.encode() in everything
    for keyword, value in IDENTITY.items():
        for form in _forms(value):
            found = [str(p) for p, data in written.items() if form.encode() in data.lower()]
            assert not found, f"{keyword} ({form}) in {found}"
