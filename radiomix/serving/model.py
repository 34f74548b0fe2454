"""A loaded radiomix model: input checks, probability, decision, novelty, SHAP contributions.

`load_model` accepts a folder written by `export_model` or any MLflow model URI
(`models:/NAME/1`, `runs:/...`). It verifies the checksum of every file and the radiomix
version the model was saved with *before* un-pickling the pipeline, because loading a pickle
runs code: load only models from a trusted source.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from radiomix import __version__
from radiomix.errors import ModelError
from radiomix.schema import EXTRACTION_ERRORS, IDENTITY_COLUMNS
from radiomix.serving.checksums import verify_checksums
from radiomix.serving.novelty import NoveltyDetector

SITE = "site"
ARTIFACT_KEY = "radiomix"
MODEL_JSON = "radiomix_model.json"
BACKGROUND_ROWS = 40


def major_minor(version: str) -> str:
    """`'0.1'` for `'0.1.3'`."""
    return ".".join(version.split(".")[:2])


def check_version(saved: str, folder: Path) -> None:
    """ModelError when the model was saved by a radiomix of another major.minor version."""
    if major_minor(saved) != major_minor(__version__):
        raise ModelError(f"model {folder} was saved by radiomix {saved}, which is not "
                         f"compatible with this radiomix {__version__} (major.minor must "
                         "match); re-export it from its run with this version")


def warn_library_versions(saved: dict[str, str], folder: Path) -> None:
    """Warn when the pipeline was pickled with another scikit-learn or XGBoost version."""
    from importlib.metadata import PackageNotFoundError, version

    for name in ("scikit-learn", "xgboost", "xgboost-cpu"):
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if name in saved and saved[name] != installed:
            warnings.warn(f"model {folder} was saved with {name} {saved[name]}, this is "
                          f"{installed}; predictions may differ", UserWarning, stacklevel=3)


def artifact_folder(root: Path) -> Path:
    """The folder of radiomix files inside an exported MLflow model folder."""
    return root / "artifacts" / ARTIFACT_KEY


@dataclass
class RadiomixModel:
    """The fitted pipeline with everything needed to score a new case."""

    pipeline: object
    info: dict
    novelty: NoveltyDetector
    background: pd.DataFrame
    folder: Path
    card: dict = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: Path) -> RadiomixModel:
        """Read the radiomix files of an export (checksums must have been verified)."""
        import joblib

        info = json.loads((folder / MODEL_JSON).read_text())
        check_version(info["radiomix_version"], folder)
        warn_library_versions(info.get("versions", {}), folder)
        return cls(pipeline=joblib.load(folder / "pipeline.joblib"), info=info,
                   novelty=NoveltyDetector.load(folder),
                   background=pd.read_parquet(folder / "training_features.parquet"),
                   folder=folder, card=json.loads((folder / "model_card.json").read_text()))

    @property
    def input_columns(self) -> list[str]:
        """The pipeline's input columns, in order (features, then `site` when harmonised)."""
        return list(self.info["input_columns"])

    @property
    def feature_columns(self) -> list[str]:
        """The numeric input columns."""
        return [c for c in self.input_columns if c != SITE]

    @property
    def threshold(self) -> float:
        """Decision threshold on the probability of recurrence."""
        return float(self.info["threshold"])

    @property
    def extraction_config(self) -> dict | None:
        """The extraction configuration the training table was made with, if known."""
        return self.info.get("extraction_config")

    def unused_columns(self, frame: pd.DataFrame) -> list[str]:
        """Columns of `frame` holding values that are neither model inputs nor identities."""
        known = {*self.input_columns, *IDENTITY_COLUMNS, EXTRACTION_ERRORS}
        return [c for c in frame.columns if c not in known and frame[c].notna().any()]

    def check_input(self, frame: pd.DataFrame, strict: bool = False) -> pd.DataFrame:
        """The input columns of `frame`, in order, numeric; ModelError naming a bad column.

        With `strict`, a column that is neither an input nor an identity column is an error.
        """
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise ModelError(f"input lacks column(s) {missing} needed by model {self.folder}")
        unused = self.unused_columns(frame)
        if strict and unused:
            raise ModelError(f"input has column(s) {unused} that model {self.folder} does not "
                             "use")
        checked = frame[self.feature_columns].copy()
        for name in checked.columns:
            if not _plain_number(checked[name]):
                checked[name] = _numeric(checked[name], name)
        checked = checked.astype(float)
        _check_finite(checked)
        if SITE in self.input_columns:
            checked[SITE] = frame[SITE].astype(str)
        return checked[self.input_columns]

    def score(self, frame: pd.DataFrame, strict: bool = False, top: int = 0) -> pd.DataFrame:
        """Probability of recurrence, decision at the stored threshold, novelty, range report,
        and with `top > 0` the `top` features of largest |SHAP| (`top_features`).

        With `strict`, unused columns and values beyond the training range raise ModelError
        instead of being ignored and reported in `out_of_range`.
        """
        X = self.check_input(frame, strict)
        outside = self._outside(X)
        if strict and any(outside):
            row = next(i for i, items in enumerate(outside) if items)
            raise ModelError(f"input row {frame.index[row]!r} is out of range: "
                             f"{'; '.join(outside[row])}")
        selected = self._select(X)
        probability = self.pipeline[-1].predict_proba(selected)[:, 1]
        novelty = self.novelty.score(X)
        scores = pd.DataFrame({
            "probability": probability,
            "decision": (probability >= self.threshold).astype(int),
            "novelty_score": novelty,
            "novel": novelty > self.novelty.threshold,
            "out_of_range": ["; ".join(items) for items in outside],
        }, index=frame.index)
        if top > 0:
            scores["top_features"] = _top_features(self._explain(selected), top)
        return scores

    def _select(self, X: pd.DataFrame) -> pd.DataFrame:
        """The checked input through every pipeline step but the model."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # unseen sites are reported
            return self.pipeline[:-1].transform(X)

    def _outside(self, X: pd.DataFrame) -> list[list[str]]:
        """Per row: values beyond the training range, and a site never seen in training."""
        outside = self.novelty.out_of_range(X)
        if SITE in X.columns:
            known = set(self.background[SITE].astype(str))
            for items, site in zip(outside, X[SITE], strict=True):
                if site not in known:
                    items.append(f"site={site!r} not seen in training (no harmonisation)")
        return outside

    @cached_property
    def _explainer(self):
        """A SHAP explainer of the final model on the selected features, training background,
        and whether its values are exact (see `radiomix.modeling.explain.shap_explainer`)."""
        from radiomix.modeling.explain import shap_explainer

        background = self._select(self.background[self.input_columns])
        return shap_explainer(self.pipeline, self.info["model"], background, seed=0)

    def shap_values(self, frame: pd.DataFrame):
        """A `shap.Explanation` of the positive class on the features the pipeline selected.

        Units are the model's output: log-odds for logistic regression and XGBoost,
        probability for random forest and SVM.
        """
        return self._explain(self._select(self.check_input(frame)))

    def _explain(self, selected: pd.DataFrame):
        import shap

        explainer, exact = self._explainer
        kwargs = {} if exact else {"max_evals": 2 * selected.shape[1] + 1, "silent": True}
        explanation = explainer(selected, **kwargs)
        values, base = np.asarray(explanation.values), np.asarray(explanation.base_values)
        if values.ndim == 3:
            values, base = values[..., 1], base[..., 1]
        return shap.Explanation(values=values, base_values=base, data=selected.to_numpy(),
                                feature_names=list(selected.columns))


def _top_features(explanation, top: int) -> list[str]:
    """Per row, the `top` features of largest |SHAP| as `name=+value` joined by `; `."""
    names = explanation.feature_names
    return ["; ".join(f"{names[j]}={row[j]:+.4g}" for j in np.argsort(-np.abs(row))[:top])
            for row in explanation.values]


def _plain_number(column: pd.Series) -> bool:
    """True for an integer or float column (not boolean)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _numeric(column: pd.Series, name: str) -> pd.Series:
    """A text column as floats; ModelError naming the column for other types or text."""
    if not (column.dtype == object or pd.api.types.is_string_dtype(column)):
        raise ModelError(f"column {name!r} has type {column.dtype}; a number is expected")
    values = pd.to_numeric(column, errors="coerce").astype(float)
    text = column.notna() & values.isna()
    if text.any():
        raise ModelError(f"column {name!r} holds {column[text].iloc[0]!r} at row "
                         f"{column.index[text][0]!r}; a number is expected")
    return values


def _check_finite(table: pd.DataFrame) -> None:
    """ModelError naming the first column and row holding an infinite value."""
    infinite = np.isinf(table.to_numpy())
    if infinite.any():
        row, column = np.argwhere(infinite)[0]
        raise ModelError(f"column {table.columns[column]!r} holds {table.iat[row, column]} at "
                         f"row {table.index[row]!r}; a finite number or empty is expected")


def local_model_folder(path_or_uri: str | Path, tracking_uri: str | None = None) -> Path:
    """A local folder holding the model: the path itself, or an MLflow URI downloaded from
    the tracking and registry store `tracking_uri` (default as for `radiomix train`)."""
    path = Path(path_or_uri)
    if path.is_dir():
        return path
    text = str(path_or_uri)
    if "://" not in text and not text.startswith(("models:/", "runs:/")):
        raise ModelError(f"model {text} is neither a folder nor an MLflow model URI")
    import mlflow
    from mlflow.exceptions import MlflowException

    from radiomix.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    try:
        if text.startswith("models:/"):
            text = _registry_source(text, uri)
        return Path(mlflow.artifacts.download_artifacts(text, tracking_uri=uri))
    except MlflowException as error:
        raise ModelError(f"cannot fetch model {path_or_uri} from {uri}: {error.message}"
                         ) from error


def _registry_source(model_uri: str, uri: str) -> str:
    """Where the registry version `models:/NAME/VERSION` or `models:/NAME@ALIAS` of the
    registry at `uri` keeps its files (MLflow would look in the default registry)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    spec = model_uri[len("models:/"):]
    if "@" in spec:
        name, alias = spec.split("@", 1)
        version = client.get_model_version_by_alias(name, alias).version
    else:
        name, _, version = spec.rpartition("/")
    return client.get_model_version_download_uri(name, version)


def load_model(path_or_uri: str | Path, tracking_uri: str | None = None) -> RadiomixModel:
    """Load an exported model after verifying its checksums and radiomix version."""
    root = local_model_folder(path_or_uri, tracking_uri)
    verify_checksums(root)
    folder = artifact_folder(root)
    if not (folder / MODEL_JSON).is_file():
        raise ModelError(f"{root} is not a radiomix model (no {MODEL_JSON})")
    return RadiomixModel.from_folder(folder)
