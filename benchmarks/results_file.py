"""Saving a benchmark's results with the machine they were measured on."""

from __future__ import annotations

import json
import os
import platform
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
