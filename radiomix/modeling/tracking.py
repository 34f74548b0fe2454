"""MLflow set-up: tracking URI, experiment with an explicit artifact location, child runs.

Default tracking URI: `sqlite:///mlflow.db` in the current directory, artifacts in
`mlruns/` beside the database. `--tracking-uri` or `MLFLOW_TRACKING_URI` select any
other store or tracking server (a server keeps its own artifact root).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
SQLITE_PREFIX = "sqlite:///"


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The explicit URI, else MLFLOW_TRACKING_URI, else the SQLite file in the current folder."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow at `uri` for the block, then restore the previous setting.

    `mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI in the environment; restoring
    it keeps one call from silently redirecting the next one in the same process.
    """
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def artifact_root(uri: str) -> str | None:
    """For a SQLite store, `mlruns/` beside the database (as a file URI); else None."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    database = Path(uri[len(SQLITE_PREFIX):]).resolve()
    return (database.parent / "mlruns").as_uri()


def ensure_experiment(name: str, uri: str) -> str:
    """Id of the MLflow experiment `name`, created with an explicit artifact location."""
    client = MlflowClient(tracking_uri=uri)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    root = artifact_root(uri)
    location = None if root is None else f"{root}/{name}"
    return client.create_experiment(name, artifact_location=location)


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
