"""Discrimination and calibration of the shipped radMLBench experiments, beside the baseline.

Usage: python benchmarks/bench_calibration.py [--permutations N] [EXPERIMENT[:imbalanced] ...]

Runs each experiment of `experiments/radmlbench_*.yaml` on its real table (from the shared
reference data beside the project) and records the headline figures of `metrics.json`: mean
AUC over the outer repeats with its spread, the pooled Brier score against always predicting
the prevalence, calibration intercept and slope with their patient-bootstrap intervals, the
same for the trivial baseline (untuned L2 logistic regression on all features), the
permutation p-value when asked, and the wall time. `:imbalanced` runs the experiment on a
strongly imbalanced version of its table: the minority class becomes the positive one and
half of it is dropped at random (prevalence about 0.2).
Writes benchmarks/results/bench_calibration.json (entries are updated, not replaced).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from results_file import save_results

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_calibration.json"
DEFAULT = [
    "radmlbench_head_neck",
    "radmlbench_arita2018",
    "radmlbench_lgg_1p19q",
    "radmlbench_head_neck:imbalanced",
    "radmlbench_arita2018:imbalanced",
]


def imbalanced_table(config, folder: Path) -> Path:
    """The experiment's table with the minority class as positive, half of it dropped."""
    table = pd.read_csv(config.input.table)
    target = config.input.target_column
    minority = table[target].value_counts().idxmin()
    positive = table[target] == minority
    rng = np.random.default_rng(0)
    dropped = rng.choice(np.flatnonzero(positive), positive.sum() // 2, replace=False)
    table[target] = positive.astype(int)
    path = folder / "imbalanced.csv"
    table.drop(index=dropped).to_csv(path, index=False)
    return path


def _figures(block: dict) -> dict:
    keys = (
        "auc",
        "auc_sd",
        "auc_pooled_ci",
        "brier",
        "brier_ci",
        "brier_prevalence",
        "calibration_intercept",
        "calibration_intercept_ci",
        "calibration_slope",
        "calibration_slope_ci",
    )
    return {key: block[key] for key in keys}


def bench(key: str, permutations: int, workdir: Path) -> dict | None:
    """Run one experiment in `workdir`; None when its input table is absent."""
    from radiomix.evaluation.experiment import run_experiment
    from radiomix.modeling.config import load_experiment

    name, _, variant = key.partition(":")
    config = load_experiment(ROOT / "experiments" / f"{name}.yaml")
    if not config.input.table.is_file():
        print(f"{name}: input table absent, skipped")
        return None
    if variant == "imbalanced":
        config.input.table = imbalanced_table(config, workdir)
    start = time.perf_counter()
    result = run_experiment(
        config,
        workdir / key.replace(":", "_"),
        tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        permutations=permutations,
    )
    metrics = result.metrics
    entry = {
        "seconds": round(time.perf_counter() - start, 1),
        "n_cases": metrics["n_cases"],
        "prevalence": round(metrics["headline"]["prevalence"], 3),
        "model": _figures(metrics["headline"]),
        "baseline": _figures(metrics["baseline"]),
        "outer_cv": f"{config.outer_cv.folds}x{config.outer_cv.repeats}",
        "n_trials": config.search.n_trials,
        "n_jobs": config.n_jobs,
    }
    if "permutation" in metrics:
        entry["permutation"] = {
            key: metrics["permutation"][key]
            for key in ("n_permutations", "p_value", "null_auc_mean")
        }
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", default=DEFAULT)
    parser.add_argument("--permutations", type=int, default=0)
    args = parser.parse_args()
    import logging

    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    with tempfile.TemporaryDirectory() as folder:
        for key in args.experiments:
            entry = bench(key, args.permutations, Path(folder))
            if entry is not None:
                results[key] = entry
                print(key, json.dumps(entry))
    save_results(RESULTS, results)


if __name__ == "__main__":
    main()
