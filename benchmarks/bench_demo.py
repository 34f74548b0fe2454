"""Where the time of ``radiomix demo`` goes, as a user runs it; writes
``benchmarks/results/bench_demo.json``.

Runs ``radiomix demo`` in a new empty folder (so the synthetic cohort is generated, as on a
fresh checkout) and reads the elapsed time the demo prints at the start of each of its steps;
records the wall time of the whole command, the CPU seconds of its process tree in each step
(read as each step's line is printed) and the load average before and after.

Run: ``.venv/bin/python benchmarks/bench_demo.py [--workers N]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import cpu_pressure, save_results, tree_cpu

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


def run_with_step_cpu(command: list[str], folder: str) -> tuple[str, str, int, dict[str, float]]:
    """Run ``command`` in ``folder``; its output, error output, exit code and the CPU seconds
    of its process tree in each step (from one step's line to the next)."""
    marks: list[tuple[str, float]] = []
    lines = []
    with subprocess.Popen(
        command,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ) as process:
        for line in process.stdout:
            lines.append(line)
            found = STEP.search(line) or DONE.search(line)
            if found:
                marks.append((found.group(0), tree_cpu()))
        error = process.stderr.read()
    marks.append(("end", tree_cpu()))
    cpu = {
        re.sub(r" \(\d+ s\)$", "", title): later - earlier
        for (title, earlier), (_, later) in itertools.pairwise(marks)
        if not title.startswith("done")
    }
    return "".join(lines), error, process.returncode, cpu


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
        cpu, start = tree_cpu(), time.perf_counter()
        output, error, code, steps_cpu = run_with_step_cpu(command, folder)
        figures["wall_s"] = time.perf_counter() - start
        figures["cpu_s"] = tree_cpu() - cpu
    if code != 0:
        raise SystemExit(f"radiomix demo failed ({code}):\n{error[-3000:]}")
    figures["steps_s"] = step_seconds(output)
    figures["steps_cpu_s"] = steps_cpu
    figures["load_average_after"] = os.getloadavg()
    figures["under_3_minutes"] = figures["wall_s"] < 180
    save_results(RESULTS, figures)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
