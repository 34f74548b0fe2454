"""Score new cases with an exported model, from a feature table or a manifest of images.

A manifest (a CSV with a `lesion_mask` column) is first turned into a feature table with the
extraction configuration stored in the model. Unlabelled cases are normal input.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd

from radiomix.data.tables import read_feature_table
from radiomix.errors import ModelError
from radiomix.schema import EXTRACTION_ERRORS, IDENTITY_COLUMNS
from radiomix.serving import MAX_MISSING
from radiomix.serving.model import RadiomixModel, load_model

TOP_FEATURES = 3
LOG = logging.getLogger(__name__)


def is_manifest(path: Path) -> bool:
    """True for a data manifest (CSV with a `lesion_mask` column), False for a feature table."""
    if path.suffix != ".csv":
        return False
    try:
        return "lesion_mask" in pd.read_csv(path, nrows=0).columns
    except (ValueError, UnicodeDecodeError) as error:  # pandas' empty and parser errors too
        raise ModelError(f"input {path} is not a readable CSV table: {error}") from error


def features_from_manifest(model: RadiomixModel, manifest: Path) -> pd.DataFrame:
    """Extract a manifest's cases with the model's extraction configuration; the column
    `extraction_errors` lists the failures of each case (its features are then NaN)."""
    if model.extraction_config is None:
        raise ModelError(
            f"model {model.folder} stores no extraction configuration (it was "
            f"trained on a table of unknown origin); give a feature table instead "
            f"of manifest {manifest}"
        )
    from pydantic import ValidationError

    from radiomix.features import ExtractionConfig, extract_features

    try:
        config = ExtractionConfig.model_validate(model.extraction_config)
    except ValidationError as error:
        raise ModelError(
            f"model {model.folder}: its extraction configuration is not valid "
            f"for this radiomix:\n{error}"
        ) from error
    with tempfile.TemporaryDirectory() as folder:
        result = extract_features(manifest, Path(folder) / "features.parquet", config, workers=1)
    failures = result.errors[result.errors["kind"] == "error"]
    messages = failures.groupby("case_id")["message"].agg("; ".join)
    table = result.table.reset_index(drop=True)
    return table.assign(**{EXTRACTION_ERRORS: table["case_id"].map(messages).fillna("")})


def read_input(model: RadiomixModel, source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The feature table of `source`: a DataFrame, a parquet/CSV table, or a manifest."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.is_file():
        raise ModelError(f"input {path} does not exist")
    table = features_from_manifest(model, path) if is_manifest(path) else read_feature_table(path)
    if table.empty:
        raise ModelError(f"input {path} holds no case")
    return table


def _refuse_failed(scores: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """No decision for a case whose extraction failed: its inputs are broken, not absent."""
    if "extraction_errors" not in table:
        return scores
    failed = table["extraction_errors"] != ""
    scores.loc[failed, ["probability", "decision"]] = pd.NA
    scores.loc[failed, "refused"] = "extraction failed (see extraction_errors)"
    return scores


def predict(
    model: RadiomixModel | str | Path,
    source: str | Path | pd.DataFrame,
    top: int = TOP_FEATURES,
    strict: bool = False,
    tracking_uri: str | None = None,
    max_missing: float = MAX_MISSING,
) -> pd.DataFrame:
    """Per case: ids, probability, decision (none when more than `max_missing` of the inputs
    are missing: `refused`), novelty score and flag, out-of-range columns, imputed inputs,
    missing modalities and the `top` features of largest SHAP contribution. A model given by
    MLflow URI is fetched from `tracking_uri`."""
    model = model if isinstance(model, RadiomixModel) else load_model(model, tracking_uri)
    table = read_input(model, source).reset_index(drop=True)
    unused = model.unused_columns(table)
    if unused and not strict:
        LOG.warning("columns not used by the model (ignored): %s", ", ".join(unused))
    scores = _refuse_failed(
        model.score(table, strict=strict, top=top, max_missing=max_missing), table
    )
    ids = table[[c for c in IDENTITY_COLUMNS if c in table.columns]]
    reports = table[[c for c in (EXTRACTION_ERRORS,) if c in table.columns]]
    return pd.concat([ids, scores, reports], axis=1)
