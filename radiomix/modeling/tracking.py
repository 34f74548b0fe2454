"""MLflow set-up: experiment with an explicit artifact location, child runs.

The store is chosen by radiomix.tracking; a SQLite store keeps its artifacts in `mlruns/`
beside the database (a tracking server keeps its own artifact root).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from radiomix.tracking import SQLITE_PREFIX
from radiomix.versions import library_versions


def artifact_root(uri: str) -> str | None:
    """For a SQLite store, `mlruns/` beside the database (as a file URI); else None."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    database = Path(uri[len(SQLITE_PREFIX) :]).resolve()
    return (database.parent / "mlruns").as_uri()


HEADLINE = (
    "auc",
    "auc_ci",
    "auc_repeats_mean",
    "auc_repeats_sd",
    "sensitivity",
    "sensitivity_ci",
    "specificity",
    "specificity_ci",
    "brier",
    "calibration_slope",
    "calibration_intercept",
)
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def ensure_experiment(name: str, uri: str) -> str:
    """Id of the MLflow experiment `name`, created with an explicit artifact location and
    marked as model development (the MLflow UI then opens it in its machine-learning view,
    not the GenAI one)."""
    client = MlflowClient(tracking_uri=uri)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    root = artifact_root(uri)
    location = None if root is None else f"{root}/{name}"
    return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)


def log_flat_params(params: dict[str, Any]) -> None:
    """Log parameters, turning values into short strings."""
    mlflow.log_params({key: str(value)[:500] for key, value in params.items()})


def log_numbers(metrics: dict[str, Any], prefix: str = "") -> None:
    """Log every finite number of a nested dict as a metric `prefix.key.subkey`."""
    flat: dict[str, float] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for sub, item in value.items():
                walk(item, f"{key}.{sub}" if key else str(sub))
        elif isinstance(value, list | tuple) and len(value) == 2:
            walk(value[0], f"{key}_low")
            walk(value[1], f"{key}_high")
        elif isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            flat[key] = float(value)

    walk(metrics, prefix)
    mlflow.log_metrics(flat)


def log_summary(metrics: dict) -> None:
    """Log the headline numbers only (the model's metrics, each rule's AUC and adjusted
    p-values); everything else is in the `metrics.json` artifact."""
    model = metrics["model"]
    log_numbers({key: model.get(key) for key in HEADLINE}, "model")
    for rule, values in metrics["rules"].items():
        log_numbers(
            {
                key: values.get(key)
                for key in (
                    "auc",
                    "model_auc_same_cases",
                    "delong_p_holm_vs_model",
                    "mcnemar_p_holm_vs_model",
                )
            },
            f"rule.{rule}",
        )


def log_training_data(table: pd.DataFrame, path: Path, target: str) -> None:
    """Log the training rows as an `mlflow.data` dataset (name, source and digest)."""
    from mlflow.data.pandas_dataset import from_pandas

    with warnings.catch_warnings():  # MLflow notes that do not apply to a recorded dataset
        warnings.filterwarnings("ignore", message="The specified dataset source can be")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        dataset = from_pandas(table, source=str(path.resolve()), name=path.name, targets=target)
        mlflow.log_input(dataset, context="training")


def run_tags(lineage: dict) -> dict[str, str]:
    """Tags of a training run: radiomix version and the hashes of its inputs."""
    from radiomix import __version__

    keys = ("experiment_sha256", "table_sha256", "extraction_config_sha256", "manifest_sha256")
    return {"radiomix.version": __version__} | {
        f"radiomix.{key}": str(lineage[key]) for key in keys if lineage.get(key)
    }


def log_model(pipeline: Pipeline, example: pd.DataFrame) -> None:
    """Log the fitted pipeline as the run's MLflow model (`model`, skops format), with its
    signature. The types it holds are trusted: this process has just built them."""
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature

    versions = library_versions()
    requirements = [
        f"{name}=={versions[name]}"
        for name in ("scikit-learn", "xgboost-cpu", "pandas", "numpy", "scipy")
        if name in versions
    ]
    head = example.head(5)
    with warnings.catch_warnings():  # integer features are never missing here
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(head, pipeline.predict_proba(head)[:, 1])
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=signature,
        pip_requirements=requirements,
        skops_trusted_types=trusted,
    )
