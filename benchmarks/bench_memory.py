"""Peak memory of ``radiomix extract`` as a user runs it; writes
``benchmarks/results/bench_memory.json`` and ``bench_memory.png``.

1. Flat in the number of cases: the default command and ``--workers 1`` on 20 and on 500 tiny
   cases (16 x 16 x 16 PET and lesion mask, the default configuration).
2. A large image: one case with a 512 x 512 x 400 float32 PET (400 MiB) and its lesion mask,
   serially; the peak of the largest process above the same command's peak on a tiny case,
   relative to the image's size.

Recorded per run: wall seconds; the peak resident set of the largest process of the command
(``ru_maxrss`` from ``wait4``); the peak of the summed resident sets of the command and its
worker processes (sampled every 20 ms with psutil; forked workers share pages with the parent,
which this sum counts twice, so it is an upper bound); the load average before the run.

Run: ``.venv/bin/python benchmarks/bench_memory.py [--cases 20 500] [--no-large]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import SimpleITK as sitk

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RADIOMIX = [sys.executable, "-m", "radiomix"]
MODES = {"default": [], "serial": ["--workers", "1"]}
TINY_SHAPE = (16, 16, 16)
LARGE_SHAPE = (400, 512, 512)  # z, y, x
MIB = 1 << 20


def write_image(array: np.ndarray, path: Path) -> str:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(image, str(path), useCompression=True)
    return str(path)


def lesion_case(
    folder: Path, shape: tuple[int, int, int], radius: int, seed: int
) -> dict[str, str]:
    """A PET volume (background ~1 SUV, a 4 SUV ball) and the ball as the lesion mask."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    centre = [size // 2 for size in shape]
    grid = np.ogrid[tuple(slice(0, size) for size in shape)]
    ball = sum((axis - c) ** 2 for axis, c in zip(grid, centre, strict=True)) <= radius**2
    pet = rng.normal(1.0, 0.1, shape).astype(np.float32)
    pet[ball] += 3.0
    return {
        "case_id": folder.name,
        "tracer": "FET",
        "pet": write_image(pet, folder / "pet.nii.gz"),
        "lesion_mask": write_image(ball.astype(np.uint8), folder / "lesion.nii.gz"),
    }


def tiny_cohort(folder: Path, n_cases: int) -> Path:
    rows = [lesion_case(folder / f"c{index:04d}", TINY_SHAPE, 5, index) for index in range(n_cases)]
    manifest = folder / f"manifest_{n_cases}.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def _sample_tree(process: psutil.Process, peak: list[int], done: threading.Event) -> None:
    while not done.is_set():
        try:
            members = [process, *process.children(recursive=True)]
            peak[0] = max(peak[0], sum(member.memory_info().rss for member in members))
        except psutil.Error:
            pass
        time.sleep(0.02)


def run_command(command: list[str]) -> dict[str, float]:
    """Run a command; wall seconds, peak RSS of its largest process and of its process tree."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, done = [0], threading.Event()
    sampler = threading.Thread(target=_sample_tree, args=(psutil.Process(child.pid), peak, done))
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {child.returncode}")
    return {
        "wall_s": time.perf_counter() - start,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "peak_tree_rss_mib": peak[0] / MIB,
        "load_1min_before": load,
    }


def extract(manifest: Path, out: Path, mode: str) -> dict[str, float]:
    return run_command([*RADIOMIX, "extract", str(manifest), "--out", str(out), *MODES[mode]])


def flat_in_cases(folder: Path, sizes: list[int]) -> list[dict]:
    runs = []
    for size in sizes:
        manifest = tiny_cohort(folder / f"tiny{size}", size)
        for mode in MODES:
            runs.append(
                {
                    "cases": size,
                    "mode": mode,
                    **extract(manifest, folder / f"out_{mode}_{size}" / "f.parquet", mode),
                }
            )
            print(json.dumps(runs[-1]), flush=True)
    return runs


def large_image(folder: Path) -> dict[str, float]:
    """Peak of a serial run on the large case above a tiny case, relative to the image."""
    large = folder / "large"
    manifest = large / "manifest.csv"
    # Written by another process: the peak RSS of a child includes its parent's at the fork.
    subprocess.run([sys.executable, __file__, "--write-large-case", str(manifest)], check=True)
    tiny = tiny_cohort(folder / "tiny1", 1)
    base = extract(tiny, folder / "out_tiny1" / "f.parquet", "serial")
    big = extract(manifest, large / "out" / "f.parquet", "serial")
    image_mib = np.prod(LARGE_SHAPE) * 4 / MIB
    return {
        "image_shape_zyx": LARGE_SHAPE,
        "image_mib": image_mib,
        "tiny_case_peak_rss_mib": base["peak_rss_mib"],
        "large_case_peak_rss_mib": big["peak_rss_mib"],
        "large_case_wall_s": big["wall_s"],
        "peak_above_tiny_over_image_size": (big["peak_rss_mib"] - base["peak_rss_mib"]) / image_mib,
        "peak_over_image_size": big["peak_rss_mib"] / image_mib,
    }


def write_large_case(manifest: Path) -> None:
    row = lesion_case(manifest.parent / "L", LARGE_SHAPE, 20, 0)
    pd.DataFrame([row]).to_csv(manifest, index=False)


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.DataFrame(runs)
    figure, axis = plt.subplots(figsize=(6, 4))
    for mode, group in table.groupby("mode"):
        axis.plot(group["cases"], group["peak_rss_mib"], "o-", label=f"{mode}: largest process")
        axis.plot(group["cases"], group["peak_tree_rss_mib"], "s--", label=f"{mode}: all processes")
    axis.set(xlabel="cases", ylabel="peak RSS (MiB)", xscale="log", ylim=(0, None))
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[20, 500])
    parser.add_argument("--no-large", action="store_true", help="skip the 512x512x400 image")
    parser.add_argument("--large-only", action="store_true", help="only the 512x512x400 image")
    parser.add_argument("--write-large-case", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_large_case:
        write_large_case(args.write_large_case)
        return
    figures: dict[str, object] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        figures["runs"] = [] if args.large_only else flat_in_cases(folder, sorted(args.cases))
        if not args.no_large:
            figures["large_image"] = large_image(folder)
    figures["load_average_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "bench_memory.json"
    if args.large_only and path.is_file():  # keep the recorded runs of the other part
        figures = {
            **json.loads(path.read_text()),
            "large_image": figures["large_image"],
            "large_image_load_average": figures["load_average_end"],
        }
    path.write_text(json.dumps(figures, indent=2, default=float) + "\n")
    if figures["runs"]:
        plot(figures["runs"], RESULTS / "bench_memory.png")
    print(
        json.dumps(
            {key: value for key, value in figures.items() if key != "runs"}, indent=2, default=float
        )
    )


if __name__ == "__main__":
    main()
