"""Functions sent to Dask workers: they must live in an importable module, not a test file."""

from __future__ import annotations

import os

import SimpleITK as sitk


def worker_threads() -> dict[str, object]:
    """The thread settings a worker process runs with."""
    return {"openblas_env": os.environ.get("OPENBLAS_NUM_THREADS"),
            "itk": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}
