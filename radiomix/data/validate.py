"""`radiomix validate`: everything about a manifest that can be checked without extracting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomix.data.images import (
    Where,
    check_same_grid,
    read_dynamic,
    read_mask,
    read_volume,
    reads_shared,
    reference_column,
    split_roi,
)
from radiomix.data.manifest import (
    IMAGE_COLUMNS,
    MASK_COLUMNS,
    Case,
    Problem,
    case_from_row,
    check_table,
    read_manifest_table,
)
from radiomix.data.timing import read_frame_timing
from radiomix.errors import RadiomixError

REQUIRED_COLUMNS = ("case_id", "lesion_mask")


@dataclass(frozen=True)
class ValidationReport:
    """The problems found in a manifest and a summary of what it holds."""

    manifest: Path
    problems: tuple[Problem, ...]
    summary: dict[str, pd.DataFrame]

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_manifest(path: Path | str,
                      progress: Callable[[Case], None] | None = None) -> ValidationReport:
    """Check a manifest's table and every file it names; never raises on a bad case."""
    path = Path(path).resolve()
    table = read_manifest_table(path)
    problems = check_required_columns(table) + check_table(table)
    if any(problem.column == "case_id" for problem in problems):
        return ValidationReport(path, tuple(problems), {})
    for _, row in _blank_bad_cells(table, problems).iterrows():
        case = case_from_row(row, path.parent)
        with reads_shared():  # the reference image is checked again as an image column
            problems += check_case_files(case)
        if progress:
            progress(case)
    return ValidationReport(path, tuple(problems), summarise(table))


def _blank_bad_cells(table: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    """The table with the cells already reported as problems emptied, to check the files."""
    table = table.copy()
    for problem in problems:
        if problem.case_id and problem.column in table.columns:
            table.loc[table["case_id"] == problem.case_id, problem.column] = ""
    return table


def check_required_columns(table: pd.DataFrame) -> list[Problem]:
    """Missing required columns, and a manifest with no image column at all."""
    problems = [Problem(f"required column {column} is missing", column=column)
                for column in REQUIRED_COLUMNS if column not in table.columns]
    if not set(IMAGE_COLUMNS) & set(table.columns):
        problems.append(Problem(f"no image column (expected one of {', '.join(IMAGE_COLUMNS)})"))
    return problems


def check_case_files(case: Case) -> list[Problem]:
    """Problems with the files of one case: existence, readability, grid, masks, timing."""
    if not any(column in case.paths for column in IMAGE_COLUMNS):
        return [Problem("no image is given", case_id=case.case_id)]
    problems: list[Problem] = []
    if "lesion_mask" not in case.paths:
        problems.append(Problem("lesion_mask is empty", case_id=case.case_id,
                                column="lesion_mask"))
    column = reference_column(case)
    where = Where(case.case_id, column, case.paths[column])
    try:
        reference = _read_reference(case.paths[column], column, where)
    except RadiomixError as error:
        return [*problems, _problem(where, error)]
    for column in IMAGE_COLUMNS:
        if column in case.paths:
            problems += _check_image(case, column, reference)
    for column in MASK_COLUMNS:
        if column in case.paths:
            problems += _check_mask(case, column, reference)
    return problems


def _read_reference(path: Path, column: str, where: Where) -> sitk.Image:
    if column == "pet_dynamic":
        return read_dynamic(path, where)[1]
    return read_volume(path, where)


def _check_image(case: Case, column: str, reference: sitk.Image) -> list[Problem]:
    where = Where(case.case_id, column, case.paths[column])
    try:
        if column == "pet_dynamic":
            frames, image = read_dynamic(case.paths[column], where)
            read_frame_timing(case.paths[column], frames.shape[0])
            voxels = frames
        else:
            image = read_volume(case.paths[column], where)
            voxels = sitk.GetArrayViewFromImage(image)
        check_same_grid(reference, image, where)
    except RadiomixError as error:
        return [_problem(where, error)]
    n_bad = int(np.size(voxels) - np.count_nonzero(np.isfinite(voxels)))
    if n_bad:
        return [Problem(f"{n_bad} non-finite voxels", case.case_id, column,
                        str(case.paths[column]))]
    return []


def _check_mask(case: Case, column: str, reference: sitk.Image) -> list[Problem]:
    file = split_roi(case.paths[column])[0]
    where = Where(case.case_id, column, file)
    try:
        read_mask(case.paths[column], reference, where)
    except RadiomixError as error:
        return [_problem(where, error)]
    return []


def _problem(where: Where, error: RadiomixError) -> Problem:
    """A Problem located at ``where`` from an error whose message starts with it."""
    message = str(error).removeprefix(f"{where}: ")
    return Problem(message, where.case_id, where.column, str(where.file))


def summarise(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Cases per label, site and tracer, and how many cases have each modality."""
    summary = {}
    for column in ("label", "site", "tracer"):
        if column in table.columns:
            counts = table[column].replace("", "(empty)").value_counts().sort_index()
            summary[column] = counts.rename_axis(column).reset_index(name="cases")
    present = [(column, int((table[column] != "").sum()))
               for column in IMAGE_COLUMNS + MASK_COLUMNS if column in table.columns]
    summary["modalities"] = pd.DataFrame(present, columns=["column", "cases"])
    return summary
