"""The modelling data: load a feature table, name its feature groups, pick X, y, groups, sites.

Non-numeric columns other than the id, target, group and site columns (e.g. `tracer`,
`primary`) are not used as features: they are reported in `ModelData.excluded`. Encode a
categorical clinical variable numerically in the table if it should enter the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from radiomix.data.manifest import parse_labels
from radiomix.data.tables import read_feature_table
from radiomix.errors import ConfigError
from radiomix.modeling.config import ExperimentConfig, InputConfig
from radiomix.schema import TABLE_KEY_COLUMNS

IMAGE_TYPES = re.compile(
    r"^(original|wavelet-[HL]+|log-sigma-[\w.-]+|square|squareroot|logarithm|exponential"
    r"|gradient|lbp-[\w.-]+)$"
)
PYRADIOMICS_CLASSES = {"firstorder", "shape", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
# First-order statistics and shape of an unfiltered image: its histogram and the mask's form,
# i.e. the rule parameters (mean rCBV, mean ADC, SUVmax...) under another name, not texture.
FIRST_ORDER_CLASSES = {"firstorder", "shape", "shape2D"}
PREFIX_GROUPS = {"pet": "pet_", "fdg": "fdg_", "dyn": "dyn_", "mri": "mri_", "mrs": "mrs_"}


def pyradiomics_parts(name: str) -> tuple[str, str] | None:
    """(image type, feature class) of a `<image>_<filter>_<class>_<feature>` name, or None."""
    parts = name.split("_")
    if len(parts) < 4:
        return None
    if IMAGE_TYPES.match(parts[1]) or parts[2] in PYRADIOMICS_CLASSES:
        return parts[1], parts[2]
    return None


def feature_group(name: str) -> str:
    """The group of one feature column (see `feature_groups`)."""
    parts = pyradiomics_parts(name)
    if parts is not None:
        image_type, feature_class = parts
        plain = image_type == "original" and feature_class in FIRST_ORDER_CLASSES
        return "firstorder" if plain else "texture"
    return next((g for g, prefix in PREFIX_GROUPS.items() if name.startswith(prefix)), "clinical")


def feature_groups(columns: Iterable[str]) -> dict[str, list[str]]:
    """Split feature columns into groups: texture, firstorder, pet (static), fdg, dyn, mri,
    mrs, clinical.

    pyradiomics features (second name part an image type or third a feature class) are
    `texture`, except first-order statistics and shape of the unfiltered image, which are
    `firstorder`; then the standard prefixes; any other column is clinical.
    """
    groups: dict[str, list[str]] = {
        name: [] for name in ("texture", "firstorder", *PREFIX_GROUPS, "clinical")
    }
    for column in columns:
        groups[feature_group(column)].append(column)
    return groups


def extract_table(source: InputConfig, out_dir: Path) -> Path:
    """Run the feature extraction for a manifest input and return the parquet it wrote."""
    if source.manifest is None:
        raise ConfigError("feature extraction needs input.manifest")
    try:
        from radiomix.features import extract_features
    except ImportError as error:
        raise ConfigError(
            f"input.manifest {source.manifest} needs radiomix.features.extract_features, "
            "which is not available in this installation; give input.table instead"
        ) from error
    out = out_dir / "features.parquet"
    extract_features(source.manifest, out, source.extraction_config)
    return out


@dataclass
class ModelData:
    """Everything the nested CV needs, row-aligned."""

    table: pd.DataFrame
    features: list[str]
    y: np.ndarray
    ids: np.ndarray
    groups: np.ndarray
    sites: np.ndarray | None
    excluded: list[str] = field(default_factory=list)
    n_unlabelled: int = 0
    dropped: list[str] = field(default_factory=list)

    @cached_property
    def X(self) -> pd.DataFrame:
        """Features, plus a `site` column when sites are known."""
        X = pd.DataFrame(
            self.table[self.features].to_numpy(dtype=float),
            columns=self.features,
            index=self.table.index,
        )
        if self.sites is not None:
            X = X.assign(site=self.sites)
        return X


def _require(table: pd.DataFrame, column: str, key: str, path: Path) -> pd.Series:
    if column not in table.columns:
        raise ConfigError(f"column {column!r} ({key}) is not in feature table {path}")
    return table[column]


def _sites(table: pd.DataFrame, source: InputConfig, path: Path) -> np.ndarray | None:
    if source.site_pattern:
        ids = table[source.id_column].astype(str)
        sites = ids.str.extract(source.site_pattern, expand=False)
        if sites.isna().any():
            first = ids[sites.isna()].iloc[0]
            raise ConfigError(
                f"site_pattern {source.site_pattern!r} does not match id {first!r} in {path}"
            )
        return sites.to_numpy(dtype=object)
    if source.site_column and source.site_column in table.columns:
        return table[source.site_column].astype(str).to_numpy(dtype=object)
    return None


class BadData:
    """Problems of a feature table found before training: refused, or dropped on request."""

    def __init__(self, path: Path, drop: bool) -> None:
        self.path, self.drop = path, drop
        self.dropped: list[str] = []

    def found(self, problem: str) -> None:
        """Record a problem; ConfigError unless bad data is to be dropped."""
        if not self.drop:
            raise ConfigError(
                f"feature table {self.path}: {problem} (fix the table, or "
                "drop them with --drop-bad-data / input.drop_bad_data)"
            )
        self.dropped.append(problem)


def drop_duplicate_ids(table: pd.DataFrame, id_column: str, bad: BadData) -> pd.DataFrame:
    """The table without repeated ids (first row kept when dropping)."""
    repeated = table[id_column].astype(str).duplicated()
    if repeated.any():
        ids = sorted(set(table.loc[repeated, id_column].astype(str)))
        bad.found(
            f"{repeated.sum()} row(s) repeat the {id_column} of an earlier row: "
            f"{', '.join(ids[:20])}"
        )
    return table[~repeated]


def _non_numeric_cell(column: pd.Series, ids: pd.Series) -> str | None:
    """'case X holds 'v'' for the first cell that is text in a column of numbers."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    numbers = pd.to_numeric(column, errors="coerce")
    text = column.notna() & numbers.isna() & (column.astype(str).str.strip() != "")
    if not text.any() or (numbers.isna().all() and is_clinical(column.name)):
        return None  # a text column (e.g. primary) is not a feature
    row = text.idxmax()
    return f"case {ids[row]!r} holds {column[row]!r}"


def is_clinical(name: str) -> bool:
    """Whether a column falls in the clinical group (not texture, not a known prefix)."""
    return feature_group(name) == "clinical"


def numeric_columns(
    table: pd.DataFrame, candidates: list[str], ids: pd.Series, bad: BadData
) -> tuple[list[str], list[str]]:
    """Candidate columns holding numbers, and the text columns left out; a column of numbers
    with a text cell (``?``, ``n/a``) or an infinite value is bad data."""
    numeric, excluded = [], []
    for name in candidates:
        cell = _non_numeric_cell(table[name], ids)
        if cell is not None:
            bad.found(f"column {name!r} mixes numbers and text: {cell}")
        elif pd.api.types.is_bool_dtype(table[name]):
            numeric.append(name)
        elif pd.api.types.is_numeric_dtype(table[name]):
            infinite = np.isinf(table[name].to_numpy(dtype=float))
            if infinite.any():
                bad.found(
                    f"column {name!r} holds an infinite value: case {ids[np.argmax(infinite)]!r}"
                )
            else:
                numeric.append(name)
        else:
            excluded.append(name)
    return numeric, excluded


def other_tracers_windows(table: pd.DataFrame, table_path: Path) -> set[str]:
    """The windowed dynamic TBR columns of tracers none of whose cases has a dynamic series
    (no curve VOI). Each case fills only its own tracer's window (`features.pet_dynamic`), so
    these are empty by design, not bad data."""
    from radiomix.features.config import load_config
    from radiomix.features.engine import stored_config
    from radiomix.features.pet_dynamic import CURVE_VOI_ML, tbr_names, windowed_names

    if "tracer" not in table.columns or CURVE_VOI_ML not in table.columns:
        return set()
    extraction = stored_config(table_path) or load_config()
    dynamic = table.loc[table[CURVE_VOI_ML].notna(), "tracer"].dropna().astype(str)
    own = {name for tracer in dynamic.unique() for name in tbr_names(extraction, tracer).values()}
    return set(windowed_names(extraction)) - own


def select_features(
    table: pd.DataFrame,
    config: ExperimentConfig,
    reserved: set[str],
    bad: BadData,
    not_applicable: set[str],
) -> tuple[list[str], list[str]]:
    """Numeric feature columns of the configured groups, and the text ones left out; the
    `not_applicable` columns (other tracers' windows) are left out when they are empty."""
    unused = {c for c in not_applicable if c in table.columns and table[c].isna().all()}
    candidates = [
        c
        for c in table.columns
        if c not in reserved
        and c not in TABLE_KEY_COLUMNS
        and c not in config.features.exclude
        and c not in unused
    ]
    ids = table[config.input.id_column]
    numeric, excluded = numeric_columns(table, candidates, ids, bad)
    groups = feature_groups(numeric)
    wanted = groups.keys() if config.features.groups == "all" else config.features.groups
    chosen = [c for c in numeric if c in {c for g in wanted for c in groups[g]}]
    empty = [c for c in chosen if table[c].isna().all()]
    if empty:
        bad.found(
            f"{len(empty)} feature column(s) are empty in every labelled case: "
            f"{', '.join(empty[:20])}"
        )
    features = [c for c in chosen if c not in empty]
    if not features:
        raise ConfigError(f"experiment {config.name}: no numeric feature in groups {list(wanted)}")
    return features, excluded


def of_tracers(table: pd.DataFrame, tracers: list[str] | None, path: Path) -> pd.DataFrame:
    """The cases of `tracers` (case-insensitive), or all cases when `tracers` is None."""
    if tracers is None:
        return table
    if "tracer" not in table.columns:
        raise ConfigError(f"input.tracers is set but feature table {path} has no 'tracer' column")
    wanted = {tracer.upper() for tracer in tracers}
    kept = table[table["tracer"].astype("string").str.strip().str.upper().isin(wanted)]
    if kept.empty:
        raise ConfigError(f"no case of tracers {sorted(wanted)} in feature table {path}")
    return kept.reset_index(drop=True)


def load_model_data(config: ExperimentConfig, table_path: Path) -> ModelData:
    """Read the table and pick the labelled rows, features, groups and sites for `config`."""
    source = config.input
    bad = BadData(table_path, source.drop_bad_data)
    table = of_tracers(read_feature_table(table_path), source.tracers, table_path)
    _require(table, source.id_column, "input.id_column", table_path)
    table = drop_duplicate_ids(table, source.id_column, bad).reset_index(drop=True)
    _require(table, source.target_column, "input.target_column", table_path)
    labels = pd.Series(
        parse_labels(
            table[source.target_column],
            table[source.id_column],
            str(table_path),
            source.target_column,
        ),
        index=table.index,
    )
    labelled = table[labels.notna()].reset_index(drop=True)
    y = labels[labels.notna()].to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        raise ConfigError(f"feature table {table_path} needs labelled cases of both classes")
    ids = labelled[source.id_column].astype(str).to_numpy(dtype=object)
    if source.group_column:
        groups = _require(labelled, source.group_column, "input.group_column", table_path)
        groups = groups.astype(str).to_numpy(dtype=object)
    else:
        groups = ids
    reserved = {source.id_column, source.target_column, source.group_column, source.site_column}
    features, excluded = select_features(
        labelled,
        config,
        {c for c in reserved if c},
        bad,
        other_tracers_windows(labelled, table_path),
    )
    data = ModelData(
        table=labelled,
        features=features,
        y=y,
        ids=ids,
        groups=groups,
        sites=_sites(labelled, source, table_path),
        excluded=excluded,
        n_unlabelled=int(labels.isna().sum()),
        dropped=bad.dropped,
    )
    check_folds(data, config)
    return data


def check_folds(data: ModelData, config: ExperimentConfig) -> None:
    """ConfigError when a class has fewer patients than the outer K folds, or than the inner
    folds within an outer training side (K-fold; leave-one-site-out checks its own sites)."""
    if config.outer_cv.scheme != "kfold":
        return
    for label in (0, 1):
        n = len(np.unique(data.groups[data.y == label]))
        outer, inner = config.outer_cv.folds, config.inner_cv.folds
        n_inner = n - -(-n // outer)  # patients of the class left in the smallest training side
        if n < outer or n_inner < inner:
            raise ConfigError(
                f"experiment {config.name}: class {label} has {n} patient(s): too few for "
                f"outer_cv.folds {outer} and inner_cv.folds {inner} (each fold needs a "
                "patient of each class); lower the fold counts"
            )
