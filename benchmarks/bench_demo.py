"""Where the time of ``radiomix demo`` goes, as a user runs it; writes
``benchmarks/results/bench_demo.json``.

Runs ``radiomix demo`` in a new empty folder (so the synthetic cohort is generated, as on a
fresh checkout) and reads the elapsed time the demo prints at the start of each of its steps;
records the wall time of the whole command and the load average before and after.

Run: ``.venv/bin/python benchmarks/bench_demo.py [--workers N]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import children_cpu, cpu_pressure, save_results

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_demo.json"
STEP = re.compile(r"(\d)/7 (.+?) \((\d+) s\)")
DONE = re.compile(r"done in (\d+) s")


def step_seconds(output: str) -> dict[str, float]:
    """Seconds spent in each step, from the elapsed times printed at each step's start."""
    starts = [
        (f"{number}/7 {title}", float(seconds)) for number, title, seconds in STEP.findall(output)
    ]
    ends = [seconds for _, seconds in starts[1:]] + [float(DONE.findall(output)[-1])]
    return {title: end - start for (title, start), end in zip(starts, ends, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, help="passed to radiomix demo --workers")
    args = parser.parse_args()
    figures = {
        "load_average_before": os.getloadavg(),
        "cpu_pressure_avg10_before": cpu_pressure(),
        "workers": args.workers,
    }
    command = [sys.executable, "-m", "radiomix", "demo"]
    if args.workers:
        command += ["--workers", str(args.workers)]
    with tempfile.TemporaryDirectory() as folder:
        cpu, start = children_cpu(), time.perf_counter()
        done = subprocess.run(
            command,
            cwd=folder,
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        figures["wall_s"] = time.perf_counter() - start
        figures["cpu_s"] = children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"radiomix demo failed ({done.returncode}):\n{done.stderr[-3000:]}")
    figures["steps_s"] = step_seconds(done.stdout)
    figures["load_average_after"] = os.getloadavg()
    figures["under_3_minutes"] = figures["wall_s"] < 180
    save_results(RESULTS, figures)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
