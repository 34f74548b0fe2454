"""Export the final model of a training run as an MLflow pyfunc model folder.

The folder holds the MLflow files (`MLmodel`, the pyfunc code file, environment files, input
example of training medians, signature) and, under `artifacts/radiomix/`: the fitted
pipeline (skops format, no pickle), its input columns, threshold, SHAP reference row and
training sites (`radiomix_model.json`), the novelty detector, the extraction configuration,
the run's metrics and lineage, and the model card (`model_card.json`, `model_card.md`). No
training case and no absolute path is stored. `checksums.sha256` records the SHA-256 of
every file; `load_model` verifies it (and its signature when a key is set).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from radiomix import __version__
from radiomix.errors import ModelError
from radiomix.hashing import file_sha256
from radiomix.serving.card import model_card, write_card
from radiomix.serving.checksums import write_checksums
from radiomix.serving.model import (
    ARTIFACT_KEY,
    MODEL_JSON,
    SITE,
    RadiomixModel,
    shap_reference,
)
from radiomix.serving.novelty import NoveltyDetector
from radiomix.serving.safe_format import PIPELINE_FILE, dump_pipeline
from radiomix.versions import library_versions
from radiomix.yaml_io import read_yaml

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FORMAT_VERSION = 2
PYFUNC_CODE = Path(__file__).with_name("pyfunc_code.py")
RUN_FILES = (
    "final_model/pipeline.joblib",
    "final_model/training_features.parquet",
    "final_model/model_info.json",
    "metrics.json",
    "lineage.json",
    "experiment.yaml",
)


def _download_run(run_id: str, tracking_uri: str, folder: Path) -> Path:
    """Every artifact of the run, downloaded into `folder`; ModelError if the run is unknown."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.MlflowClient(tracking_uri).get_run(run_id)
        local = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, dst_path=str(folder), tracking_uri=tracking_uri
            )
        )
    except MlflowException as error:
        raise ModelError(
            f"cannot read run {run_id} from {tracking_uri}: {error.message}"
        ) from error
    missing = [name for name in RUN_FILES if not (local / name).is_file()]
    if missing:
        raise ModelError(
            f"run {run_id} lacks artifact(s) {missing}; is it a parent run of `radiomix train`?"
        )
    return local


def _table_config(experiment: dict, lineage: dict) -> dict | None:
    """The extraction configuration in the provenance of the training table, if it is intact.

    Any table format is accepted: only a parquet table written by the extraction stores a
    provenance, a CSV table has none.
    """
    from radiomix.features.engine import read_provenance

    table = experiment["input"].get("table")
    if not table or not Path(table).is_file():
        return None
    if file_sha256(Path(table)) != lineage.get("table_sha256"):
        return None
    config = read_provenance(Path(table)).get("config")
    return _validated(json.loads(config)) if config else None


def _validated(config: dict) -> dict | None:
    """The configuration normalised by the installed schema; None when it does not fit."""
    from pydantic import ValidationError

    from radiomix.features import ExtractionConfig

    try:
        return ExtractionConfig.model_validate(config).model_dump(mode="json")
    except ValidationError:
        return None


def extraction_config(run_files: Path) -> dict | None:
    """The extraction configuration that made the training table, as a JSON-ready dict.

    From the training table's provenance when that table is unchanged, else from the
    experiment's extraction configuration file; None when neither is available (the model
    then predicts from feature tables only).
    """
    from radiomix.features import load_config

    experiment = read_yaml(run_files / "experiment.yaml", "experiment file of the run")
    lineage = json.loads((run_files / "lineage.json").read_text())
    config = _table_config(experiment, lineage)
    if config is not None:
        return config
    path = experiment["input"].get("extraction_config")
    if path and Path(path).is_file():
        return load_config(Path(path)).model_dump(mode="json")
    return None


def _model_json(run_id: str, run_files: Path, pipeline: Pipeline, training: pd.DataFrame) -> dict:
    """The model's description: no path and no training case, only aggregates (the mean
    transformed training row for SHAP, the training sites)."""
    info = json.loads((run_files / "final_model" / "model_info.json").read_text())
    reference = shap_reference(pipeline, training[info["input_columns"]])
    sites = sorted(training[SITE].astype(str).unique()) if SITE in training else []
    return {
        **info,
        "format_version": FORMAT_VERSION,
        "radiomix_version": __version__,
        "versions": library_versions(),
        "run_id": run_id,
        "extraction_config": extraction_config(run_files),
        "shap_reference": reference,
        "training_sites": sites,
        "exported": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def stage_artifacts(run_id: str, run_files: Path, folder: Path) -> dict:
    """Write the radiomix files of the model into `folder`; return `radiomix_model.json`.

    The pipeline comes from the run's own joblib file (a run of this user's store) and is
    written in the skops format, which loads without running code.
    """
    import joblib

    folder.mkdir(parents=True)
    shutil.copyfile(run_files / "metrics.json", folder / "metrics.json")
    lineage = json.loads((run_files / "lineage.json").read_text())
    (folder / "lineage.json").write_text(json.dumps(_file_names(lineage), indent=2))
    pipeline = joblib.load(run_files / "final_model" / "pipeline.joblib")
    dump_pipeline(pipeline, folder / PIPELINE_FILE)
    training = pd.read_parquet(run_files / "final_model" / "training_features.parquet")
    info = _model_json(run_id, run_files, pipeline, training)
    features = [c for c in info["input_columns"] if c != SITE]
    novelty = NoveltyDetector.fit(training[features])
    novelty.save(folder)
    (folder / MODEL_JSON).write_text(json.dumps(info, indent=2))
    metrics = json.loads((folder / "metrics.json").read_text())
    lineage = json.loads((folder / "lineage.json").read_text())
    write_card(model_card(info, metrics, lineage, training, novelty), folder)
    return info


def _file_names(lineage: dict) -> dict:
    """The run's lineage with every absolute path cut to its file name (hashes identify the
    files; paths of the training machine do not travel with the model)."""

    def short(value: object) -> object:
        return Path(value).name if isinstance(value, str) and Path(value).is_absolute() else value

    return {key: short(value) for key, value in lineage.items()}


def _example(training_medians: pd.Series, model: RadiomixModel) -> pd.DataFrame:
    """An input example that is no training case: the training medians (first site)."""
    example = pd.DataFrame([training_medians[model.feature_columns]])
    if SITE in model.input_columns:
        example[SITE] = sorted(model.training_sites)[0]
    return example[model.input_columns]


def _save_pyfunc(out: Path, staging: Path, medians: pd.Series) -> None:
    """Save the MLflow model folder (models from code: no pickle) with signature and an
    input example."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    model = RadiomixModel.from_folder(staging)
    example = _example(medians, model)
    with warnings.catch_warnings():
        # The integer output column is `decision` (0/1), which is never missing.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(example, model.score(example))
    versions = library_versions()
    requirements = [
        f"{name}=={versions[name]}"
        for name in (
            "mlflow",
            "scikit-learn",
            "xgboost",
            "xgboost-cpu",
            "pandas",
            "numpy",
            "scipy",
            "shap",
        )
        if name in versions
    ]
    mlflow.pyfunc.save_model(
        str(out),
        python_model=str(PYFUNC_CODE),
        artifacts={ARTIFACT_KEY: str(staging)},
        signature=signature,
        input_example=example,
        pip_requirements=requirements,
        metadata={"radiomix_version": __version__},
    )


def _register(out: Path, run_id: str, name: str, tracking_uri: str) -> None:
    """Upload the model folder to the run and register it as a new version of `name`."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    artifact_path = f"exported_model/{out.name}"
    try:
        client.log_artifacts(run_id, str(out), artifact_path=artifact_path)
        source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            client.create_registered_model(name)
        client.create_model_version(name, source, run_id=run_id)
    except MlflowException as error:
        raise ModelError(
            f"model written to {out}, but registering it as {name!r} in "
            f"{tracking_uri} failed: {error.message}"
        ) from error


def export_model(
    run_id: str, out: str | Path, tracking_uri: str | None = None, register: str | None = None
) -> Path:
    """Export the final model of `run_id` to the folder `out`; optionally register it."""
    from radiomix.outputs import writable_folder
    from radiomix.tracking import check_tracking_store, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ModelError(f"output folder {out} exists and is not empty")
    writable_folder(out.parent, "folder of the model")
    if out.exists():
        out.rmdir()
    check_tracking_store(uri)
    with tempfile.TemporaryDirectory() as tmp:
        run_files = _download_run(run_id, uri, Path(tmp) / "run")
        staging = Path(tmp) / ARTIFACT_KEY
        stage_artifacts(run_id, run_files, staging)
        training = pd.read_parquet(run_files / "final_model" / "training_features.parquet")
        _save_pyfunc(out, staging, training.median(numeric_only=True))
    write_checksums(out)
    if register:
        _register(out, run_id, register, uri)
    return out
