"""How much of the simulated texture amplitude reaches the extracted texture features.

Synthesises one ``informative`` cohort on the inference benchmark's grid, extracts it as the
benchmark does (``bench_inference.features_of``, but every texture feature) and tabulates, for
every texture feature of the original images, its Spearman correlation with the simulated
heterogeneity amplitude (``truth.csv`` column ``heterogeneity``), with the lesion volume and
with the lesion's nominal level, and its class AUC (oriented, max(AUC, 1 - AUC)); and the
AUC gain over the rules model of the pre-specified texture set and of the true amplitude.
Writes
benchmarks/results/texture_signal.csv and texture_signal.md (the strongest features per
image, and the inference benchmark's pre-specified set).

Usage: python benchmarks/bench_texture_signal.py [n_patients] [seed] [workers]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from bench_inference import RESULTS, TEXTURE, better, features_of, out_of_fold
from scipy import stats

from radiomix.rules import load_rules
from radiomix.stats import auc_score

FEATURE = r"^(pet|t1c|adc|rcbv)_original_(glcm|glrlm|glszm|gldm|ngtdm)_"
TOP = 5  # strongest features shown per image
LEVEL = "noise_free_pet_TBRmean"  # the lesion's uptake as imaged, before noise


def associations(table: pd.DataFrame) -> pd.DataFrame:
    """Per texture feature: Spearman with amplitude, volume and level, and the class AUC."""
    y = table["label"].to_numpy(int)
    rows = []
    for column in table.filter(regex=FEATURE).columns:
        values = table[column].astype(float)
        used = values.notna().to_numpy()
        if values[used].nunique() < 3:
            continue
        auc = auc_score(y[used], values[used].to_numpy())
        rows.append(
            {
                "feature": column,
                "image": column.split("_", 1)[0],
                "rho_amplitude": stats.spearmanr(values[used], table["heterogeneity"][used])[0],
                "rho_volume": stats.spearmanr(values[used], table["lesion_volume_cm3"][used])[0],
                "rho_level": stats.spearmanr(values[used], table[LEVEL][used])[0],
                "auc_class": max(auc, 1.0 - auc),
                "prespecified": bool(TEXTURE.search(column)),
            }
        )
    return pd.DataFrame(rows)


def added_information(table: pd.DataFrame, seed: int) -> list[str]:
    """Markdown lines: the AUC gain over the rules model, and its one-sided clustered p, of
    the pre-specified texture set and of the simulated amplitude itself (an upper bound)."""
    inputs = sorted({name for rule in load_rules() for name in rule.inputs if name in table})
    texture = [c for c in table.columns if TEXTURE.search(c)]
    table = table.assign(log_amplitude=np.log(table["heterogeneity"]))
    y = table["label"].to_numpy(int)
    groups = table["patient_id"].to_numpy()
    rules = out_of_fold(table, inputs, seed)
    lines = [f"Rules model (out of fold): AUC {auc_score(y, rules):.3f}.", ""]
    for name, added in (
        ("pre-specified texture set", texture),
        ("true amplitude", ["log_amplitude"]),
    ):
        test = better(y, out_of_fold(table, inputs + added, seed), rules, groups)
        lines.append(f"- rules + {name}: AUC gain {test['gain']:+.3f}, one-sided p {test['p']:.3f}")
    return [*lines, ""]


def report(result: pd.DataFrame, table: pd.DataFrame, n_patients: int, seed: int) -> str:
    """Markdown: the amplitude's own AUC, the strongest features per image, the set tested."""
    amplitude_auc = auc_score(table["label"].to_numpy(int), table["heterogeneity"].to_numpy())
    strongest = (
        result.assign(strength=result["rho_amplitude"].abs())
        .sort_values("strength", ascending=False)
        .groupby("image", sort=True)
        .head(TOP)
        .sort_values(["image", "strength"], ascending=[True, False])
    )
    shown = pd.concat([strongest, result[result["prespecified"]]]).drop_duplicates("feature")
    columns = ["feature", "rho_amplitude", "rho_volume", "rho_level", "auc_class", "prespecified"]
    lines = [
        f"Informative cohort: {n_patients} patients, seed {seed}, {len(table)} lesions; "
        f"AUC of the simulated amplitude itself {amplitude_auc:.2f}.",
        "",
        *added_information(table, seed),
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in shown[columns].itertuples(index=False):
        lines.append(
            f"| `{row[0]}` | {row[1]:+.2f} | {row[2]:+.2f} | {row[3]:+.2f} | {row[4]:.2f} "
            f"| {'yes' if row[5] else ''} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_patients", type=int, nargs="?", default=200)
    parser.add_argument("seed", type=int, nargs="?", default=7)
    parser.add_argument("workers", type=int, nargs="?", default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        features, _ = features_of(
            Path(folder), args.seed, args.n_patients, args.workers, "informative", False
        )
        truth = pd.read_csv(Path(folder) / "cohort" / "truth.csv")
    table = features.drop(columns=["label"], errors="ignore").merge(
        truth[["case_id", "label", "heterogeneity", "lesion_volume_cm3", LEVEL]], on="case_id"
    )
    result = associations(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result.to_csv(RESULTS / "texture_signal.csv", index=False)
    text = report(result, table, args.n_patients, args.seed)
    (RESULTS / "texture_signal.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
