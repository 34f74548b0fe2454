"""Saving a benchmark's results with the machine they were measured on."""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path


def save_results(path: Path, results: dict) -> None:
    """Write `results` as JSON to `path`, with the machine's CPU count, Python and platform."""
    results["_machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


def children_cpu() -> float:
    """User + system CPU seconds of every waited-for descendant so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_cpu() -> float:
    """User + system CPU seconds of this process, its waited-for descendants and its live
    ones (e.g. a reused pool of worker processes) with the descendants they waited for, so
    far."""
    import psutil

    this = psutil.Process()
    live = 0.0
    for child in this.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # ended meanwhile: counted once waited for
            continue
        live += times.user + times.system + times.children_user + times.children_system
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + children_cpu() + live


def cpu_pressure() -> float | None:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI, %)."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return float(dict(item.split("=") for item in first.split()[1:])["avg10"])
