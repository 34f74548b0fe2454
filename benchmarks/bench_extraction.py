"""End-to-end extraction benchmark, as a user runs it; writes
``benchmarks/results/bench_extraction.json`` and ``bench_extraction.png``.

Every figure is a whole ``radiomix extract`` command in a fresh process with a cold cache (a new
output folder each run): start-up, manifest and cache look-up, worker start, extraction, the
table, the error report and the curves figure. For each batch size (the first N cases of a
synthetic demo cohort), the default command (no ``--workers``: one worker process per core) and
the serial one (``--workers 1``) run interleaved, the order alternating between repetitions, so
a change of machine load hits both alike. Recorded per run: wall seconds, CPU seconds of the
command and every worker process it started (``getrusage`` of the waited-for children), the
load average and the CPU pressure (Linux PSI) before the run; and whether the kernel shares CPU
time between sessions (autogroup): on a machine kept busy by other sessions, the workers of
one command then share one session's part, and the wall-time speed-up measures the other
sessions, not radiomix. Wall-time figures need an otherwise idle machine; the CPU figures do
not.

Derived: the median speed-up of the default over serial per batch size (the break-even is the
smallest size where it exceeds 1), and the CPU seconds per case of the default relative to
serial at the largest size (the cost of running cases in worker processes).

Run: ``.venv/bin/python benchmarks/bench_extraction.py [--sizes 1 2 4 10 20 40] [--repeats 3]
[--manifest M]`` (default: a cohort synthesised with the demo configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from results_file import children_cpu, cpu_pressure

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RADIOMIX = [sys.executable, "-m", "radiomix"]
MODES = {"default": [], "serial": ["--workers", "1"]}


def autogroup() -> bool | None:
    """Whether Linux shares CPU time between sessions (autogroup) rather than between
    processes: then the worker processes of one command share one session's part of a busy
    machine, and no parallel speed-up can show while other sessions keep the cores busy."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def run_command(command: list[str]) -> dict[str, float]:
    """Run a command to completion; its wall and CPU seconds, the load and CPU pressure before."""
    load, pressure = os.getloadavg()[0], cpu_pressure()
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {
        "wall_s": time.perf_counter() - start,
        "cpu_s": children_cpu() - cpu,
        "load_1min_before": load,
        "cpu_pressure_avg10_before": pressure,
    }


def demo_cohort(folder: Path, n_cases: int) -> Path:
    """A cohort of at least ``n_cases`` cases synthesised with the demo configuration."""
    from radiomix.synth.demo import DEMO_SETTINGS, load_demo_settings

    settings = load_demo_settings()
    config = DEMO_SETTINGS.parent / settings.config
    out = folder / "cohort"
    subprocess.run(
        [
            *RADIOMIX,
            "synth",
            "--n-patients",
            str(n_cases),
            "--seed",
            str(settings.seed),
            "--out",
            str(out),
            "--config",
            str(config),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out / "data_manifest.csv"


def first_cases(manifest: Path, n_cases: int) -> Path:
    """A manifest of the first ``n_cases`` rows, beside the original (same relative paths)."""
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    if len(table) < n_cases:
        raise SystemExit(f"{manifest} has {len(table)} cases, fewer than {n_cases}")
    subset = manifest.with_name(f"first_{n_cases}.csv")
    table.head(n_cases).to_csv(subset, index=False)
    return subset


def measure(manifest: Path, sizes: list[int], repeats: int, folder: Path) -> list[dict]:
    """Interleaved default and serial runs of every batch size, ``repeats`` times each."""
    runs = []
    for repeat in range(repeats):
        for size in sizes:
            subset = first_cases(manifest, size)
            order = list(MODES) if (repeat + size) % 2 == 0 else list(reversed(MODES))
            for mode in order:
                out = folder / f"{mode}_{size}_{repeat}" / "features.parquet"
                figures = run_command(
                    [*RADIOMIX, "extract", str(subset), "--out", str(out), *MODES[mode]]
                )
                runs.append({"mode": mode, "cases": size, "repeat": repeat, **figures})
                print(json.dumps(runs[-1]), flush=True)
    return runs


def summarise(runs: list[dict]) -> dict[str, dict]:
    """Per batch size: median wall and CPU seconds of each mode and the speed-up."""
    table = pd.DataFrame(runs)
    summary = {}
    for size, group in table.groupby("cases"):
        medians = group.groupby("mode")[["wall_s", "cpu_s"]].median()
        summary[str(size)] = {
            key: float(value)
            for key, value in {
                "serial_wall_s": medians.loc["serial", "wall_s"],
                "default_wall_s": medians.loc["default", "wall_s"],
                "speedup_default_vs_serial": medians.loc["serial", "wall_s"]
                / medians.loc["default", "wall_s"],
                "serial_cpu_s_per_case": medians.loc["serial", "cpu_s"] / size,
                "default_cpu_s_per_case": medians.loc["default", "cpu_s"] / size,
                "cpu_default_over_serial": medians.loc["default", "cpu_s"]
                / medians.loc["serial", "cpu_s"],
            }.items()
        }
    return summary


def plot(summary: dict[str, dict], path: Path) -> None:
    """Wall seconds per mode and the speed-up against the batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(size) for size in summary]
    rows = list(summary.values())
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(sizes, [row["serial_wall_s"] for row in rows], "o-", label="--workers 1")
    left.plot(sizes, [row["default_wall_s"] for row in rows], "s-", label="default")
    left.set(xlabel="cases", ylabel="median wall s (whole command)", xscale="log")
    left.legend()
    right.plot(sizes, [row["speedup_default_vs_serial"] for row in rows], "s-")
    right.axhline(1.0, color="grey", linestyle=":")
    right.axhline(1.7, color="grey", linestyle="--")
    right.set(xlabel="cases", ylabel="speed-up default / serial", xscale="log")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 10, 20, 40])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--manifest", type=Path, help="an existing cohort (default: synthesise)")
    args = parser.parse_args()
    figures = {
        "sizes": args.sizes,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_start": os.getloadavg(),
        "autogroup_scheduling": autogroup(),
    }
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        manifest = args.manifest or demo_cohort(folder, max(args.sizes))
        figures["runs"] = measure(manifest.resolve(), sorted(args.sizes), args.repeats, folder)
    figures["load_average_end"] = os.getloadavg()
    figures["summary"] = summarise(figures["runs"])
    largest = figures["summary"][str(max(args.sizes))]
    figures["targets_met"] = {
        "speedup_at_largest_at_least_1.7": bool(largest["speedup_default_vs_serial"] >= 1.7),
        "default_never_slower_than_serial": all(  # 5 % allowance for timing noise
            row["speedup_default_vs_serial"] >= 0.95 for row in figures["summary"].values()
        ),
        "cpu_per_case_within_5_percent": bool(largest["cpu_default_over_serial"] <= 1.05),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_extraction.json").write_text(json.dumps(figures, indent=2) + "\n")
    plot(figures["summary"], RESULTS / "bench_extraction.png")
    print(json.dumps({key: figures[key] for key in ("summary", "targets_met")}, indent=2))


if __name__ == "__main__":
    main()
