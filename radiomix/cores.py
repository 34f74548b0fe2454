"""The cores this process may use: the default number of worker processes."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
