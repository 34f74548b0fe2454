"""End to end on a small phantom cohort: extraction, then `radiomix baseline`, against
confusion cells counted by hand from the published definitions (BTV TBRmean ≥ 2.0 or TTP
< 45 min); a shift of InjectionStart in every sidecar moves every TTP by exactly that shift;
the FDOPA slope rule on a short FDOPA protocol."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from radiomix.cli import app
from radiomix.features import extract_features
from radiomix.features.config import load_config
from radiomix.rules import evaluate_rules, load_rules

SHAPE = (28, 28, 28)
LESION = np.s_[4:14, 4:14, 4:14]  # 10 × 10 × 10 voxels
HOT = np.s_[4:12, 4:12, 4:12]  # 8 × 8 × 8 voxels of it
BACKGROUND = np.s_[18:26, 18:26, 18:26]
FRAME_MIN = np.array([1.0] * 5 + [3.0] * 5 + [5.0] * 6)
FRAME_START_S = np.concatenate([[0.0], np.cumsum(FRAME_MIN)[:-1]]) * 60
MID_MIN = FRAME_START_S / 60 + FRAME_MIN / 2
EARLY = (MID_MIN / 16.5) * np.exp(1 - MID_MIN / 16.5)  # highest at 15.5 min
RISING = 0.2 + MID_MIN / 50  # highest at 47.5 min

# (label, hot-block TBR, early peak). The rest of the lesion is at 1.2 × background, below
# the 1.6 threshold, so the BTV is the hot block when it reaches 1.6 and empty otherwise.
CASES = [
    (1, 2.6, False),  # BTV TBR 2.6 >= 2: TP (whole mask 1.92 would call it negative)
    (1, 1.8, True),  # TTP 15.5 < 45: TP
    (1, 1.8, False),  # 1.8 < 2, TTP 47.5: FN
    (0, 1.8, False),  # TN
    (0, 2.2, False),  # BTV 2.2 >= 2: FP (whole mask 1.71 would call it negative)
    (0, 1.4, False),  # no BTV: whole-mask TBR 1.3 < 2: TN
    (1, 3.0, True),  # TP
]
EXPECTED_CELLS = (3, 1, 2, 1)  # TP, FP, TN, FN counted from the list above


def write(path: Path, array: np.ndarray) -> str:
    if array.ndim == 4:
        image = sitk.JoinSeries([sitk.GetImageFromArray(frame) for frame in array])
        image.SetSpacing((2.0, 2.0, 2.0, 1.0))
    else:
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(image, str(path))
    return path.name


def mask(region) -> np.ndarray:
    array = np.zeros(SHAPE, dtype=np.uint8)
    array[region] = 1
    return array


def write_case(
    folder: Path,
    case_id: str,
    label: int,
    hot: float,
    early: bool,
    tracer: str = "FET",
    primary: str = "glioma",
) -> dict:
    folder.mkdir(parents=True)
    static = np.ones(SHAPE, dtype=np.float32)
    static[LESION] = 1.2
    static[HOT] = hot
    curve = EARLY if early else RISING
    row = {
        "case_id": case_id,
        "patient_id": case_id,
        "label": label,
        "tracer": tracer,
        "primary": primary,
    }
    row["pet"] = f"{case_id}/{write(folder / 'pet.nii.gz', static)}"
    frames = (static[None] * curve[:, None, None, None]).astype(np.float32)
    row["pet_dynamic"] = f"{case_id}/{write(folder / 'dyn.nii.gz', frames)}"
    (folder / "dyn.json").write_text(
        json.dumps(
            {
                "FrameTimesStart": FRAME_START_S.tolist(),
                "FrameDuration": (FRAME_MIN * 60).tolist(),
                "InjectionStart": 0,
            }
        )
    )
    for column, region in (("lesion_mask", LESION), ("ref_background", BACKGROUND)):
        row[column] = f"{case_id}/{write(folder / f'{column}.nii.gz', mask(region))}"
    return row


def extract(manifest: Path, out: Path) -> pd.DataFrame:
    """Static and dynamic PET families of the shipped configuration."""
    config = load_config().model_copy(update={"families": ("pet_static", "pet_dynamic")})
    return extract_features(manifest, out, config=config, workers=1).table


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    rows = [write_case(folder / f"c{i}", f"c{i}", *case) for i, case in enumerate(CASES)]
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


@pytest.fixture(scope="module")
def features(cohort) -> pd.DataFrame:
    return extract(cohort, cohort.parent / "features.parquet")


def test_baseline_confusion_cells_follow_the_btv_definition(cohort, features):
    assert features["dyn_TBRmean_btv_20_40"].tolist() == pytest.approx(
        [2.6, 1.8, 1.8, 1.8, 2.2, (512 * 1.4 + 488 * 1.2) / 1000, 3.0]
    )
    out = cohort.parent / "baseline.csv"
    result = CliRunner().invoke(
        app,
        ["baseline", str(cohort.parent / "features.parquet"), "--out", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out).set_index("rule_id").loc["fet_dynamic"]
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == EXPECTED_CELLS
    parameters = pd.read_csv(out.with_name("baseline_parameters.csv"))
    assert set(parameters.loc[parameters["rules"].str.contains("fet_dynamic"), "parameter"]) == {
        "dyn_TBRmean_btv_20_40",
        "dyn_TTP_min",
    }


def test_injection_start_shift_moves_every_ttp_by_that_shift(cohort, features, tmp_path):
    shifted = tmp_path / "shifted"
    table = pd.read_csv(cohort)
    for case_id in table["case_id"]:
        source = cohort.parent / case_id
        target = shifted / case_id
        target.mkdir(parents=True)
        for file in source.iterdir():
            shutil.copy(file, target / file.name)
        sidecar = json.loads((source / "dyn.json").read_text())
        (target / "dyn.json").write_text(json.dumps(sidecar | {"InjectionStart": -150}))
    table.to_csv(shifted / "manifest.csv", index=False)
    moved = extract(shifted / "manifest.csv", shifted / "features.parquet")
    np.testing.assert_allclose(moved["dyn_TTP_min"] - features["dyn_TTP_min"], 2.5, atol=1e-9)


def test_fdopa_slope_rule_on_a_short_fdopa_protocol(tmp_path):
    """A 0–25 min protocol: the FET slope window (20–50 min) holds one frame, FDOPA's
    (10–30 min) three; a falling curve is positive for fdopa_dynamic_slope."""
    durations_min = np.array([1.0] * 5 + [5.0] * 4)  # mid-times 0.5 … 4.5, 7.5 … 22.5
    starts_s = np.concatenate([[0.0], np.cumsum(durations_min)[:-1]]) * 60
    mid = starts_s / 60 + durations_min / 2
    falling = 3.0 - 0.05 * mid
    rows = []
    for tracer in ("FDOPA", "FET"):
        row = write_case(tmp_path / tracer, tracer, 1, 2.6, False, tracer=tracer)
        static = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / tracer / "pet.nii.gz")))
        frames = (static[None] * falling[:, None, None, None]).astype(np.float32)
        write(tmp_path / tracer / "dyn.nii.gz", frames)
        (tmp_path / tracer / "dyn.json").write_text(
            json.dumps(
                {
                    "FrameTimesStart": starts_s.tolist(),
                    "FrameDuration": (durations_min * 60).tolist(),
                    "InjectionStart": 0,
                }
            )
        )
        rows.append(row)
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    table = extract(tmp_path / "manifest.csv", tmp_path / "features.parquet")
    fdopa, fet = table["dyn_slope_suv_per_h"]
    assert fdopa == pytest.approx(-0.05 * 60 * 2.6)  # SUV/h in the hot sphere
    assert np.isnan(fet)
    slope_rule = [rule for rule in load_rules() if rule.id == "fdopa_dynamic_slope"]
    decisions = evaluate_rules(table, slope_rule)["rule_fdopa_dynamic_slope"]
    assert decisions.tolist()[0] == 1.0 and np.isnan(decisions.tolist()[1])


def test_editing_injection_start_in_place_reaches_a_cached_rerun(tmp_path):
    row = write_case(tmp_path / "c", "c", 1, 2.6, True)
    pd.DataFrame([row]).to_csv(tmp_path / "manifest.csv", index=False)
    out = tmp_path / "features.parquet"
    before = extract(tmp_path / "manifest.csv", out)["dyn_TTP_min"].iloc[0]
    sidecar = tmp_path / "c" / "dyn.json"
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {"InjectionStart": -60}))
    after = extract(tmp_path / "manifest.csv", out)["dyn_TTP_min"].iloc[0]
    assert after - before == pytest.approx(1.0)


def test_sidecar_beside_a_symbolic_link_is_the_one_read(tmp_path):
    """Annexed BIDS datasets keep images as links: timing comes from beside the link."""
    row = write_case(tmp_path / "data", "c", 1, 2.6, True)
    linked = tmp_path / "bids"
    linked.mkdir()
    for file in (tmp_path / "data").iterdir():
        (linked / file.name).symlink_to(file)
    (linked / "dyn.json").unlink()
    (linked / "dyn.json").write_text(
        json.dumps(
            {
                "FrameTimesStart": FRAME_START_S.tolist(),
                "FrameDuration": (FRAME_MIN * 60).tolist(),
                "InjectionStart": -120,
            }
        )
    )
    files = ("pet", "pet_dynamic", "lesion_mask", "ref_background")

    def in_folder(case_id: str, folder: str) -> dict:
        return {
            **row,
            "case_id": case_id,
            **{column: f"{folder}/{Path(row[column]).name}" for column in files},
        }

    rows = [in_folder("original", "data"), in_folder("linked", "bids")]
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    ttp = extract(tmp_path / "manifest.csv", tmp_path / "features.parquet")["dyn_TTP_min"]
    assert ttp.iloc[1] - ttp.iloc[0] == pytest.approx(2.0)
