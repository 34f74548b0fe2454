"""Benchmark of the extraction engine; writes ``benchmarks/results/bench_extraction.json``.

Measures, on the same cases and configuration:

1. parallel speed-up: wall time of one Dask worker vs two (both clusters started and every
   worker warmed up, i.e. modules imported and the pyradiomics extractor built, before timing,
   so the figure is the engine's scaling, not process start-up), plus the in-process serial
   run and the two-worker run including cluster start-up;
2. warm cache: a re-run on a filled cache vs the cold run;
3. per-case time of the full multi-parametric configuration on the demo cohort
   (``radiomix.synth.synthesize_cohort``); without it, on the real PET lesions only.

Cases: the 20 real FDG-PET lesions of the shared reference data (``pet/sts_suv``), static PET
plus texture of ``pet`` with LoG and wavelet filters on.

The load average before and after is recorded: the speed-up is only meaningful on an otherwise
idle machine (load well below the core count). Two figures do not depend on the load: the CPU
seconds the workers used with one and with two workers (equal when running in parallel adds no
work, e.g. no oversubscribed BLAS threads), and the parent's CPU time during the two-worker run
(small when it waits on results without spinning).

Run: ``.venv/bin/python benchmarks/bench_extraction.py [--data DIR] [--cases N] [--repeats R]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

from radiomix.features import extract_features, feature_names, load_config
from radiomix.features.config import ExtractionConfig
from radiomix.features.engine import SINGLE_THREAD_ENV

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data"
RESULTS = HERE / "results" / "bench_extraction.json"


def sts_manifest(data: Path, folder: Path, n_cases: int) -> Path:
    """A manifest of the real STS PET lesions (SUV images and lesion masks)."""
    lesions = sorted(path for path in (data / "pet" / "sts_suv").iterdir() if path.is_dir())
    rows = [{"case_id": path.name, "tracer": "FDG", "pet": str(path / "PET_image.nii.gz"),
             "lesion_mask": str(path / "PET_mask.nii.gz")} for path in lesions[:n_cases]]
    manifest = folder / "data_manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def pet_texture_config(filters: bool) -> ExtractionConfig:
    """Static PET + texture of ``pet`` only, filters switched as asked."""
    config = load_config()
    params = {**config.texture.params["pet"], "radiomix": {"filters": filters}}
    texture = config.texture.model_copy(update={
        "images": {"pet": config.texture.images["pet"]}, "dynamic_maps": (),
        "params": {"pet": params}})
    return config.model_copy(update={"families": ("pet_static", "texture"), "texture": texture})


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def run_on_cluster(n_workers: int, manifest: Path, config: ExtractionConfig, folder: Path,
                   repeats: int) -> tuple[float, float]:
    """Fewest seconds over ``repeats`` cold extractions on a started LocalCluster of
    ``n_workers`` processes, and the CPU seconds its workers used in that run."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", env=SINGLE_THREAD_ENV) as cluster, \
            Client(cluster) as client:
        client.run(feature_names, config)  # imports and builds pyradiomics on every worker
        runs = []
        for run in range(repeats):
            before = client.run(time.process_time)
            seconds, _ = timed(extract_features, manifest,
                               folder / f"w{n_workers}-{run}" / "f.parquet", config,
                               scheduler=cluster.scheduler_address)
            after = client.run(time.process_time)
            runs.append((seconds, sum(after[worker] - before[worker] for worker in after)))
    return min(runs)


def parallel_and_cache(manifest: Path, folder: Path, repeats: int) -> dict[str, float]:
    config = pet_texture_config(filters=True)
    serial, _ = timed(extract_features, manifest, folder / "serial" / "f.parquet", config,
                      workers=1)
    warm, rerun = timed(extract_features, manifest, folder / "serial" / "f.parquet", config,
                        workers=1)
    assert rerun.n_cached == rerun.table.shape[0]
    parent_cpu = time.process_time()
    with_startup, _ = timed(extract_features, manifest, folder / "two" / "f.parquet", config,
                            workers=2)
    parent_cpu = time.process_time() - parent_cpu
    one, one_cpu = run_on_cluster(1, manifest, config, folder, repeats)
    two, two_cpu = run_on_cluster(2, manifest, config, folder, repeats)
    return {"serial_in_process_s": serial, "one_worker_s": one, "two_workers_s": two,
            "two_workers_with_cluster_start_s": with_startup,
            "parent_cpu_s_during_two_worker_run": parent_cpu,
            "worker_cpu_s_one_worker": one_cpu, "worker_cpu_s_two_workers": two_cpu,
            "speedup_two_vs_one_worker": one / two, "speedup_two_vs_serial": serial / two,
            "warm_cache_s": warm, "warm_vs_cold_speedup": serial / warm}


def per_case_demo(folder: Path, n_patients: int) -> dict[str, object]:
    """Per-case time of the project configuration on the synthetic demo cohort, serially."""
    try:
        from radiomix.synth import synthesize_cohort
    except ImportError:
        return {"demo_cohort": "radiomix.synth.synthesize_cohort not available"}
    manifest = Path(synthesize_cohort(folder / "demo", n_patients, 0))
    seconds, result = timed(extract_features, manifest, folder / "demo" / "f.parquet", None,
                            workers=1)
    n_cases = len(result.table)
    return {"demo_cases": n_cases, "demo_features": result.table.shape[1],
            "demo_per_case_s": seconds / n_cases}


def per_case_real_pet(manifest: Path, folder: Path) -> dict[str, float]:
    """Per-case time on the real lesions: static PET + texture, filters off and on."""
    figures = {}
    for filters in (False, True):
        seconds, result = timed(extract_features, manifest, folder / f"pc{filters}" / "f.parquet",
                                pet_texture_config(filters), workers=1)
        figures[f"real_pet_per_case_s_filters_{str(filters).lower()}"] = (
            seconds / len(result.table))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="the shared reference data folder")
    parser.add_argument("--cases", type=int, default=20, help="number of STS lesions")
    parser.add_argument("--demo-patients", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2,
                        help="cold runs per cluster size; the fastest is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        manifest = sts_manifest(args.data, folder, args.cases)
        figures = {"cases": args.cases, "repeats": args.repeats, "cpu_count": os.cpu_count(),
                   "python": platform.python_version(), "load_average_before": os.getloadavg()}
        figures |= parallel_and_cache(manifest, folder, args.repeats)
        figures |= per_case_real_pet(manifest, folder)
        figures |= per_case_demo(folder, args.demo_patients)
    figures["load_average_after"] = os.getloadavg()
    figures["targets_met"] = {
        "two_workers_at_least_1.7x": figures["speedup_two_vs_one_worker"] >= 1.7,
        "warm_cache_at_least_50x": figures["warm_vs_cold_speedup"] >= 50}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
