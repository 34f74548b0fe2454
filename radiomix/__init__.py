"""radiomix: radiomics and machine learning for recurrence vs radionecrosis.

The Python API mirrors the command line; names are imported on first use so that
``import radiomix`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_manifest": "radiomix.data.manifest",
    "validate_manifest": "radiomix.data.validate",
    "read_dicom_pet_suv": "radiomix.data.suv",
    "read_frame_timing": "radiomix.data.timing",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'radiomix' has no attribute {name!r}")
    return getattr(import_module(_API[name]), name)
