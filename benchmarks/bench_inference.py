"""Type-I error and power of the platform's model-vs-rule inference on the simulator.

For each seed of a scenario (``null``: texture carries no class information beyond the rule
parameters; ``informative``: it does), a cohort is synthesised, its features extracted with
``radiomix extract`` and the rules applied with the rule engine. Two models give out-of-fold
scores over the platform's patient-grouped stratified folds
(``radiomix.modeling.search.grouped_folds``): ``rules`` on the rules' inputs and
``rules+texture`` adding a pre-specified set of texture features (``TEXTURE``; first-order and
shape statistics are not texture). Both are the platform's untuned
baseline pipeline (``radiomix.modeling.pipeline.baseline_pipeline``: median imputation,
near-constant and redundancy filters, scaling, L2 logistic regression), not its nested search:
the question is whether the comparison's test holds its level on out-of-fold scores, and a
search per fold, model and seed would cost hours. The platform's paired test of AUCs,
clustered by patient (``radiomix.stats.delong_test`` with ``groups``: Obuchowski
1997), then asks, one-sided at ``ALPHA``,

- *texture adds information*: ``rules+texture`` better than ``rules`` (a true null in
  ``null``: its rejection rate is the type-I error; in ``informative`` it is the power);
- *model beats the best rule*: ``rules+texture`` better than the single rule parameter with
  the highest AUC on the cases where it applies (not a null in either scenario: the model
  combines several modalities).

Writes benchmarks/results/inference_<scenario>.csv (one row per seed, written as each
finishes, so a cut run keeps its seeds and a re-run resumes; the scenarios can run as two
processes with ``--scenarios``) and inference.md.

Usage: python benchmarks/bench_inference.py [n_seeds] [n_patients] [workers]
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from radiomix.features.config import default_config_path
from radiomix.features.texture import read_param_file
from radiomix.modeling.config import PreprocessingConfig
from radiomix.modeling.pipeline import baseline_pipeline
from radiomix.modeling.search import grouped_folds
from radiomix.rules import evaluate_rules, load_rules
from radiomix.stats import auc_score, delong_test
from radiomix.synth.cohort import synthesize_cohort
from radiomix.synth.config import DEFAULT_CONFIG

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("null", "informative")
ALPHA = 0.05  # one-sided: "the model is better"
FOLDS = 5
# The texture features tested, fixed before the benchmark's seeds were run: the GLCM inverse
# difference moment (Idm, IBSI "inverse difference moment", homogeneity) of the original PET,
# T1c, ADC and rCBV images. The simulated amplitude sets the small intensity differences of
# neighbouring voxels inside the viable lesion; Idm weighs a pair's difference d by
# 1 / (1 + d^2), so the few large differences at the blurred lesion border and at a necrotic
# core's rim, which GLCM Contrast (weight d^2) adds up, barely count. On an informative
# diagnostic cohort (bench_texture_signal.py, seed 7, not a benchmark seed) Idm follows the
# amplitude more closely than Contrast in every MRI map (|Spearman| 0.50-0.63 vs 0.43-0.46,
# PET 0.36 both); GLCM JointEntropy, tested in the first runs, follows the lesion volume
# (Spearman 0.93-0.97), i.e. it is a shape measure. All ~300 texture features against the rule
# inputs on a cohort of tens of patients only measure over-fitting (the first runs lost 0.07
# AUC in both scenarios).
TEXTURE_IMAGES = ("pet", "t1c", "adc", "rcbv")
TEXTURE_FEATURE = "original_glcm_Idm"
TEXTURE = re.compile(rf"^({'|'.join(TEXTURE_IMAGES)})_{TEXTURE_FEATURE}$")
FIRST_SEED = 1000
# Simulation grid: 3 mm voxels over the default field of view halve the cost per patient
# (synthesis, reference checks, QA figure and texture all scale with the voxel count); the
# PET PSF (4.5-6 mm FWHM) and the smallest lesions (0.5 cm3, ~19 voxels) stay resolved.
SPACING_MM = 3.0
MIN_PATIENTS_PER_CLASS = 2  # the clustered variance needs two patients of each class


def extraction_config(folder: Path, tested_only: bool = True) -> Path:
    """The default extraction with texture of the original images (no filters, no dynamic
    maps); with `tested_only`, the texture family computes only the tested feature
    (TEXTURE_FEATURE of each of TEXTURE_IMAGES). Every other family as a user runs it."""
    content = yaml.safe_load(default_config_path().read_text(encoding="utf-8"))
    content["cache_dir"] = str(folder / "cache")
    texture = content["texture"]
    texture["filters"] = False
    texture["dynamic_maps"] = []
    glcm_feature = TEXTURE_FEATURE.removeprefix("original_glcm_")
    images = {}
    for name, relative in texture["images"].items():
        images[name] = str(default_config_path().parent / relative)
        if tested_only and name in TEXTURE_IMAGES:
            params = read_param_file(Path(images[name]))
            params["featureClass"] = {"glcm": [glcm_feature]}
            images[name] = str(folder / f"texture_{name}.yaml")
            Path(images[name]).write_text(yaml.safe_dump(params), encoding="utf-8")
    texture["images"] = images
    path = folder / "extraction.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def synth_config(folder: Path) -> Path:
    """The default simulator on a SPACING_MM grid covering at least its field of view."""
    content = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    grid = content["grid"]
    field_mm = [n * grid["spacing_mm"] for n in grid["shape_xyz"]]
    content["grid"] = {
        "shape_xyz": [math.ceil(size / SPACING_MM) for size in field_mm],
        "spacing_mm": SPACING_MM,
    }
    path = folder / "synth.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def features_of(
    folder: Path,
    seed: int,
    n_patients: int,
    workers: int,
    scenario: str,
    tested_only: bool = True,
) -> tuple[pd.DataFrame, int]:
    """Synthesise one cohort and extract its features with the radiomix command line
    (`tested_only`: see extraction_config); also the number of cases with a failed family
    (their other features are kept, as for a user: exit code 2)."""
    manifest = synthesize_cohort(
        folder / "cohort", n_patients, seed, synth_config(folder), workers, scenario
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
        str(extraction_config(folder, tested_only)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 2) or not table.is_file():
        raise SystemExit(f"extraction failed:\n{done.stdout}\n{done.stderr}")
    errors = pd.read_csv(folder / "features_errors.csv")
    failed = errors.loc[errors["kind"] == "error"]
    if len(failed):
        print(failed.to_string(index=False), flush=True)
    return pd.read_parquet(table), failed["case_id"].nunique()


def out_of_fold(table: pd.DataFrame, columns: list[str], seed: int) -> np.ndarray:
    """Out-of-fold probabilities of the platform's baseline pipeline on `columns`, over its
    patient-grouped stratified folds."""
    y = table["label"].to_numpy(int)
    groups = table["patient_id"].to_numpy()
    x = table[columns].astype(float)
    scores = np.empty(len(table))
    for train, test in grouped_folds(y, groups, FOLDS, seed):
        model = baseline_pipeline(columns, PreprocessingConfig(combat=False), harmonise=False)
        model.fit(x.iloc[train], y[train])
        scores[test] = model.predict_proba(x.iloc[test])[:, 1]
    return scores


def better(y: np.ndarray, model: np.ndarray, other: np.ndarray, groups: np.ndarray) -> dict:
    """One-sided p-value of "AUC(model) > AUC(other)" by the patient-clustered paired test,
    and the AUC gain."""
    test = delong_test(y, model, other, groups=groups)
    p_value = float(stats.norm.sf(test.z)) if np.isfinite(test.z) else 1.0
    return {"p": p_value, "gain": test.difference}


def enough_patients(y: np.ndarray, groups: np.ndarray) -> bool:
    """Whether each class holds cases of at least MIN_PATIENTS_PER_CLASS patients."""
    return all(len(np.unique(groups[y == label])) >= MIN_PATIENTS_PER_CLASS for label in (0, 1))


def best_rule(y: np.ndarray, groups: np.ndarray, parameters: dict[str, np.ndarray]) -> str:
    """The rule whose oriented parameter has the highest AUC on the cases where it applies
    (chosen after seeing the data: see docs/synth.md for how this biases the comparison)."""
    aucs = {}
    for rule, parameter in parameters.items():
        used = ~np.isnan(parameter)
        if enough_patients(y[used], groups[used]):
            aucs[rule] = auc_score(y[used], parameter[used])
    return max(aucs, key=aucs.get)


def comparisons(
    table: pd.DataFrame,
    inputs: list[str],
    texture: list[str],
    parameters: dict[str, np.ndarray],
    seed: int,
) -> dict:
    """Both comparisons on one feature table (columns label, patient_id, `inputs`,
    `texture`); `parameters` holds each rule's parameter oriented so that higher means
    recurrence (NaN where the rule does not apply)."""
    y = table["label"].to_numpy(int)
    groups = table["patient_id"].to_numpy()
    with_texture = out_of_fold(table, inputs + texture, seed)
    without = out_of_fold(table, inputs, seed)
    texture_test = better(y, with_texture, without, groups)
    rule = best_rule(y, groups, parameters)
    used = ~np.isnan(parameters[rule])
    rule_test = better(y[used], with_texture[used], parameters[rule][used], groups[used])
    return {
        "n_cases": len(table),
        "n_patients": len(np.unique(groups)),
        "n_texture_features": len(texture),
        "auc_rules": auc_score(y, without),
        "auc_rules_texture": auc_score(y, with_texture),
        "texture_p": texture_test["p"],
        "texture_auc_gain": texture_test["gain"],
        "best_rule": rule,
        "best_rule_cases": int(used.sum()),
        "best_rule_p": rule_test["p"],
        "best_rule_auc_gain": rule_test["gain"],
    }


def oriented_parameters(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each rule's parameter from the rule engine, sign turned where lower means recurrence."""
    rules = load_rules()
    decisions = evaluate_rules(table, rules)
    return {
        rule.id: (1.0 if rule.direction == "higher" else -1.0)
        * decisions[f"param_{rule.id}"].to_numpy(float)
        for rule in rules
    }


def simulator_commit() -> str:
    """The last commit that changed the package (simulator, extraction, rules, models),
    marked "+changes" when the work tree's package differs from it."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return run.stdout.strip()

    dirty = git("status", "--porcelain", "--", "radiomix")
    return git("log", "-1", "--format=%h", "--", "radiomix") + ("+changes" if dirty else "")


def one_seed(scenario: str, seed: int, n_patients: int, workers: int) -> dict:
    """Both comparisons on one synthetic cohort."""
    with tempfile.TemporaryDirectory() as folder:
        table, failed = features_of(Path(folder), seed, n_patients, workers, scenario)
    inputs = sorted({name for rule in load_rules() for name in rule.inputs if name in table})
    texture = [c for c in table.columns if TEXTURE.search(c)]
    result = comparisons(table, inputs, texture, oriented_parameters(table), seed)
    return {
        "scenario": scenario,
        "seed": seed,
        "commit": simulator_commit(),
        "cases_with_failed_family": failed,
        **result,
    }


def rate_cell(significant: pd.Series) -> str:
    """Rejection rate with its exact (Clopper-Pearson) 95 % interval."""
    k, n = int(significant.sum()), len(significant)
    interval = stats.binomtest(k, n).proportion_ci(method="exact")
    return f"{k}/{n} = {k / n:.2f} ({interval.low:.2f}–{interval.high:.2f})"


def summary(rows: pd.DataFrame) -> str:
    """One Markdown table: rejection rates per cohort size, simulator commit (in order of
    appearance) and scenario, the Monte Carlo SE of a rate at the nominal level, and whether
    the null rate stays within ALPHA + that SE."""
    lines = [
        f"| scenario | seeds | patients (cases) per seed | texture adds information: "
        f"p < {ALPHA} (95% CI) | MC SE at {ALPHA} | ≤ {ALPHA} + MC SE | mean AUC gain "
        f"| model beats best rule: p < {ALPHA} (95% CI) | mean AUC gain | simulator commit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {name: i for i, name in enumerate([*SCENARIOS, *rows["commit"].unique()])}
    keys = ["n_patients", "commit", "scenario"]
    rows = rows.sort_values(keys, key=lambda c: c.map(order).fillna(c), kind="stable")
    for (_, _, scenario), group in rows.groupby(keys, sort=False):
        n = len(group)
        significant = group["texture_p"] < ALPHA
        se = np.sqrt(ALPHA * (1 - ALPHA) / n)
        within = "yes" if significant.mean() <= ALPHA + se else "NO"
        lines.append(
            f"| {scenario} | {n} | {group['n_patients'].mean():.0f} "
            f"({group['n_cases'].mean():.0f}) | {rate_cell(significant)} | {se:.3f} "
            f"| {within if scenario == 'null' else '(power)'} "
            f"| {group['texture_auc_gain'].mean():+.3f} "
            f"| {rate_cell(group['best_rule_p'] < ALPHA)} "
            f"| {group['best_rule_auc_gain'].mean():+.3f} "
            f"| {', '.join(sorted(group['commit'].astype(str).unique()))} |"
        )
    return "\n".join(lines) + "\n"


def read_rows(csv: Path) -> pd.DataFrame:
    """The rows of one scenario's results file (empty when absent)."""
    # keep_default_na=False: the scenario "null" is a name, not a missing value; a commit
    # hash of digits only stays text
    if not csv.is_file():
        return pd.DataFrame()
    return pd.read_csv(csv, keep_default_na=False, dtype={"commit": str})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_seeds", type=int, nargs="?", default=20)
    parser.add_argument("n_patients", type=int, nargs="?", default=40)
    parser.add_argument("workers", type=int, nargs="?", default=2)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    commit = simulator_commit()
    for scenario in args.scenarios:
        csv = RESULTS / f"inference_{scenario}.csv"
        rows = read_rows(csv).to_dict("records")
        done = {(r["seed"], r["n_patients"], r["commit"]) for r in rows}
        for seed in range(FIRST_SEED, FIRST_SEED + args.n_seeds):
            if (seed, args.n_patients, commit) in done:
                continue  # resumable: one row per seed, cohort size and simulator commit
            start = time.perf_counter()
            rows.append(one_seed(scenario, seed, args.n_patients, args.workers))
            pd.DataFrame(rows).to_csv(csv, index=False)
            print(f"{scenario} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    table = pd.concat([read_rows(RESULTS / f"inference_{name}.csv") for name in SCENARIOS])
    text = summary(table)
    (RESULTS / "inference.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
