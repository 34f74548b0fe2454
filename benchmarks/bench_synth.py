"""Seconds per patient of the simulator; writes benchmarks/results/bench_synth.json.

Usage: python benchmarks/bench_synth.py [n_patients] [workers]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from radiomix.synth.cohort import synthesize_cohort

RESULTS = Path(__file__).resolve().parent / "results" / "bench_synth.json"


def main(n_patients: int = 120, workers: int = 2) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        synthesize_cohort(Path(folder) / "cohort", n_patients, seed=1, workers=workers)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
    result = {
        "n_patients": n_patients,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "seconds": round(seconds, 2),
        "seconds_per_patient": round(seconds / n_patients, 3),
        "megabytes": round(size / 1e6, 1),
        "load_average_1min": os.getloadavg()[0],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
