"""`radiomix validate` on real files and on a set of broken manifests, one per problem kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from radiomix.cli import app
from radiomix.data.manifest import load_manifest, parse_labels
from radiomix.data.resample import GridConfig
from radiomix.data.validate import validate_manifest
from radiomix.errors import ManifestError

SHAPE = (8, 10, 12)  # z, y, x
SPACING = (2.0, 2.0, 2.0)


def write_image(path: Path, array: np.ndarray, spacing=SPACING, origin=(0.0, 0.0, 0.0)) -> str:
    image = sitk.GetImageFromArray(array, isVector=False)
    image.SetSpacing(spacing if array.ndim == 3 else (*spacing, 1.0))
    image.SetOrigin(origin if array.ndim == 3 else (*origin, 0.0))
    sitk.WriteImage(image, str(path))
    return path.name


def lesion_array() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[3:6, 4:7, 2:5] = 1  # left of the centre; the background is its mirror
    return mask


def write_case(folder: Path, case_id: str, label: str = "1", tracer: str = "FET") -> dict:
    """One valid case: static and dynamic PET, T1c, lesion and background masks."""
    rng = np.random.default_rng(0)
    pet = rng.uniform(0.5, 3.0, SHAPE).astype(np.float32)
    frames = np.stack([pet * (i + 1) / 4 for i in range(4)])
    background = np.zeros(SHAPE, np.uint8)
    background[1:3, 1:4, 7:10] = 1
    dynamic = write_image(folder / f"{case_id}_dyn.nii.gz", frames)
    (folder / f"{case_id}_dyn.json").write_text(
        json.dumps({"FrameTimesStart": [0, 60, 120, 300], "FrameDuration": [60, 60, 180, 300]})
    )
    return {
        "case_id": case_id,
        "patient_id": f"P{case_id}",
        "site": "A",
        "label": label,
        "tracer": tracer,
        "primary": "glioma",
        "pet": write_image(folder / f"{case_id}_pet.nii.gz", pet),
        "pet_dynamic": dynamic,
        "t1c": write_image(folder / f"{case_id}_t1c.nii.gz", pet * 100),
        "lesion_mask": write_image(folder / f"{case_id}_lesion.nii.gz", lesion_array()),
        "ref_background": write_image(folder / f"{case_id}_bg.nii.gz", background),
        "age": "61",
        "mrs_cho_naa": "",
        "grade": "4",
    }


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    rows = [write_case(tmp_path, "c1"), write_case(tmp_path, "c2", "0", "FDOPA")]
    pd.DataFrame(rows).to_csv(tmp_path / "data_manifest.csv", index=False)
    return tmp_path / "data_manifest.csv"


def edit(manifest: Path, change) -> Path:
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    change(table, manifest.parent)
    table.to_csv(manifest, index=False)
    return manifest


def problems_of(manifest: Path) -> list[tuple[str, str, str]]:
    report = validate_manifest(manifest)
    return [(p.case_id, p.column, p.message) for p in report.problems]


def test_valid_cohort_loads_into_cases(cohort: Path):
    assert validate_manifest(cohort).valid
    manifest = load_manifest(cohort)
    first, second = manifest.cases
    assert (first.label, second.label, second.tracer) == (1, 0, "FDOPA")
    assert first.patient_id == "Pc1"
    assert first.paths["pet"] == cohort.parent / "c1_pet.nii.gz"
    assert "mrs_cho_naa" not in first.values and first.values["age"] == 61.0
    assert first.clinical == {"grade": "4"}


def test_summary_counts_labels_tracers_and_modalities(cohort: Path):
    summary = validate_manifest(cohort).summary
    assert dict(zip(summary["tracer"]["tracer"], summary["tracer"]["cases"], strict=True)) == {
        "FDOPA": 1,
        "FET": 1,
    }
    modalities = dict(
        zip(summary["modalities"]["column"], summary["modalities"]["cases"], strict=True)
    )
    assert modalities == {
        "pet": 2,
        "pet_dynamic": 2,
        "t1c": 2,
        "lesion_mask": 2,
        "ref_background": 2,
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda t, d: t.drop(columns="lesion_mask", inplace=True),
            ("", "lesion_mask", "required column lesion_mask is missing"),
        ),
        (
            lambda t, d: t.__setitem__("case_id", ["c1", "c1"]),
            ("c1", "case_id", "duplicate case_id"),
        ),
        (lambda t, d: t.__setitem__("label", ["1", "maybe"]), ("c2", "label", "unknown label")),
        (lambda t, d: t.__setitem__("tracer", ["FET", "PSMA"]), ("c2", "tracer", "unknown tracer")),
        (lambda t, d: t.__setitem__("age", ["61", "old"]), ("c2", "age", "not a finite number")),
        (lambda t, d: (d / "c2_t1c.nii.gz").unlink(), ("c2", "t1c", "file not found")),
    ],
)
def test_table_and_file_problems_name_case_and_column(cohort, change, expected):
    found = problems_of(edit(cohort, change))
    case_id, column, message = expected
    assert any(c == case_id and col == column and message in m for c, col, m in found), found


@pytest.mark.parametrize(
    ("column", "file", "array", "spacing", "message"),
    [
        ("lesion_mask", "c2_lesion", np.zeros(SHAPE, np.uint8), SPACING, "mask is empty"),
        ("lesion_mask", "c2_lesion", lesion_array() * 2, SPACING, "not binary"),
        ("ref_background", "c2_bg", lesion_array() * 3, SPACING, "not binary"),
    ],
)
def test_image_and_mask_problems(cohort, column, file, array, spacing, message):
    write_image(cohort.parent / f"{file}.nii.gz", array, spacing)
    found = problems_of(cohort)
    assert [(c, col) for c, col, m in found if message in m] == [("c2", column)], found


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_non_finite_voxels_are_counted(cohort, suffix):
    # ITK's NIfTI reader turns NaN and inf into 0: NIfTI files are scanned before it reads them.
    t1c = np.ones(SHAPE, np.float32)
    t1c[0, 0, :3] = [np.nan, np.inf, -np.inf]
    write_image(cohort.parent / f"c2_t1c{suffix}", t1c)
    edit(cohort, lambda t, d: t.__setitem__("t1c", ["c1_t1c.nii.gz", f"c2_t1c{suffix}"]))
    assert [(c, col, m.split(";")[0]) for c, col, m in problems_of(cohort)] == [
        ("c2", "t1c", "3 non-finite voxel(s) (1 NaN, 2 infinite)")
    ]


def test_mask_on_its_own_grid_inside_the_image_is_valid(cohort):
    """Native grids: a mask on a finer, shifted grid is resampled, not refused."""
    fine = np.repeat(np.repeat(np.repeat(lesion_array(), 2, 0), 2, 1), 2, 2)
    write_image(cohort.parent / "c1_lesion.nii.gz", fine, (1.0, 1.0, 1.0), (-0.5, -0.5, -0.5))
    assert problems_of(cohort) == []


def test_direction_flip_puts_the_mask_outside_its_image(cohort):
    mask = sitk.ReadImage(str(cohort.parent / "c2_bg.nii.gz"))
    mask.SetDirection((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(mask, str(cohort.parent / "c2_bg.nii.gz"))
    assert [(c, col) for c, col, m in problems_of(cohort) if "overlaps" in m] == [
        ("c2", "ref_background")
    ]


def test_images_without_common_physical_space_are_named(cohort):
    write_image(
        cohort.parent / "c1_t1c.nii.gz", np.ones(SHAPE, np.float32), origin=(500.0, 0.0, 0.0)
    )
    found = problems_of(cohort)
    assert [(c, col) for c, col, m in found if "by 0% (at least 50%" in m] == [("c1", "t1c")], found


def test_mask_reaching_outside_its_image_is_named(cohort):
    wide = np.zeros((SHAPE[0], SHAPE[1], 20), np.uint8)
    wide[3:6, 4:7, 14:17] = 1  # x 28-32 mm, beyond the images' 24 mm
    write_image(cohort.parent / "c2_lesion.nii.gz", wide)
    found = problems_of(cohort)
    assert [(c, col) for c, col, m in found if "reaches outside the image" in m] == [
        ("c2", "lesion_mask")
    ], found


@pytest.mark.parametrize(
    ("timing", "message"),
    [
        (None, "sidecar"),
        ({"FrameTimesStart": [0, 60, 120], "FrameDuration": [60, 60, 180]}, "frame"),
        ({"FrameTimesStart": [0, 30, 120, 300], "FrameDuration": [60, 60, 180, 300]}, "overlap"),
    ],
)
def test_dynamic_frame_timing_problems(cohort, timing, message):
    sidecar = cohort.parent / "c1_dyn.json"
    if timing is None:
        sidecar.unlink()
    else:
        sidecar.write_text(json.dumps(timing))
    found = problems_of(cohort)
    assert [(c, col) for c, col, _ in found] == [("c1", "pet_dynamic")], found
    assert message in found[0][2].lower()


def test_load_manifest_raises_listing_every_table_problem(cohort):
    edit(cohort, lambda t, d: t.__setitem__("label", ["yes", "no"]))
    with pytest.raises(ManifestError) as raised:
        load_manifest(cohort)
    assert "case c1, column label" in str(raised.value)
    assert "case c2, column label" in str(raised.value)


def test_cli_exit_codes_and_messages(cohort):
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(cohort)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    (cohort.parent / "c2_pet.nii.gz").unlink()
    result = runner.invoke(app, ["validate", str(cohort)])
    assert result.exit_code == 2
    assert "case c2, column pet" in result.output and "file not found" in result.output
    assert "Traceback" not in result.output


def test_cli_missing_manifest_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "manifest not found" in result.output


def test_real_nrrd_and_ibsi_phantom_validate(shared_data, tmp_path):
    brain = shared_data / "pyradiomics"
    phantom = shared_data / "ibsi" / "digital_phantom" / "nifti"
    rows = [
        {
            "case_id": "brain1",
            "t1c": str(brain / "brain1_image.nrrd"),
            "lesion_mask": str(brain / "brain1_label.nrrd"),
        },
        {
            "case_id": "ibsi",
            "pet": str(phantom / "image" / "phantom.nii.gz"),
            "lesion_mask": str(phantom / "mask" / "mask.nii.gz"),
        },
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "data_manifest.csv", index=False)
    # The IBSI phantom's mask fills the image to its border: refused unless accepted.
    report = validate_manifest(tmp_path / "data_manifest.csv")
    assert [(p.case_id, p.column) for p in report.problems] == [("ibsi", "lesion_mask")]
    report = validate_manifest(
        tmp_path / "data_manifest.csv", grid=GridConfig(accept_cut_lesions=True)
    )
    assert report.valid, report.problems
    assert [(w.case_id, w.column) for w in report.warnings] == [("ibsi", "lesion_mask")]
    assert "lesion cut by the field of view" in report.warnings[0].message
    accepting = tmp_path / "extraction.yaml"
    accepting.write_text("grid: {accept_cut_lesions: true}\n")
    manifest = str(tmp_path / "data_manifest.csv")
    assert CliRunner().invoke(app, ["validate", manifest]).exit_code == 2
    assert (
        CliRunner().invoke(app, ["validate", manifest, "--config", str(accepting)]).exit_code == 0
    )
    from radiomix.data.case_loader import load_case_image, load_case_mask

    ibsi = load_manifest(tmp_path / "data_manifest.csv").cases[1]
    image = load_case_image(ibsi, "pet")
    assert image.GetSpacing() == (2.0, 2.0, 2.0) and image.GetSize() == (5, 4, 4)
    assert int(sitk.GetArrayFromImage(load_case_mask(ibsi, "lesion_mask", image)).sum()) == 74


def test_labels_accept_numbers_and_words_and_name_a_bad_case():
    values = pd.Series(["1", "Recurrence", "0", " radionecrosis", "", None, 1.0, 0])
    ids = pd.Series([f"c{i}" for i in range(len(values))])
    np.testing.assert_array_equal(
        parse_labels(values, ids, "t.csv"), [1, 1, 0, 0, np.nan, np.nan, 1, 0]
    )
    with pytest.raises(ManifestError, match=r"t.csv: case 'c1': column 'label'.*'2'"):
        parse_labels(pd.Series(["1", "2"]), ids[:2], "t.csv")


def test_cli_prints_frames_from_the_injection_and_flags(cohort):
    sidecar = cohort.parent / "c1_dyn.json"
    sidecar.write_text(
        json.dumps(
            {
                "FrameTimesStart": [0, 60, 120, 360],
                "FrameDuration": [60, 60, 180, 300],
                "InjectionStart": 30,
            }
        )
    )
    result = CliRunner().invoke(app, ["validate", str(cohort)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # c1: injection 30 s after TimeZero, so frame 0 runs -0.50 to 0.50 min; c2 has no
    # InjectionStart and is read from TimeZero.
    assert "pet_dynamic frames from the injection: c1" in result.output
    assert "-0.50" in result.output and "10.50" in result.output
    assert "c1: 1 frame(s) start before the injection (frame 0 at -0.50 min)" in result.output
    assert "c1: gap of 60 s between frame 2 and frame 3" in result.output
    assert "c2: no InjectionStart: frame times taken as from the injection" in result.output


def test_grade_rt_technique_and_visual_score_vocabularies(cohort):
    def change(table, folder):
        table["grade"] = ["5", "3"]
        table["rt_technique"] = ["SRS", "proton"]
        table["visual_score"] = ["3", "high"]

    edit(cohort, change)
    assert problems_of(cohort) == [
        ("c1", "grade", "unknown grade '5' (expected one of 1, 2, 3, 4)"),
        (
            "c2",
            "rt_technique",
            "unknown rt_technique 'proton' (expected one of fractionated, hfsrt, srs, wbrt)",
        ),
        ("c2", "visual_score", "unknown visual_score 'high' (expected one of 1, 2, 3, 4)"),
    ]


def test_duplicate_case_id_does_not_hide_file_problems(cohort):
    """Every problem in one pass: a duplicated id and a missing file of the other row."""

    def change(table, folder):
        table["case_id"] = ["c1", "c1"]
        (folder / "c2_t1c.nii.gz").unlink()

    found = problems_of(edit(cohort, change))
    assert ("c1", "case_id", "duplicate case_id") in found
    assert [(c, col) for c, col, m in found if "file not found" in m] == [("c1", "t1c")]


@pytest.mark.shared
def test_rtstruct_manifest_that_extract_reads_is_valid(shared_data, tmp_path):
    dicom = shared_data / "pet" / "sts_001_raw_dicom"
    rows = [
        {
            "case_id": "sts_001",
            "pet": str(dicom / "image"),
            "lesion_mask": f"{dicom / 'mask' / '1-1.dcm'}#GTV_Mass",
        }
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "data_manifest.csv", index=False)
    report = validate_manifest(tmp_path / "data_manifest.csv")
    assert report.valid, report.problems


def test_without_plausibility_only_the_files_are_checked(cohort):
    """For a caller that extracts next (the demo): the extraction checks plausibility again."""

    def change(table, folder):
        table.loc[0, "ref_background"] = table.loc[0, "lesion_mask"]  # region on the lesion
        table.loc[1, "t1c"] = "absent.nii.gz"

    edit(cohort, change)
    files_only = validate_manifest(cohort, plausibility=False)
    assert [(p.case_id, p.column) for p in files_only.problems] == [("c2", "t1c")]
    assert sorted((p.case_id, p.column) for p in validate_manifest(cohort).problems) == [
        ("c1", "ref_background"),
        ("c2", "t1c"),
    ]


def test_workers_find_the_same_problems_in_manifest_order(tmp_path: Path):
    """Ten cases (above PARALLEL_MIN_CASES), three broken: a missing file, a lesion outside
    its image, a truncated PET; two worker processes report what one reports, in row order."""
    rows = [write_case(tmp_path, f"c{i}") for i in range(10)]
    rows[2]["t1c"] = "absent.nii.gz"
    outside = np.zeros((8, 10, 12), np.uint8)
    outside[0:2, 0:2, 0:2] = 1
    rows[5]["lesion_mask"] = write_image(tmp_path / "far.nii.gz", outside, origin=(500.0, 0, 0))
    truncated = (tmp_path / rows[8]["pet"]).read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(truncated[: len(truncated) // 2])
    rows[8]["pet"] = "cut.nii.gz"
    pd.DataFrame(rows).to_csv(tmp_path / "data_manifest.csv", index=False)
    seen: list[str] = []
    serial = validate_manifest(tmp_path / "data_manifest.csv", workers=1)
    parallel = validate_manifest(
        tmp_path / "data_manifest.csv", lambda case: seen.append(case.case_id), workers=2
    )
    found = [(p.case_id, p.column, p.message) for p in parallel.problems]
    assert found == [(p.case_id, p.column, p.message) for p in serial.problems]
    assert [case for case, _, _ in found] == sorted(
        (case for case, _, _ in found), key=lambda case: int(case[1:])
    )
    assert {case for case, _, _ in found} == {"c2", "c5", "c8"}
    assert seen == [f"c{i}" for i in range(10)]
