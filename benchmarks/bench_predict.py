"""Latency of scoring new cases with an exported model: from features and from images.

A synthetic cohort is written, extracted (without texture unless --texture), a model is
trained with a small search and exported; then the exported model is loaded and timed:

- one case from features: `RadiomixModel.score` (probability, decision, novelty), and
  `predict` with the top-3 SHAP features; median and 95th percentile over --repeats calls;
- 1,000 cases from features (rows drawn with replacement from the cohort), both ways;
- every cohort case from its images (`predict` on the manifest: extraction included).

Wall times suffer from other load on the machine; the CPU time of this process and the load
average are recorded beside them.

Targets: median under 20 ms for one case, under 1 s for 1,000 cases (from features).
Writes benchmarks/results/bench_predict.json.

    python benchmarks/bench_predict.py [--patients 40] [--classifier l2_lr] [--texture]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_predict.json"
FAMILIES = ["pet_static", "pet_dynamic", "fdg_dual_phase", "mri", "mrs"]
TARGET_SINGLE_MS = 20.0
TARGET_THOUSAND_S = 1.0


def timed(function, repeats: int, scale: float = 1.0) -> dict:
    """Median and 95th percentile of the wall time of `repeats` calls, and the median CPU
    time of this process (less sensitive to other load on the machine), times `scale`."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "median": statistics.median(wall) * scale,
        "p95": float(np.quantile(wall, 0.95)) * scale,
        "cpu_median": statistics.median(cpu) * scale,
        "n": repeats,
    }


def build_model(workdir: Path, patients: int, classifier: str, texture: bool) -> tuple:
    """Cohort, feature table and exported model; returns (manifest, table, model folder)."""
    from radiomix.evaluation.experiment import run_experiment
    from radiomix.features import ExtractionConfig, extract_features, load_config
    from radiomix.modeling.config import ExperimentConfig
    from radiomix.serving.export import export_model
    from radiomix.synth.cohort import synthesize_cohort

    manifest = synthesize_cohort(workdir / "cohort", patients, seed=7)
    config = load_config(None) if texture else ExtractionConfig(families=tuple(FAMILIES))
    table = workdir / "features.parquet"
    extract_features(manifest, table, config, workers=1)
    experiment = ExperimentConfig.model_validate(
        {
            "name": "bench-predict",
            "seed": 0,
            "input": {"table": str(table)},
            "models": [{"name": classifier}],
            "search": {"n_trials": 5},
            "outer_cv": {"folds": 3, "repeats": 1},
            "inner_cv": {"folds": 3},
        }
    )
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    run = run_experiment(experiment, workdir / "run", tracking_uri=uri)
    return manifest, table, export_model(run.run_id, workdir / "model", tracking_uri=uri)


def bench(args: argparse.Namespace, workdir: Path) -> dict:
    from radiomix.serving.model import load_model
    from radiomix.serving.predict import predict

    manifest, table_path, folder = build_model(
        workdir, args.patients, args.classifier, args.texture
    )
    start = time.perf_counter()
    model = load_model(folder)
    load_seconds = time.perf_counter() - start
    table = pd.read_parquet(table_path)
    one = table.head(1)
    thousand = table.sample(1000, replace=True, random_state=0).reset_index(drop=True)
    predict(model, one)  # builds the SHAP explainer once
    start = time.perf_counter()
    from_images = predict(model, manifest)
    image_seconds = time.perf_counter() - start
    single = timed(lambda: model.score(one), args.repeats, 1000)
    results = {
        "classifier": args.classifier,
        "texture": args.texture,
        "cases": len(table),
        "input_columns": len(model.input_columns),
        "load_model_s": load_seconds,
        "single_case_score_ms": single,
        "single_case_predict_with_shap_ms": timed(lambda: predict(model, one), args.repeats, 1000),
        "thousand_cases_score_s": timed(lambda: model.score(thousand), 5),
        "thousand_cases_predict_with_shap_s": timed(lambda: predict(model, thousand), 3),
        "from_images_per_case_s": image_seconds / len(from_images),
        "load_average_1min": os.getloadavg()[0],
    }
    results["targets_met"] = {
        "single_case_under_20_ms": single["median"] < TARGET_SINGLE_MS,
        "thousand_cases_under_1_s": results["thousand_cases_score_s"]["median"] < TARGET_THOUSAND_S,
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument(
        "--classifier", default="l2_lr", choices=["l1_lr", "l2_lr", "enet_lr", "rf", "svm", "xgb"]
    )
    parser.add_argument(
        "--texture",
        action="store_true",
        help="extract with the full configs/extraction.yaml (texture too)",
    )
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = bench(args, Path(folder))
    results |= {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
