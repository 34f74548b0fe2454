"""The data manifest: one row per lesion, read into `Case` objects.

The contract (paths relative to the manifest's folder, an empty cell means "not available"):

- identity: ``case_id`` (unique), ``patient_id`` (CV grouping, defaults to case_id), ``site``,
  ``label`` (1/recurrence, 0/radionecrosis, empty when unknown), ``label_source``
  (histology|follow-up), ``tracer`` (FET|FDOPA|FDG|MET), ``primary`` (glioma|metastasis);
- images: ``pet``, ``pet_dynamic``, ``pet_early``, ``pet_late``, ``t1c``, ``flair``, ``adc``,
  ``rcbv`` (NIfTI/NRRD/MHA file or DICOM series folder);
- masks: ``lesion_mask``, ``ref_background``, ``ref_wm``, ``ref_gm``, ``ref_striatum`` (image
  file, or DICOM RTSTRUCT / SEG file);
- numbers: ``mrs_cho_naa``, ``mrs_cho_cr``, ``age``, ``months_since_rt``;
- optional clinical columns that rules read, kept in the feature table: ``grade`` (WHO grade
  1–4), ``rt_technique`` (srs|hfsrt|fractionated|wbrt: single-fraction radiosurgery,
  hypofractionated stereotactic, conventionally fractionated, whole-brain) and
  ``visual_score`` (a reader's 4-point score vs the striatum: 1 no visible lesion, 2 below,
  3 equal, 4 above; Lizarraga 2014).

Any other column is kept as a clinical variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from radiomix.errors import ManifestError
from radiomix.schema import IMAGE_COLUMNS, MANIFEST_COLUMNS, MASK_COLUMNS, NUMBER_COLUMNS

LABELS = {"1": 1, "recurrence": 1, "0": 0, "radionecrosis": 0}
TRACERS = ("FET", "FDOPA", "FDG", "MET")
LABEL_SOURCES = ("histology", "follow-up")
PRIMARIES = ("glioma", "metastasis")
GRADES = ("1", "2", "3", "4")
RtTechnique = Literal["srs", "hfsrt", "fractionated", "wbrt"]
RT_TECHNIQUES: tuple[RtTechnique, ...] = get_args(RtTechnique)
VISUAL_SCORES = ("1", "2", "3", "4")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, located by case, column and file."""

    message: str
    case_id: str = ""
    column: str = ""
    file: str = ""

    def __str__(self) -> str:
        where = [
            f"case {self.case_id}" if self.case_id else "",
            f"column {self.column}" if self.column else "",
            f"file {self.file}" if self.file else "",
        ]
        prefix = ", ".join(part for part in where if part)
        return f"{prefix}: {self.message}" if prefix else self.message


@dataclass(frozen=True)
class Case:
    """One lesion of the manifest: identity, file paths and numeric values."""

    case_id: str
    patient_id: str
    site: str = ""
    label: int | None = None
    label_source: str = ""
    tracer: str = ""
    primary: str = ""
    paths: dict[str, Path] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    clinical: dict[str, str] = field(default_factory=dict)

    def has(self, column: str) -> bool:
        """Whether the case has a file or a value in this column."""
        return column in self.paths or column in self.values

    def path(self, column: str) -> Path:
        """The absolute path in ``column``; ManifestError when the case has none."""
        if column not in self.paths:
            raise ManifestError(f"case {self.case_id}: column {column} is empty")
        return self.paths[column]


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest: its file, its table (as strings) and its cases."""

    path: Path
    table: pd.DataFrame
    cases: tuple[Case, ...]

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def root(self) -> Path:
        """The folder that relative paths are resolved against."""
        return self.path.parent


def read_manifest_table(path: Path | str) -> pd.DataFrame:
    """Read the manifest CSV as strings, empty cells as "" and column names stripped."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ManifestError(f"manifest {path} is not a readable CSV: {error}") from error
    table.columns = [str(column).strip() for column in table.columns]
    return table.apply(lambda column: column.str.strip())


def check_table(table: pd.DataFrame) -> list[Problem]:
    """Problems that can be seen in the table alone, without opening any file."""
    if "case_id" not in table.columns:
        return [Problem("required column case_id is missing", column="case_id")]
    problems = [
        Problem("case_id is empty", column="case_id", case_id=f"row {row + 2}")
        for row in range(len(table))
        if not table["case_id"].iat[row]
    ]
    duplicated = table["case_id"][table["case_id"].duplicated() & (table["case_id"] != "")]
    problems += [
        Problem("duplicate case_id", case_id=case_id, column="case_id")
        for case_id in sorted(set(duplicated))
    ]
    problems += _check_vocabulary(table, "label", LABELS)
    problems += _check_vocabulary(table, "tracer", TRACERS)
    problems += _check_vocabulary(table, "label_source", LABEL_SOURCES)
    problems += _check_vocabulary(table, "primary", PRIMARIES)
    problems += _check_vocabulary(table, "grade", GRADES)
    problems += _check_vocabulary(table, "rt_technique", RT_TECHNIQUES)
    problems += _check_vocabulary(table, "visual_score", VISUAL_SCORES)
    for column in NUMBER_COLUMNS:
        if column in table.columns:
            problems += [
                Problem(f"not a finite number: {value!r}", case_id=case_id, column=column)
                for case_id, value in zip(table["case_id"], table[column], strict=True)
                if value and not _is_finite_number(value)
            ]
    return problems


def _check_vocabulary(table: pd.DataFrame, column: str, allowed: Iterable[str]) -> list[Problem]:
    if column not in table.columns:
        return []
    normalise = str.lower if column != "tracer" else str.upper
    choices = ", ".join(sorted(allowed))
    return [
        Problem(
            f"unknown {column} {value!r} (expected one of {choices})",
            case_id=case_id,
            column=column,
        )
        for case_id, value in zip(table["case_id"], table[column], strict=True)
        if value and normalise(value) not in allowed
    ]


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def parse_labels(
    values: pd.Series, case_ids: pd.Series, source: str, column: str = "label"
) -> np.ndarray:
    """A label column of a table as 1.0 / 0.0 / NaN (empty).

    Accepts 1/recurrence and 0/radionecrosis (any case, numbers or text); ManifestError
    naming the source, the first bad case and the column otherwise.
    """
    words = values.map(lambda value: value.strip().lower() if isinstance(value, str) else value)
    named = words.map(lambda value: LABELS.get(value, value) if isinstance(value, str) else value)
    numbers = pd.to_numeric(named.replace("", np.nan), errors="coerce")
    bad = (numbers.notna() & ~numbers.isin([0, 1])) | (
        numbers.isna() & named.notna() & (named != "")
    )
    if bad.any():
        row = bad.idxmax()
        raise ManifestError(
            f"{source}: case {case_ids[row]!r}: column {column!r} must be "
            f"1/recurrence, 0/radionecrosis or empty, got {values[row]!r}"
        )
    return numbers.to_numpy(dtype=float)


def case_from_row(row: pd.Series, root: Path) -> Case:
    """Build a Case from one checked manifest row, resolving paths against ``root``."""

    def cell(column: str) -> str:
        return str(row.get(column, "") or "")

    label = cell("label").lower()
    return Case(
        case_id=cell("case_id"),
        patient_id=cell("patient_id") or cell("case_id"),
        site=cell("site"),
        label=LABELS[label] if label else None,
        label_source=cell("label_source").lower(),
        tracer=cell("tracer").upper(),
        primary=cell("primary").lower(),
        # absolute without following symbolic links: a sidecar lies beside the link (BIDS
        # datasets keep images as links into an annex), not beside its target
        paths={
            column: Path(os.path.abspath(root / cell(column)))
            for column in IMAGE_COLUMNS + MASK_COLUMNS
            if cell(column)
        },
        values={column: float(cell(column)) for column in NUMBER_COLUMNS if cell(column)},
        clinical={column: cell(column) for column in row.index if column not in MANIFEST_COLUMNS},
    )


def load_manifest(path: Path | str) -> Manifest:
    """Read and check a manifest; ManifestError lists every problem of the table."""
    path = Path(path).resolve()
    table = read_manifest_table(path)
    problems = check_table(table)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise ManifestError(f"manifest {path} has {len(problems)} problem(s):\n{listing}")
    cases = tuple(case_from_row(row, path.parent) for _, row in table.iterrows())
    return Manifest(path=path, table=table, cases=cases)
