"""Type-I error and power of the platform's model-vs-rule inference on the simulator.

For each seed of a scenario (``null``: texture carries no class information beyond the rule
parameters; ``informative``: it does), a cohort is synthesised, its features extracted with
``radiomix extract`` and the rules applied with the rule engine. Two cross-validated
(patient-grouped, 5-fold) L2 logistic models give out-of-fold scores: ``rules`` on the rules'
inputs, ``rules+texture`` adding the texture features (GLCM, GLRLM, GLSZM, GLDM, NGTDM of the
original images; first-order and shape statistics are not texture). The platform's paired
DeLong test (``radiomix.stats.delong_test``) then asks

- *texture adds information*: ``rules+texture`` vs ``rules`` (true null in ``null``);
- *model beats the best rule*: ``rules+texture`` vs the rule parameter with the highest AUC
  on the cases where it applies.

A comparison counts as significant when p < 0.05 and the model is better. Writes
benchmarks/results/inference.csv (one row per scenario and seed) and inference.md.

Usage: python benchmarks/bench_inference.py [n_seeds] [n_patients] [workers]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiomix.features.config import default_config_path
from radiomix.rules import evaluate_rules, load_rules
from radiomix.stats import auc_score, delong_test
from radiomix.synth.cohort import synthesize_cohort

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("null", "informative")
ALPHA = 0.05
TEXTURE = re.compile(r"_original_(glcm|glrlm|glszm|gldm|ngtdm)_")
FIRST_SEED = 1000


def extraction_config(folder: Path) -> Path:
    """The default extraction with texture of the original images only (no filters)."""
    content = yaml.safe_load(default_config_path().read_text(encoding="utf-8"))
    content["cache_dir"] = str(folder / "cache")
    texture = content["texture"]
    texture["filters"] = False
    texture["dynamic_maps"] = []
    texture["images"] = {
        name: str(default_config_path().parent / path) for name, path in texture["images"].items()
    }
    path = folder / "extraction.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def features_of(
    folder: Path, seed: int, n_patients: int, workers: int, scenario: str
) -> pd.DataFrame:
    """Synthesise one cohort and extract its features with the radiomix command line."""
    manifest = synthesize_cohort(
        folder / "cohort", n_patients, seed, workers=workers, scenario=scenario
    )
    table = folder / "features.parquet"
    command = [
        sys.executable,
        "-m",
        "radiomix",
        "extract",
        str(manifest),
        "--out",
        str(table),
        "--workers",
        str(workers),
        "--config",
        str(extraction_config(folder)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"extraction failed:\n{done.stdout}\n{done.stderr}")
    return pd.read_parquet(table)


def out_of_fold(table: pd.DataFrame, columns: list[str], seed: int) -> np.ndarray:
    """Patient-grouped 5-fold out-of-fold probabilities of an L2 logistic model."""
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        LogisticRegression(C=0.1, max_iter=2000),
    )
    x = table[columns].to_numpy(float)
    y = table["label"].to_numpy(int)
    scores = np.empty(len(table))
    folds = GroupKFold(n_splits=5, shuffle=True, random_state=seed)
    for train, test in folds.split(x, y, table["patient_id"]):
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
    return scores


def significant(y: np.ndarray, model: np.ndarray, other: np.ndarray) -> tuple[bool, float]:
    """Whether the model is significantly better (paired DeLong), and its AUC gain."""
    test = delong_test(y, model, other)
    return bool(test.p_value < ALPHA and test.auc_a > test.auc_b), test.auc_a - test.auc_b


def best_rule(table: pd.DataFrame, decisions: pd.DataFrame, rules: list) -> tuple[str, np.ndarray]:
    """The rule whose oriented parameter has the highest AUC where it applies."""
    best, best_auc = "", -1.0
    for rule in rules:
        parameter = decisions[f"param_{rule.id}"].to_numpy(float)
        used = ~np.isnan(parameter)
        y = table["label"].to_numpy(int)[used]
        if used.sum() < 10 or min(y.sum(), (1 - y).sum()) < 2:
            continue  # DeLong needs two patients of each class
        sign = 1.0 if rule.direction == "higher" else -1.0
        auc = auc_score(y, sign * parameter[used])
        if auc > best_auc:
            best, best_auc = rule.id, auc
    return best, best_auc


def one_seed(scenario: str, seed: int, n_patients: int, workers: int) -> dict:
    """Both comparisons on one synthetic cohort."""
    with tempfile.TemporaryDirectory() as folder:
        table = features_of(Path(folder), seed, n_patients, workers, scenario)
    rules = load_rules()
    decisions = evaluate_rules(table, rules)
    inputs = sorted({name for rule in rules for name in rule.inputs if name in table})
    texture = [c for c in table.columns if TEXTURE.search(c)]
    y = table["label"].to_numpy(int)
    with_texture = out_of_fold(table, inputs + texture, seed)
    without = out_of_fold(table, inputs, seed)
    texture_sig, texture_gain = significant(y, with_texture, without)
    rule_id, _ = best_rule(table, decisions, rules)
    rule = next(r for r in rules if r.id == rule_id)
    parameter = decisions[f"param_{rule_id}"].to_numpy(float)
    used = ~np.isnan(parameter)
    sign = 1.0 if rule.direction == "higher" else -1.0
    rule_sig, rule_gain = significant(y[used], with_texture[used], sign * parameter[used])
    return {
        "scenario": scenario,
        "seed": seed,
        "n_cases": len(table),
        "n_texture_features": len(texture),
        "auc_rules": auc_score(y, without),
        "auc_rules_texture": auc_score(y, with_texture),
        "texture_significant": texture_sig,
        "texture_auc_gain": texture_gain,
        "best_rule": rule_id,
        "best_rule_significant": rule_sig,
        "best_rule_auc_gain": rule_gain,
    }


def summary(rows: pd.DataFrame) -> str:
    """One Markdown table: rate of significant comparisons per scenario with its MC error."""
    lines = [
        "| scenario | seeds | cases per seed | texture adds information: significant "
        "(rate ± MC SE) | mean AUC gain | model beats best rule: significant | "
        "mean AUC gain |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario, group in rows.groupby("scenario", sort=False):
        n = len(group)
        rate = group["texture_significant"].mean()
        rule_rate = group["best_rule_significant"].mean()
        lines.append(
            f"| {scenario} | {n} | {group['n_cases'].mean():.0f} "
            f"| {rate:.2f} ± {np.sqrt(max(rate * (1 - rate), 0.05 * 0.95) / n):.2f} "
            f"| {group['texture_auc_gain'].mean():+.3f} "
            f"| {rule_rate:.2f} | {group['best_rule_auc_gain'].mean():+.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_seeds", type=int, nargs="?", default=20)
    parser.add_argument("n_patients", type=int, nargs="?", default=80)
    parser.add_argument("workers", type=int, nargs="?", default=2)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    csv = RESULTS / "inference.csv"
    # keep_default_na=False: the scenario "null" is a name, not a missing value
    done = pd.read_csv(csv, keep_default_na=False) if csv.is_file() else pd.DataFrame()
    rows = done.to_dict("records")
    for seed in range(FIRST_SEED, FIRST_SEED + args.n_seeds):
        for scenario in args.scenarios:
            if any(r["scenario"] == scenario and r["seed"] == seed for r in rows):
                continue  # resumable: one row per scenario and seed
            start = time.perf_counter()
            rows.append(one_seed(scenario, seed, args.n_patients, args.workers))
            pd.DataFrame(rows).to_csv(csv, index=False)
            print(f"{scenario} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    text = summary(pd.DataFrame(rows))
    (RESULTS / "inference.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
