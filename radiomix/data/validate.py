"""`radiomix validate`: everything about a manifest that can be checked without extracting."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

from radiomix.cores import usable_cores
from radiomix.data.case_loader import (
    load_case_dynamic,
    load_case_image,
    load_case_mask,
    native_grid,
    reference_column,
    where,
)
from radiomix.data.images import Where, reads_shared
from radiomix.data.manifest import (
    Case,
    Problem,
    case_from_row,
    check_table,
    read_manifest_table,
)
from radiomix.data.prepare import check_case, check_warnings
from radiomix.data.resample import GridConfig, case_grids, check_overlap, current
from radiomix.errors import RadiomixError
from radiomix.schema import IMAGE_COLUMNS, MASK_COLUMNS

REQUIRED_COLUMNS = ("case_id", "lesion_mask")
# Fewest cases for which worker processes beat checking in this process: a case takes ~75 ms
# of CPU, a forked worker starts in a few ms.
PARALLEL_MIN_CASES = 8


@dataclass(frozen=True)
class ValidationReport:
    """The problems found in a manifest and a summary of what it holds."""

    manifest: Path
    problems: tuple[Problem, ...]
    summary: dict[str, pd.DataFrame]
    warnings: tuple[Problem, ...] = ()  # reported, not making the manifest invalid

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_manifest(
    path: Path | str,
    progress: Callable[[Case], None] | None = None,
    grid: GridConfig | None = None,
    plausibility: bool = True,
    workers: int | None = None,
) -> ValidationReport:
    """Check a manifest's table and every file it names, all in one pass; never raises on a
    bad case. Files are read with the code extraction uses (native grids, RTSTRUCT, SEG and
    DICOM series, plausibility checks), with the ``grid`` settings of the extraction
    configuration (defaults when None).

    ``plausibility=False`` leaves out the plausibility checks of :mod:`radiomix.data.prepare`
    (units, PET scale, reference regions, lesion at the border), which an extraction runs
    again on every case before its features (reported in its error report, the column
    dropped): for a caller that extracts next. The cases are checked on ``workers`` processes
    (default: the usable cores; in this process for one, or below ``PARALLEL_MIN_CASES``
    cases); the problems are reported in manifest order whatever the number.
    """
    path = Path(path).resolve()
    table = read_manifest_table(path)
    problems = check_required_columns(table) + check_table(table)
    warnings: list[Problem] = []
    if "case_id" not in table.columns:
        return ValidationReport(path, tuple(problems), {})
    cases = []
    for row_number, row in _blank_bad_cells(table, problems).iterrows():
        case = case_from_row(row, path.parent)
        if not case.case_id:
            case = dataclasses.replace(case, case_id=f"row {row_number + 2}")
        cases.append(case)
    check = partial(_check_case, grid=grid, plausibility=plausibility)
    for case, (found, warned) in zip(cases, _mapped(check, cases, workers), strict=True):
        problems += found
        warnings += warned
        if progress:
            progress(case)
    return ValidationReport(path, tuple(problems), summarise(table), tuple(warnings))


def _check_case(
    case: Case, grid: GridConfig | None, plausibility: bool
) -> tuple[list[Problem], list[Problem]]:
    """The problems and warnings of one case's files."""
    # Each file is read once; the reference grid is read again as an image column.
    with reads_shared(), case_grids(grid):
        problems = check_case_files(case, plausibility)
        return problems, check_warnings(case) if plausibility else []


def _mapped(
    check: Callable[[Case], tuple[list[Problem], list[Problem]]],
    cases: list[Case],
    workers: int | None,
) -> Iterator[tuple[list[Problem], list[Problem]]]:
    """``check`` of each case in order, on ``workers`` processes (see ``validate_manifest``)."""
    workers = min(workers or usable_cores(), len(cases))
    if workers <= 1 or len(cases) < PARALLEL_MIN_CASES:
        yield from map(check, cases)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(check, cases, chunksize=4)


def _blank_bad_cells(table: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    """The table with the cells already reported as problems emptied, to check the files."""
    table = table.copy()
    for problem in problems:
        if problem.case_id and problem.column in table.columns and problem.column != "case_id":
            table.loc[table["case_id"] == problem.case_id, problem.column] = ""
    return table


def check_required_columns(table: pd.DataFrame) -> list[Problem]:
    """Missing required columns, a manifest with no image column at all or with no case."""
    problems = [
        Problem(f"required column {column} is missing", column=column)
        for column in REQUIRED_COLUMNS
        if column not in table.columns
    ]
    if not set(IMAGE_COLUMNS) & set(table.columns):
        problems.append(Problem(f"no image column (expected one of {', '.join(IMAGE_COLUMNS)})"))
    if table.empty:
        problems.append(Problem("the manifest holds no case"))
    return problems


def check_case_files(case: Case, plausibility: bool = True) -> list[Problem]:
    """Problems with the files of one case: existence, readability, grid, masks, timing, and
    the plausibility of its values (``check_case``) when asked."""
    if not any(column in case.paths for column in IMAGE_COLUMNS):
        return [Problem("no image is given", case_id=case.case_id)]
    problems: list[Problem] = []
    if "lesion_mask" not in case.paths:
        problems.append(Problem("lesion_mask is empty", case_id=case.case_id, column="lesion_mask"))
    column = reference_column(case)
    try:
        reference = native_grid(case, column)
    except RadiomixError as error:
        return [*problems, _problem(where(case, column), error)]
    images = [column for column in IMAGE_COLUMNS if column in case.paths]
    image_problems = [
        problem for column in images for problem in _check_image(case, column, reference)
    ]
    bad = {problem.column for problem in image_problems}
    problems += image_problems
    mask_problems = [
        problem
        for column in MASK_COLUMNS
        if column in case.paths
        for problem in _check_mask(case, column, images, bad)
    ]
    problems += mask_problems
    if image_problems or mask_problems or not plausibility:
        return problems
    try:
        return problems + check_case(case)
    except Exception as error:  # a library failure on odd input must not end the validation
        return [
            *problems,
            Problem(f"plausibility checks failed: {type(error).__name__}: {error}", case.case_id),
        ]


def _check_image(case: Case, column: str, reference: sitk.Image) -> list[Problem]:
    """The image reads, its physical box overlaps the case's reference image, its voxels
    are finite (and a dynamic series has its frame timing)."""
    location = where(case, column)
    try:
        if column == "pet_dynamic":
            image = load_case_dynamic(case)[1]
        else:
            image = load_case_image(case, column)
        check_overlap(image, reference, str(location), current().settings.min_overlap)
    except RadiomixError as error:  # includes non-finite voxels, found when the image is read
        return [_problem(location, error)]
    return []


def _check_mask(case: Case, column: str, images: list[str], bad: set[str]) -> list[Problem]:
    """The mask reads and lands inside every readable image of the case."""
    for image_column in images:
        if image_column in bad:
            continue
        try:
            load_case_mask(case, column, native_grid(case, image_column))
        except RadiomixError as error:
            return [_problem(where(case, column), error)]
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
    present = [
        (column, int((table[column] != "").sum()))
        for column in IMAGE_COLUMNS + MASK_COLUMNS
        if column in table.columns
    ]
    summary["modalities"] = pd.DataFrame(present, columns=["column", "cases"])
    return summary
