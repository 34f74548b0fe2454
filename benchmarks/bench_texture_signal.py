"""How much of the simulated texture amplitude reaches the extracted texture features.

Synthesises one ``informative`` cohort on the inference benchmark's grid, extracts it as the
benchmark does (``bench_inference.features_of``, but every texture feature) and tabulates, for
every texture feature of the original images, its Spearman correlation with the simulated
heterogeneity amplitude (``truth.csv`` column ``heterogeneity``), with the lesion volume and
with the lesion's nominal level, and its class AUC (oriented, max(AUC, 1 - AUC)); and the
AUC gain over the rules model of the pre-specified texture set and of the true amplitude.
Writes benchmarks/results/texture_signal.csv and texture_signal.md (the strongest features
per image, and the inference benchmark's pre-specified set). With ``--stages``, re-renders
the first STAGE_PATIENTS patients of the same seed stage by stage (signal_stages) and writes
benchmarks/results/texture_stages.md.

Usage: python benchmarks/bench_texture_signal.py [n_patients] [seed] [workers] [--stages]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import yaml
from bench_inference import (
    RESULTS,
    TEXTURE,
    TEXTURE_FEATURE,
    TEXTURE_IMAGES,
    better,
    features_of,
    out_of_fold,
    synth_config,
)
from scipy import ndimage, stats

from radiomix.errors import ExtractionError
from radiomix.features.texture import read_param_file, texture_features
from radiomix.paths import CONFIG_DIR
from radiomix.rules import load_rules
from radiomix.stats import auc_score
from radiomix.synth.cohort import draw_patient
from radiomix.synth.config import load_config
from radiomix.synth.phantom import add_textures
from radiomix.synth.render import render_mri, render_pet
from radiomix.synth.sampler import tracer_curves

FEATURE = r"^(pet|t1c|adc|rcbv)_original_(glcm|glrlm|glszm|gldm|ngtdm)_"
TOP = 5  # strongest features shown per image
LEVEL = "noise_free_pet_TBRmean"  # the lesion's uptake as imaged, before noise
STAGE_PATIENTS = 80  # the cohort's first patients, re-rendered stage by stage
NO_PSF_MM = 1e-3  # a site's PET FWHM must be positive; this one blurs nothing


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


def stage_config(folder: Path, blurred: bool, noisy: bool) -> Path:
    """The benchmark's simulator without the PSF and MRI blur (unless `blurred`) and without
    PET and MRI noise (unless `noisy`). The random draws are those of the full simulator."""
    content = yaml.safe_load(synth_config(folder).read_text(encoding="utf-8"))
    for site in content["sites"]:
        if not blurred:
            site["psf_fwhm_mm"], site["mri_fwhm_mm"] = NO_PSF_MM, 0.0
        if not noisy:
            site["noise"] = 0.0
    if not noisy:
        for modality in ("adc", "rcbv", "t1c", "flair"):
            content["mri"][modality]["noise_sd"] = 0.0
    path = folder / f"stage_{blurred}_{noisy}.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def first_lesion_images(config_path: Path, seed: int, index: int) -> dict:
    """The textured images of patient `index` (FDG: the early scan as PET), its first
    lesion's mask and viable interior (the viable part eroded by one voxel), amplitude."""
    config = load_config(config_path, "informative")
    spec, phantom, noise_rng = draw_patient(config, seed, index)
    add_textures(phantom, noise_rng, config)
    pet = render_pet(phantom, spec, config, tracer_curves(config, spec), noise_rng)
    images = {"pet": pet.frames[0] if spec.tracer == "FDG" else pet.static}
    if spec.has_mri:
        mri = render_mri(phantom, spec, config, noise_rng)
        images |= {name: mri[name] for name in ("t1c", "adc")}
        if spec.has_rcbv:
            images["rcbv"] = mri["rcbv"]
    lesion = phantom.lesions[0]
    return {
        "images": images,
        "mask": lesion.mask,
        "interior": ndimage.binary_erosion(lesion.viable),
        "spacing": phantom.spacing_mm,
        "amplitude": spec.lesions[0].heterogeneity,
    }


def idm(image: np.ndarray, mask: np.ndarray, spacing: float, name: str) -> float:
    """The pre-specified GLCM feature of `image` in `mask`, with the default parameters
    (NaN when the region is too small for pyradiomics)."""
    params = read_param_file(CONFIG_DIR / "extraction" / f"{name}.yaml")
    params["featureClass"] = {"glcm": [TEXTURE_FEATURE.removeprefix("original_glcm_")]}
    volumes = []
    for array in (image, mask.astype(np.uint8)):
        volume = sitk.GetImageFromArray(np.ascontiguousarray(array))
        volume.SetSpacing([spacing] * 3)
        volumes.append(volume)
    try:
        return texture_features(*volumes, params, name)[f"{name}_{TEXTURE_FEATURE}"]
    except ExtractionError:  # a region too small for pyradiomics (a thin viable interior)
        return float("nan")


def signal_stages(seed: int) -> pd.DataFrame:
    """Spearman of the pre-specified feature with the amplitude at each imaging stage: the
    object (no blur, no noise), blurred (site PSF / MRI resolution), imaged (plus noise,
    i.e. the images the cohort holds) in the lesion mask, and imaged in the viable interior
    (without the lesion border and necrotic core)."""
    with tempfile.TemporaryDirectory() as folder:
        configs = {
            "object": stage_config(Path(folder), False, False),
            "blurred": stage_config(Path(folder), True, False),
            "imaged": stage_config(Path(folder), True, True),
        }
        rows = []
        for index in range(STAGE_PATIENTS):
            for stage, path in configs.items():
                case = first_lesion_images(path, seed, index)
                regions = {stage: case["mask"]}
                if stage == "imaged":
                    regions["imaged, viable interior"] = case["interior"]
                for region_stage, region in regions.items():
                    for name, image in case["images"].items():
                        value = idm(image, region, case["spacing"], name)
                        rows.append((region_stage, name, index, value, case["amplitude"]))
    table = pd.DataFrame(rows, columns=["stage", "image", "patient", "value", "amplitude"])
    return (
        table.dropna()
        .groupby(["image", "stage"], sort=False)
        .apply(lambda g: stats.spearmanr(g["value"], g["amplitude"])[0], include_groups=False)
        .unstack("stage")
        .reindex(TEXTURE_IMAGES)
    )


def stage_lines(stages: pd.DataFrame) -> list[str]:
    """Markdown table of signal_stages."""
    lines = [
        f"Spearman of `{TEXTURE_FEATURE}` with the amplitude by imaging stage (first lesion of "
        f"the cohort's first {STAGE_PATIENTS} patients):",
        "",
        "| image | " + " | ".join(stages.columns) + " |",
        "|---|" + "---|" * len(stages.columns),
    ]
    for image, row in stages.iterrows():
        lines.append(f"| {image} | " + " | ".join(f"{v:+.2f}" for v in row) + " |")
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
    parser.add_argument(
        "--stages", action="store_true", help="only the stage table (texture_stages.md)"
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.stages:
        text = "\n".join(stage_lines(signal_stages(args.seed)))
        (RESULTS / "texture_stages.md").write_text(text, encoding="utf-8")
        print(text, end="")
        return
    with tempfile.TemporaryDirectory() as folder:
        features, _ = features_of(
            Path(folder), args.seed, args.n_patients, args.workers, "informative", False
        )
        truth = pd.read_csv(Path(folder) / "cohort" / "truth.csv")
    table = features.drop(columns=["label"], errors="ignore").merge(
        truth[["case_id", "label", "heterogeneity", "lesion_volume_cm3", LEVEL]], on="case_id"
    )
    result = associations(table)
    result.to_csv(RESULTS / "texture_signal.csv", index=False)
    text = report(result, table, args.n_patients, args.seed)
    (RESULTS / "texture_signal.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
