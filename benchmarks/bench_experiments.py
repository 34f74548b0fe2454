"""Wall time and AUC of the shipped experiments (radMLBench tables, and the demo when present).

Usage: python benchmarks/bench_experiments.py [EXPERIMENT_NAME[:permuted|:serial|:nocombat] ...]
(`:permuted` adds a permutation test of 5 patient-grouped label permutations: the leakage
check; `:serial` runs the outer folds one after the other, to compare with the parallel
default; `:nocombat` turns site harmonisation off.)
Writes benchmarks/results/bench_experiments.json, with the wall and CPU seconds of each
experiment (this process and its worker processes) and the load average before and after: on
a shared machine the wall time grows with the load, the CPU seconds much less. The reference
AUCs are the mean AUCs of a careful plain scikit-learn nested CV (5-fold x 3 repeats, ANOVA-k
selection with an LR / L1-LR / RF / SVM grid) on the same tables.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from results_file import save_results, tree_cpu

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_experiments.json"
REFERENCE_AUC = {
    "radmlbench_lgg_1p19q": 0.80,
    "radmlbench_arita2018": 0.72,
    "radmlbench_head_neck": 0.71,
}
DEFAULT = [
    "radmlbench_head_neck",
    "radmlbench_arita2018",
    "radmlbench_lgg_1p19q",
    "demo_all",
    "demo_all:permuted",
]


def bench(key: str, workdir: Path) -> dict | None:
    """Run one experiment in `workdir`; None when its input table is absent."""
    from radiomix.evaluation.experiment import run_experiment
    from radiomix.modeling.config import load_experiment
    from radiomix.paths import EXPERIMENTS_DIR

    name, _, variant = key.partition(":")
    if name.startswith("demo"):
        config = load_experiment(EXPERIMENTS_DIR / f"{name}.yaml")
        config.input.table = ROOT / "runs" / "demo" / "features.parquet"
    else:
        config = load_experiment(ROOT / "experiments" / f"{name}.yaml")
    if variant == "serial":
        config = config.model_copy(update={"n_jobs": 1})
    if variant == "nocombat":
        config = config.model_copy(
            update={"preprocessing": config.preprocessing.model_copy(update={"combat": False})}
        )
    if config.input.table is not None and not config.input.table.is_file():
        print(f"{name}: input table absent, skipped")
        return None
    load, cpu, start = os.getloadavg(), tree_cpu(), time.perf_counter()
    result = run_experiment(
        config,
        workdir / key.replace(":", "_"),
        tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        permutations=5 if variant == "permuted" else 0,
    )
    seconds = time.perf_counter() - start
    model = result.metrics["model"]
    entry = {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(tree_cpu() - cpu, 1),
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "auc_repeats_mean": model["auc_repeats_mean"],
        "auc_repeats_sd": model["auc_repeats_sd"],
        "auc_repeat0": model["auc"],
        "auc_repeat0_ci": model["auc_ci"],
        "n_cases": result.metrics["n_cases"],
        "outer_cv": f"{config.outer_cv.folds}x{config.outer_cv.repeats}",
        "n_trials": config.search.n_trials,
        "n_jobs": config.n_jobs,
        "reference_auc": None if variant else REFERENCE_AUC.get(name),
    }
    if "permutation" in result.metrics:
        entry["permutation"] = {
            key: result.metrics["permutation"][key] for key in ("p_value", "null_auc_mean")
        }
    if result.metrics["rules"]:
        entry["rules_auc"] = {
            rule: values.get("auc") for rule, values in result.metrics["rules"].items()
        }
        entry["rules_delong_p"] = {
            rule: values.get("delong_p_vs_model")
            for rule, values in result.metrics["rules"].items()
        }
    print(key, json.dumps(entry))
    return entry


def main(names: list[str]) -> None:
    """Run the experiments and merge their figures into the results JSON."""
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        for name in names:
            entry = bench(name, Path(tmp))
            if entry is not None:
                results[name] = entry
    save_results(RESULTS, results)
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
