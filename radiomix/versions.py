"""Versions of radiomix, Python and the libraries a fitted model depends on, recorded with
every logged or exported model."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from radiomix import __version__

LIBRARIES = (
    "scikit-learn",
    "xgboost",
    "xgboost-cpu",
    "numpy",
    "pandas",
    "scipy",
    "shap",
    "mlflow",
    "pyradiomics",
    "SimpleITK",
)


def library_versions() -> dict[str, str]:
    """Versions of radiomix, Python and the libraries a model depends on."""
    versions = {"radiomix": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions
