"""Calibration of the simulator through the real pipeline: every `checked` rule's Se/Sp on a
synthetic cohort against its published 95 % interval.

images (radiomix synth) -> radiomix extract (without the texture family, which no rule
reads) -> radiomix baseline -> one row per rule with the measured Se/Sp and whether it falls
inside the published interval (Clopper-Pearson for the published cohort, +-0.08 when pooled).
Writes benchmarks/results/synth_calibration.md and .csv.

Usage: python benchmarks/bench_synth_calibration.py [n_patients] [seed] [workers] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from radiomix.features.config import default_config_path
from radiomix.synth.cohort import synthesize_cohort
from radiomix.synth.published import with_published_intervals

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = [
    "rule_id",
    "published_evidence",
    "n_evaluated",
    "sensitivity",
    "published_sensitivity",
    "published_sensitivity_ci_low",
    "published_sensitivity_ci_high",
    "se_inside",
    "specificity",
    "published_specificity",
    "published_specificity_ci_low",
    "published_specificity_ci_high",
    "sp_inside",
    "n_not_applicable",
    "not_applicable_reasons",
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


def radiomix(*args: str) -> None:
    """Run a radiomix verb as a user would; stop on failure with its message."""
    command = [sys.executable, "-m", "radiomix", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def calibrate(folder: Path, n_patients: int, seed: int, workers: int) -> pd.DataFrame:
    """Synthesise, extract and run the baseline in ``folder``; the rule table with intervals."""
    manifest = synthesize_cohort(folder / "cohort", n_patients, seed, workers=workers)
    features, baseline = folder / "features.parquet", folder / "baseline.csv"
    radiomix(
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
    return with_published_intervals(pd.read_csv(baseline))


def _versus(row, what: str) -> str:
    """'measured | published (interval) | inside' cells of one proportion ('–' if unpublished)."""
    measured = getattr(row, what)
    published = getattr(row, f"published_{what}")
    if pd.isna(published):
        return f"{measured:.2f} | – | –"
    low, high = (getattr(row, f"published_{what}_ci_{end}") for end in ("low", "high"))
    inside = getattr(row, f"{what[:2]}_inside")
    return f"{measured:.2f} | {published:.2f} ({low:.2f}–{high:.2f}) | {'yes' if inside else 'NO'}"


def markdown(table: pd.DataFrame, n_patients: int, seed: int) -> str:
    """The checked rules as a Markdown table."""
    lines = [
        f"Cohort: {n_patients} patients, seed {seed}; rules with evidence `checked`.",
        "",
        "| rule | n | Se | Se published (95% CI) | inside | Sp | Sp published (95% CI) | inside |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table[table.published_evidence == "checked"].itertuples():
        if row.n_evaluated == 0:
            lines.append(f"| `{row.rule_id}` | 0 | – | – | – | – | – | – |")
            continue
        lines.append(
            f"| `{row.rule_id}` | {row.n_evaluated} | {_versus(row, 'sensitivity')} "
            f"| {_versus(row, 'specificity')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_patients", type=int, nargs="?", default=400)
    parser.add_argument("seed", type=int, nargs="?", default=7)
    parser.add_argument("workers", type=int, nargs="?", default=2)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        table = calibrate(folder, args.n_patients, args.seed, args.workers)
    RESULTS.mkdir(parents=True, exist_ok=True)
    table[COLUMNS].to_csv(RESULTS / "synth_calibration.csv", index=False)
    text = markdown(table, args.n_patients, args.seed)
    text += (
        f"\n{time.perf_counter() - start:.0f} s on {os.cpu_count()} cores "
        f"({args.workers} workers).\n"
    )
    (RESULTS / "synth_calibration.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
