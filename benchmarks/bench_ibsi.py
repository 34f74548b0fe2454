"""IBSI conformance check: time per data set (digital phantom, CT phantom configurations A–E).

Wall and CPU seconds of ``dataset_report`` (reading, IBSI processing, features, comparison),
best of ``--repeats``, with the pass / mapped counts. Writes
``benchmarks/results/bench_ibsi.json``.

    python benchmarks/bench_ibsi.py [--shared PATH] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from rich.progress import track

from radiomix.features.ibsi import DATASETS, dataset_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_SHARED = ROOT.parent / "shared" / "data"


def time_dataset(shared: Path, dataset: str, repeats: int) -> dict:
    """Best wall and CPU time of one data set's report, and its counts."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        report = dataset_report(shared, dataset)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "wall_s": round(min(walls), 3),
        "cpu_s": round(min(cpus), 3),
        "matched": int((report["status"] == "pass").sum()),
        "mapped": int(report["status"].isin(["pass", "fail"]).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {
        dataset: time_dataset(args.shared, dataset, args.repeats)
        for dataset in track(DATASETS, description="IBSI data sets")
    }
    record = {
        "machine": {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
        "python": platform.python_version(),
        "repeats": args.repeats,
        "datasets": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_ibsi.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
