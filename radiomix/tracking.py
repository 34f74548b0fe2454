"""Which MLflow store radiomix uses: shared by training, the report and serving.

Default tracking store: `mlflow.db` (SQLite) in the radiomix home folder, `~/.radiomix` or
`$RADIOMIX_HOME`, with artifacts in `mlruns/` beside the database; every command finds the
same runs whatever the current directory. `--tracking-uri` or `MLFLOW_TRACKING_URI` select
any other store or tracking server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from radiomix.errors import ConfigError

SQLITE_PREFIX = "sqlite:///"
HOME_VARIABLE = "RADIOMIX_HOME"
SHOWN_DEFAULT_URI = f"$MLFLOW_TRACKING_URI, else {SQLITE_PREFIX}~/.radiomix/mlflow.db"
"""The default as command-line help shows it."""


def default_tracking_uri() -> str:
    """`sqlite:///` URI of `mlflow.db` in `$RADIOMIX_HOME` (default `~/.radiomix`), whose
    folder is created."""
    home = Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".radiomix").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return SQLITE_PREFIX + str((home / "mlflow.db").resolve())


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The explicit URI, else MLFLOW_TRACKING_URI, else the default store."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow at `uri` for the block, then restore the previous setting.

    `mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI in the environment; restoring
    it keeps one call from silently redirecting the next one in the same process.
    """
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        # mlflow accepts None (it then unsets the variable) but annotates str | Path only
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]


def check_tracking_store(uri: str) -> None:
    """ConfigError when the MLflow store at ``uri`` cannot be read (e.g. a corrupt mlflow.db)."""
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as error:  # MLflow and SQLAlchemy raise many types for a broken store
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"MLflow tracking store {uri} cannot be used: {message}") from error
