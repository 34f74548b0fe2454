"""Generated cohorts: contract, measured parameters vs nominal/configured, determinism."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiomix.data.validate import validate_manifest
from radiomix.errors import RadiomixError
from radiomix.paths import CONFIG_DIR
from radiomix.schema import IDENTITY_COLUMNS, IMAGE_COLUMNS, MASK_COLUMNS
from radiomix.synth.cohort import synthesize_cohort
from radiomix.synth.demo import (
    demo_scenario,
    ensure_demo_cohort,
    load_demo_settings,
    prefixed_manifest,
)

N_PATIENTS, SEED = 20, 11


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return synthesize_cohort(tmp_path_factory.mktemp("synth") / "c", N_PATIENTS, SEED, workers=2)


def read(root: Path, cell: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(root / cell)))


def measure(root: Path, row: pd.Series) -> dict[str, float]:
    """The published parameters, measured with plain numpy on the written images."""
    lesion = read(root, row.lesion_mask) > 0
    background = read(root, row.ref_background) > 0
    wm = read(root, row.ref_wm) > 0
    pet = read(root, row.pet)
    reference = pet[background].mean()
    btv = pet[lesion][pet[lesion] >= 1.6 * reference]
    out = {
        "pet_TBRmean_btv": btv.mean() / reference if btv.size else np.nan,
        "pet_TBRmax": pet[lesion].max() / reference,
    }
    if row.pet_dynamic:
        frames = read(root, row.pet_dynamic)
        timing = json.loads((root / row.pet_dynamic.replace(".nii.gz", ".json")).read_text())
        mid = (np.array(timing["FrameTimesStart"]) + np.array(timing["FrameDuration"]) / 2) / 60
        out["dyn_TTP_min"] = mid[int(np.argmax(frames[:, lesion].mean(axis=1)))]
    if row.tracer in ("FDOPA", "MET"):
        out["pet_LNmax"] = pet[lesion].max() / pet[background].max()
    for column, name in (("adc", "mri_ADC_ratio"), ("rcbv", "mri_rCBV_mean")):
        if row[column]:
            image = read(root, row[column])
            out[name] = image[lesion].mean() / image[wm].mean()
    return out


@pytest.fixture(scope="module")
def measured(cohort) -> pd.DataFrame:
    manifest = pd.read_csv(cohort, dtype=str, keep_default_na=False)
    rows = [
        {"case_id": row.case_id, **measure(cohort.parent, row)} for _, row in manifest.iterrows()
    ]
    truth = pd.read_csv(cohort.parent / "truth.csv")
    return pd.DataFrame(rows).merge(truth, on="case_id", suffixes=("", "_nominal"))


def test_manifest_follows_the_contract(cohort):
    report = validate_manifest(cohort)
    assert report.valid, [str(p) for p in report.problems]
    table = pd.read_csv(cohort, dtype=str, keep_default_na=False)
    assert set(IDENTITY_COLUMNS + IMAGE_COLUMNS + MASK_COLUMNS) <= set(table.columns)
    assert table["case_id"].is_unique and set(table["label"]) <= {"0", "1"}
    assert table.groupby("patient_id").size().max() <= 2
    for row in table.itertuples():
        shapes = {
            read(cohort.parent, getattr(row, c)).shape[-3:]
            for c in IMAGE_COLUMNS + MASK_COLUMNS
            if getattr(row, c)
        }
        assert len(shapes) == 1
        for column in MASK_COLUMNS:
            mask = read(cohort.parent, getattr(row, column))
            assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}, column
        if row.pet_dynamic:
            assert read(cohort.parent, row.pet_dynamic).shape[0] in (12, 13, 16)  # site, tracer


def test_images_show_the_object_through_the_psf(measured):
    """Per case: noisy measurements agree with the noise-free image; partial volume pulls the
    image below the object (levels are set before the PSF) by a bounded amount."""
    fet = measured[measured.tracer == "FET"].dropna(
        subset=["pet_TBRmean_btv", "noise_free_pet_TBRmean_btv"]
    )  # a blurred BTV may be empty
    np.testing.assert_allclose(fet["pet_TBRmean_btv"], fet["noise_free_pet_TBRmean_btv"], rtol=0.1)
    recovery = fet["noise_free_pet_TBRmean_btv"] / fet["pet_TBRmean_btv_nominal"]
    assert recovery.between(0.6, 1.0).all()
    # a maximum picks the noise; C-11 (MET) decays fast, so its 20-30 min scan is the noisiest
    np.testing.assert_allclose(measured["pet_TBRmax"], measured["noise_free_pet_TBRmax"], rtol=0.25)
    # lesion max / background max: partial volume lowers the lesion maximum (an FDOPA lesion
    # beside the striatum can read higher: striatal uptake spills into its mask)
    ratio = (measured["pet_LNmax"] / measured["pet_LNmax_nominal"]).dropna()
    assert len(ratio) >= 5 and ratio.median() < 0.95
    mri = measured.dropna(subset=["mri_ADC_ratio_nominal"])
    # blurred with the oedema around it (ADC ratio ~1.7), a small lesion's ratio moves toward it
    assert np.corrcoef(mri["mri_ADC_ratio"], mri["mri_ADC_ratio_nominal"])[0, 1] > 0.9
    np.testing.assert_allclose(mri["mri_ADC_ratio"], mri["mri_ADC_ratio_nominal"], atol=0.25)
    dynamic = measured.dropna(subset=["dyn_TTP_min", "dyn_TTP_min_nominal"])
    close = (dynamic["dyn_TTP_min"] - dynamic["dyn_TTP_min_nominal"]).abs() <= 10.0
    assert close.mean() >= 0.75


def test_oracle_separates_the_classes(cohort):
    truth = pd.read_csv(cohort.parent / "truth.csv")
    assert np.isfinite(truth["oracle_llr"]).all()
    assert (
        truth.loc[truth.label == 1, "oracle_llr"].mean()
        > 0
        > truth.loc[truth.label == 0, "oracle_llr"].mean()
    )


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.slow
def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    one = synthesize_cohort(tmp_path / "one", 3, 5, workers=1).parent
    two = synthesize_cohort(tmp_path / "two", 3, 5, workers=2).parent
    other = synthesize_cohort(tmp_path / "other", 3, 6, workers=1).parent
    assert _files(one) == _files(two)
    assert _files(one)["truth.csv"] != _files(other)["truth.csv"]


def test_demo_manifest_is_what_the_simulator_writes(tmp_path, repo_root):
    """The first demo patients regenerate exactly the committed root manifest's rows."""
    settings = load_demo_settings()
    committed = (repo_root / "data_manifest.csv").read_text().splitlines()
    generated = synthesize_cohort(tmp_path / "demo", 3, settings.seed, workers=2)
    lines = prefixed_manifest(generated, settings.folder).splitlines()
    assert lines == committed[: len(lines)]


def test_ensure_demo_cohort_regenerates_missing_files(tmp_path):
    settings = tmp_path / "demo.yaml"
    settings.write_text(
        f"n_patients: 2\nseed: 4\nfolder: demo_data\n"
        f"config: {CONFIG_DIR / 'synth' / 'default.yaml'}\n"
    )
    manifest = tmp_path / "data_manifest.csv"
    ensure_demo_cohort(manifest, settings)
    first = pd.read_csv(manifest, dtype=str, keep_default_na=False).iloc[0]
    image = read(tmp_path, first.pet)
    shutil.rmtree(tmp_path / "demo_data")
    ensure_demo_cohort(manifest, settings)
    np.testing.assert_array_equal(read(tmp_path, first.pet), image)
    manifest.write_text(manifest.read_text().replace("site_", "center_"))
    (tmp_path / first.ref_wm).unlink()
    with pytest.raises(RadiomixError, match="differs"):
        ensure_demo_cohort(manifest, settings)


def test_demo_names_the_texture_scenario_it_simulates(tmp_path):
    """The demo cohort is simulated under the null scenario (as the README states); the name
    the demo prints follows its simulator configuration."""
    assert demo_scenario() == "null"
    config = tmp_path / "informative.yaml"
    config.write_text(
        (CONFIG_DIR / "synth" / "default.yaml")
        .read_text(encoding="utf-8")
        .replace('scenario: "null"', 'scenario: "informative"', 1),
        encoding="utf-8",
    )
    settings = tmp_path / "demo.yaml"
    settings.write_text(f"n_patients: 2\nseed: 4\nfolder: demo_data\nconfig: {config}\n")
    assert demo_scenario(settings) == "informative"
