"""Calibration of the simulator through the real pipeline: every `checked` rule's Se/Sp on a
synthetic cohort against its published 95 % interval.

images (radiomix synth) -> radiomix extract (without the texture family, which no rule
reads) -> radiomix baseline -> one row per rule with the measured Se/Sp and whether it falls
inside the published interval (Clopper-Pearson for the published cohort, +-0.08 when pooled).
Writes benchmarks/results/synth_calibration.md and .csv.

Usage: python benchmarks/bench_synth_calibration.py [n_patients] [--seeds S ...] [--workers W]
[--keep DIR]: one cohort per seed; confusion counts pooled over the seeds, and per rule in
how many single-seed cohorts Se/Sp fell inside the published interval.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from radiomix.features.config import default_config_path
from radiomix.synth.cohort import synthesize_cohort
from radiomix.synth.command import DEFAULT_PATIENTS
from radiomix.synth.published import with_published_intervals

RESULTS = Path(__file__).resolve().parent / "results"
PARTIAL = re.compile(r"\d+ case\(s\) failed in part: [^;]+")
COLUMNS = [
    "rule_id",
    "published_evidence",
    "n_seeds",
    "n_evaluated",
    "tp",
    "fn",
    "tn",
    "fp",
    "sensitivity",
    "published_sensitivity",
    "published_sensitivity_ci_low",
    "published_sensitivity_ci_high",
    "se_inside",
    "se_seeds_inside",
    "specificity",
    "published_specificity",
    "published_specificity_ci_low",
    "published_specificity_ci_high",
    "sp_inside",
    "sp_seeds_inside",
    "accuracy",
    "published_accuracy",
    "n_not_applicable",
]


def rule_extraction_config(folder: Path) -> Path:
    """The default extraction configuration without the texture family, cached in ``folder``."""
    content = yaml.safe_load(default_config_path().read_text(encoding="utf-8"))
    content["families"] = [name for name in content["families"] if name != "texture"]
    content["cache_dir"] = str(folder / "cache")
    content.pop("texture", None)
    path = folder / "extraction.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def radiomix(*args: str) -> str:
    """Run a radiomix verb as a user would; stop on failure with its message. Cases whose
    extraction failed in part are named in the returned message (the others are scored)."""
    command = [sys.executable, "-m", "radiomix", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    output = f"{done.stdout}\n{done.stderr}"
    partial = PARTIAL.search(output)
    if done.returncode != 0 and partial is None:
        raise SystemExit(f"{' '.join(command)} failed:\n{output}")
    return partial.group(0) if partial else ""


def calibrate(folder: Path, n_patients: int, seed: int, workers: int) -> tuple[pd.DataFrame, str]:
    """Synthesise, extract and run the baseline in ``folder``; the rule table with intervals
    and the extraction's partial failures (empty when none)."""
    manifest = synthesize_cohort(folder / "cohort", n_patients, seed, workers=workers)
    features, baseline = folder / "features.parquet", folder / "baseline.csv"
    failed = radiomix(
        "extract",
        str(manifest),
        "--out",
        str(features),
        "--workers",
        str(workers),
        "--config",
        str(rule_extraction_config(folder)),
    )
    radiomix("baseline", str(features), "--out", str(baseline))
    return with_published_intervals(pd.read_csv(baseline)), failed


def _versus(row, what: str) -> str:
    """'measured | published (interval) | inside' cells of one proportion ('–' if unpublished)."""
    measured = getattr(row, what)
    published = getattr(row, f"published_{what}")
    if pd.isna(published):
        return f"{measured:.2f} | – | –"
    low, high = (getattr(row, f"published_{what}_ci_{end}") for end in ("low", "high"))
    inside = getattr(row, f"{what[:2]}_inside")
    return f"{measured:.2f} | {published:.2f} ({low:.2f}–{high:.2f}) | {'yes' if inside else 'NO'}"


def pooled(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Per rule, the confusion counts summed over seeds, Se/Sp from them with the published
    intervals, and in how many seeds each measured Se/Sp fell inside its interval."""
    counts = ["n_evaluated", "n_not_applicable", "tp", "fn", "tn", "fp"]
    stacked = pd.concat(tables)
    table = tables[0].set_index("rule_id").drop(columns=counts)
    table[counts] = stacked.groupby("rule_id")[counts].sum()
    table["sensitivity"] = table.tp / (table.tp + table.fn)
    table["specificity"] = table.tn / (table.tn + table.fp)
    table["accuracy"] = (table.tp + table.tn) / table.n_evaluated
    for what in ("se", "sp"):
        table[f"{what}_seeds_inside"] = stacked.groupby("rule_id")[f"{what}_inside"].sum()
    table = with_published_intervals(table.reset_index())
    table["n_seeds"] = len(tables)
    return table


def markdown(table: pd.DataFrame, n_patients: int, seeds: list[int]) -> str:
    """The checked rules as a Markdown table (counts pooled over the seeds)."""
    lines = [
        f"Cohorts: {n_patients} patients each, seeds {', '.join(map(str, seeds))}; counts "
        "pooled over the seeds; rules with evidence `checked`. 'seeds inside': in how many "
        "single-seed cohorts the measured value fell inside the published interval.",
        "",
        "| rule | n | Se | Se published (95% CI) | inside | seeds inside "
        "| Sp | Sp published (95% CI) | inside | seeds inside | Acc | Acc published |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table[table.published_evidence == "checked"].itertuples():
        if row.n_evaluated == 0:
            lines.append(f"| `{row.rule_id}` | 0 |" + " – |" * 10)
            continue
        se = _versus(row, "sensitivity") + f" | {_seeds(row, 'se')}"
        sp = _versus(row, "specificity") + f" | {_seeds(row, 'sp')}"
        accuracy = "–" if pd.isna(row.published_accuracy) else f"{row.published_accuracy:.2f}"
        lines.append(
            f"| `{row.rule_id}` | {row.n_evaluated} | {se} | {sp} "
            f"| {row.accuracy:.2f} | {accuracy} |"
        )
    return "\n".join(lines) + "\n"


def _seeds(row, what: str) -> str:
    published = getattr(row, f"published_{'sensitivity' if what == 'se' else 'specificity'}")
    return "–" if pd.isna(published) else f"{getattr(row, f'{what}_seeds_inside')}/{row.n_seeds}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_patients", type=int, nargs="?", default=DEFAULT_PATIENTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = parser.parse_args()
    start = time.perf_counter()
    tables, failures = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            folder = (args.keep or Path(scratch)) / f"seed{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            table, failed = calibrate(folder, args.n_patients, seed, args.workers)
            tables.append(table)
            failures += [f"seed {seed}: {failed}"] if failed else []
    table = pooled(tables)
    RESULTS.mkdir(parents=True, exist_ok=True)
    table[COLUMNS].to_csv(RESULTS / "synth_calibration.csv", index=False)
    text = markdown(table, args.n_patients, args.seeds)
    if failures:
        text += "\nExtraction, left out: " + "; ".join(failures) + ".\n"
    text += (
        f"\n{time.perf_counter() - start:.0f} s on {os.cpu_count()} cores "
        f"({args.workers} workers).\n"
    )
    (RESULTS / "synth_calibration.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
