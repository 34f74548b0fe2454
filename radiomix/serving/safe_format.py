"""The fitted pipeline in the skops format: loading it runs no code from the file.

A pickle (joblib) file can make the loader call any function; a skops file is a description
of objects that skops rebuilds only from types it is told to trust. radiomix trusts the
classes its pipelines are made of (scikit-learn, XGBoost, radiomix's own transformers) and
refuses a file naming any other type, so an edited model folder cannot run code even if its
checksums were rewritten.
"""

from __future__ import annotations

from pathlib import Path

from radiomix.errors import ModelError

PIPELINE_FILE = "pipeline.skops"
TRUSTED_MODULES = ("sklearn.", "xgboost.", "radiomix.modeling.", "numpy.", "scipy.sparse.")
"""Modules whose classes a radiomix pipeline is built from."""
REFUSED_NAMES = (
    "load",
    "save",
    "eval",
    "exec",
    "system",
    "import",
    "open",
    "call",
    "getattr",
    "setattr",
)
"""Name parts of functions that are refused even from a trusted module."""


def dump_pipeline(pipeline: object, path: Path) -> None:
    """Write a fitted pipeline as a skops file."""
    import skops.io

    skops.io.dump(pipeline, path)


def _refused(name: str) -> bool:
    last = name.rsplit(".", 1)[-1].lower()
    return not name.startswith(TRUSTED_MODULES) or any(part in last for part in REFUSED_NAMES)


def load_pipeline(path: Path) -> object:
    """Read a pipeline written by `dump_pipeline`; ModelError naming any type not trusted."""
    import skops.io

    try:
        types = skops.io.get_untrusted_types(file=path)
    except Exception as error:  # a damaged archive or schema raises many types
        raise ModelError(f"{path} is not a readable skops file: {error}") from error
    refused = sorted(name for name in types if _refused(name))
    if refused:
        raise ModelError(
            f"{path} names type(s) {refused} that a radiomix pipeline does not "
            "use; refusing to load it"
        )
    try:
        return skops.io.load(path, trusted=types)
    except Exception as error:
        raise ModelError(f"{path} cannot be loaded: {error}") from error
