"""Texture-feature throughput: radiomix vs plain pyradiomics vs the pyradiomics CLI batch mode.

On the 20 real FDG-PET lesions of the shared data (SUV, bin width 0.25 SUV, parameters of
``configs/extraction/pet.yaml``), original image only and with LoG + wavelet. In-process
timings exclude image reading (images are read once beforehand); the CLI timings are the wall
time of ``pyradiomics batch.csv --jobs N`` (start-up, reading and writing included).
Writes ``benchmarks/results/bench_texture.json`` and ``bench_texture.png``.

    python benchmarks/bench_texture.py [--shared PATH] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk
import yaml
from rich.progress import Progress

from radiomix.features.texture import (
    get_extractor,
    named_features,
    pyradiomics_params,
    quiet_pyradiomics,
    texture_features,
)
from radiomix.paths import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]
PET_PARAMS = CONFIG_DIR / "extraction" / "pet.yaml"
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_SHARED = ROOT.parent / "shared" / "data"
CLI_JOBS = (1, 2)


def lesion_paths(shared: Path) -> list[tuple[str, Path, Path]]:
    """(case, image, mask) of every PET lesion under ``pet/sts_suv``."""
    folders = sorted(p for p in (shared / "pet" / "sts_suv").iterdir() if p.is_dir())
    return [(f.name, f / "PET_image.nii.gz", f / "PET_mask.nii.gz") for f in folders]


def parameter_sets() -> dict[str, dict]:
    """The two PET parameter sets: original image only, and with LoG + wavelet."""
    raw = yaml.safe_load(PET_PARAMS.read_text())
    return {
        "original": pyradiomics_params({**raw, "radiomix": {"filters": False}}),
        "log_wavelet": pyradiomics_params({**raw, "radiomix": {"filters": True}}),
    }


def time_in_process(cases, params, extractor) -> tuple[float, float]:
    """Seconds over all cases for radiomix and for plain pyradiomics, alternating per case so
    that changes in machine load hit both alike."""
    ours = plain = 0.0
    for name, image, mask in cases:
        start = time.perf_counter()
        texture_features(image, mask, params, "pet", case_id=name)
        middle = time.perf_counter()
        extractor.execute(image, mask)
        ours, plain = ours + middle - start, plain + time.perf_counter() - middle
    return ours, plain


def wrapper_seconds(cases, params, extractor, loops: int = 20) -> float:
    """Seconds per case of radiomix' own work around pyradiomics (extractor cache lookup,
    renaming, IBSI corrections), timed on stored pyradiomics results: insensitive to the
    machine load that blurs the difference of two whole extractions."""
    results = [dict(extractor.execute(image, mask)) for _, image, mask in cases]
    start = time.perf_counter()
    for _ in range(loops):
        for result in results:
            get_extractor(params)
            named_features(result, "pet", voxel_count=1000)
    return (time.perf_counter() - start) / (loops * len(results))


def time_cli(paths, params: dict, jobs: int, workdir: Path) -> float:
    """Wall time of one pyradiomics CLI batch run over all lesions."""
    param_file = workdir / "params.yaml"
    param_file.write_text(yaml.safe_dump(params))
    batch = workdir / "batch.csv"
    batch.write_text("ID,Image,Mask\n" + "".join(f"{c},{i},{m}\n" for c, i, m in paths))
    command = [
        str(Path(sys.executable).parent / "pyradiomics"),
        str(batch),
        "--param",
        str(param_file),
        "--jobs",
        str(jobs),
        "--out",
        str(workdir / "out.csv"),
        "--format",
        "csv",
        "--verbosity",
        "3",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def max_relative_difference(cases, params, extractor) -> float:
    """Largest relative difference radiomix (corrections off) vs plain pyradiomics."""
    worst = 0.0
    for _, image, mask in cases:
        ours = texture_features(image, mask, params, "pet", ibsi_corrections=False)
        plain = extractor.execute(image, mask)
        for key, value in plain.items():
            if key.startswith("diagnostics_"):
                continue
            reference, mine = float(value), ours[f"pet_{key}"]
            if math.isfinite(reference) and reference != 0:
                worst = max(worst, abs(mine / reference - 1))
    return worst


def bench_set(label, params, cases, paths, repeats, progress) -> dict:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    extractor = RadiomicsFeatureExtractor(params)
    time_in_process(cases[:2], params, extractor)  # warm-up: extractor cache, imports
    task = progress.add_task(f"{label}: in-process", total=repeats)
    timings = []
    for _ in range(repeats):
        timings.append(time_in_process(cases, params, extractor))
        progress.advance(task)
    n = len(cases)
    cli = {}
    task = progress.add_task(f"{label}: pyradiomics CLI", total=len(CLI_JOBS))
    for jobs in CLI_JOBS:
        with tempfile.TemporaryDirectory() as workdir:
            cli[f"pyradiomics_cli_jobs{jobs}"] = time_cli(paths, params, jobs, Path(workdir)) / n
        progress.advance(task)
    # the fastest repeat is the least disturbed by other processes on the machine
    radiomix_s = min(t[0] for t in timings) / n
    plain_s = min(t[1] for t in timings) / n
    wrapper_s = wrapper_seconds(cases, params, extractor)
    return {
        "seconds_per_case": {"radiomix": radiomix_s, "pyradiomics_in_process": plain_s, **cli},
        "overhead_percent_vs_in_process": 100 * (radiomix_s - plain_s) / plain_s,
        "wrapper_seconds_per_case": wrapper_s,
        "wrapper_overhead_percent": 100 * wrapper_s / plain_s,
        "repeats": repeats,
        "max_relative_difference_uncorrected": max_relative_difference(cases, params, extractor),
        "n_features": len(texture_features(*cases[0][1:], params, "pet")),
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4))
    for ax, (label, result) in zip(axes, results.items(), strict=True):
        timings = result["seconds_per_case"]
        ax.bar(range(len(timings)), list(timings.values()), color="tab:blue")
        ax.set_xticks(range(len(timings)), [k.replace("_", "\n") for k in timings], fontsize=8)
        ax.set_ylabel("seconds per lesion")
        ax.set_title(
            f"{label}: overhead {result['overhead_percent_vs_in_process']:+.1f} % measured, "
            f"{result['wrapper_overhead_percent']:.2f} % wrapper",
            fontsize=9,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    quiet_pyradiomics()
    paths = lesion_paths(args.shared)
    cases = [(c, sitk.ReadImage(str(i)), sitk.ReadImage(str(m))) for c, i, m in paths]
    results = {}
    with Progress() as progress:
        for label, params in parameter_sets().items():
            results[label] = bench_set(label, params, cases, paths, args.repeats, progress)
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = {
        "data": f"{len(cases)} real FDG-PET lesions (shared data pet/sts_suv), bin width 0.25 SUV",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1_5_15_min_at_end": os.getloadavg(),
        },
        "timing": "in-process: fastest of the repeats, cases alternated radiomix/pyradiomics; "
        "CLI: one wall-clock run of the whole batch divided by the number of cases",
        "results": results,
    }
    (RESULTS / "bench_texture.json").write_text(json.dumps(summary, indent=2))
    plot(results, RESULTS / "bench_texture.png")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
