"""Tasks sent to worker processes: they must live in an importable module, not a test file."""

from __future__ import annotations

import os
import signal

import SimpleITK as sitk
from threadpoolctl import threadpool_info

from radiomix.features.engine import CaseResult


def worker_threads(case, config, derived=None) -> CaseResult:
    """A stand-in for ``extract_case`` reporting the process and thread settings it ran with."""
    blas = max((pool["num_threads"] for pool in threadpool_info()), default=1)
    itk = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    return CaseResult(case.case_id, {"pid": os.getpid(), "blas_threads": blas, "itk_threads": itk})


def kill_worker_on_b(case, config, derived=None) -> CaseResult:
    """A stand-in for ``extract_case`` whose process dies on case ``b``, as the kernel's
    out-of-memory killer would end it."""
    if case.case_id == "b":
        os.kill(os.getpid(), signal.SIGKILL)
    return CaseResult(case.case_id, {"pet_SUVmax": 1.0})


def malloc_trim_threshold() -> str | None:
    """The glibc trim threshold a worker process runs with (None: glibc's adaptive default)."""
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")
