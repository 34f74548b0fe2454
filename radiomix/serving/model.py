"""A loaded radiomix model: input checks, probability, decision, novelty, SHAP contributions.

`load_model` accepts a folder written by `export_model` or any MLflow model URI
(`models:/NAME/1`, `runs:/...`, downloaded to a temporary folder removed after loading). It
verifies the checksum of every file (and the signature under $RADIOMIX_MODEL_KEY when set)
and the radiomix version before it reads the pipeline, which is a skops file of trusted
types only: nothing in the folder is executed.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from radiomix import __version__
from radiomix.errors import ModelError
from radiomix.modeling.data import feature_group, pyradiomics_parts
from radiomix.schema import EXTRACTION_ERRORS, IDENTITY_COLUMNS
from radiomix.serving import MAX_MISSING
from radiomix.serving.checksums import verify_checksums
from radiomix.serving.novelty import NoveltyDetector
from radiomix.serving.safe_format import PIPELINE_FILE, load_pipeline

if TYPE_CHECKING:
    import shap
    from sklearn.pipeline import Pipeline

SITE = "site"
ARTIFACT_KEY = "radiomix"
MODEL_JSON = "radiomix_model.json"


def major_minor(version: str) -> str:
    """`'0.1'` for `'0.1.3'`."""
    return ".".join(version.split(".")[:2])


def check_version(saved: str, folder: Path) -> None:
    """ModelError when the model was saved by a radiomix of another major.minor version."""
    if major_minor(saved) != major_minor(__version__):
        raise ModelError(
            f"model {folder} was saved by radiomix {saved}, which is not "
            f"compatible with this radiomix {__version__} (major.minor must "
            "match); re-export it from its run with this version"
        )


def warn_library_versions(saved: dict[str, str], folder: Path) -> None:
    """Warn when the pipeline was saved with another scikit-learn or XGBoost version."""
    from importlib.metadata import PackageNotFoundError, version

    for name in ("scikit-learn", "xgboost", "xgboost-cpu"):
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if name in saved and saved[name] != installed:
            warnings.warn(
                f"model {folder} was saved with {name} {saved[name]}, this is "
                f"{installed}; predictions may differ",
                UserWarning,
                stacklevel=3,
            )


def artifact_folder(root: Path) -> Path:
    """The folder of radiomix files inside an exported MLflow model folder."""
    return root / "artifacts" / ARTIFACT_KEY


@dataclass
class RadiomixModel:
    """The fitted pipeline with everything needed to score a new case."""

    pipeline: Pipeline
    info: dict
    novelty: NoveltyDetector
    folder: Path
    card: dict = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: Path) -> RadiomixModel:
        """Read the radiomix files of an export (checksums must have been verified)."""
        info = json.loads((folder / MODEL_JSON).read_text())
        check_version(info["radiomix_version"], folder)
        warn_library_versions(info.get("versions", {}), folder)
        return cls(
            pipeline=load_pipeline(folder / PIPELINE_FILE),
            info=info,
            novelty=NoveltyDetector.load(folder),
            folder=folder,
            card=json.loads((folder / "model_card.json").read_text()),
        )

    @property
    def background(self) -> pd.DataFrame:
        """SHAP reference: the mean training row after every step but the model (one row,
        no training case)."""
        return pd.DataFrame([self.info["shap_reference"]])

    @property
    def training_sites(self) -> set[str]:
        """Sites of the training cases."""
        return set(self.info.get("training_sites", []))

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
            raise ModelError(f"input has column(s) {unused} that model {self.folder} does not use")
        checked = frame[self.feature_columns].copy()
        for name in checked.columns:
            if not _plain_number(checked[name]):
                checked[name] = _numeric(checked[name], name)
        checked = checked.astype(float)
        _check_finite(checked)
        if SITE in self.input_columns:
            checked[SITE] = frame[SITE].astype(str)
        return checked[self.input_columns]

    def score(
        self,
        frame: pd.DataFrame,
        strict: bool = False,
        top: int = 0,
        max_missing: float = MAX_MISSING,
    ) -> pd.DataFrame:
        """Probability of recurrence, decision at the stored threshold, novelty, range report,
        the inputs that were missing (imputed) and the modalities missing entirely, and with
        `top > 0` the `top` features of largest |SHAP| among the inputs the case has.

        A case missing more than `max_missing` of the model's inputs gets no probability nor
        decision: `refused` says why. With `strict`, unused columns and values beyond the
        training range raise ModelError instead of being ignored and reported in
        `out_of_range`.
        """
        X = self.check_input(frame, strict)
        outside = self._outside(X)
        if strict and any(outside):
            row = next(i for i, items in enumerate(outside) if items)
            raise ModelError(
                f"input row {frame.index[row]!r} is out of range: {'; '.join(outside[row])}"
            )
        missing = X[self.feature_columns].isna()
        refused = missing.mean(axis=1) > max_missing
        selected = self._select(X)
        probability = pd.Series(
            self.pipeline[-1].predict_proba(selected)[:, 1], index=frame.index
        ).mask(refused)
        novelty = self.novelty.score(X)
        scores = pd.DataFrame(
            {
                "probability": probability,
                "decision": (probability >= self.threshold).astype("Int64").mask(refused),
                "refused": [
                    f"{n} of {missing.shape[1]} inputs missing (more than {max_missing:.0%})"
                    if flag
                    else ""
                    for n, flag in zip(missing.sum(axis=1), refused, strict=True)
                ],
                "novelty_score": novelty,
                "novel": self.novelty.novel(X, novelty),
                "out_of_range": ["; ".join(items) for items in outside],
                "missing_modalities": _missing_modalities(missing),
                "imputed": ["; ".join(missing.columns[row]) for row in missing.to_numpy()],
            },
            index=frame.index,
        )
        if top > 0:
            explanation = self._explain(selected)
            scores["top_features"] = _top_features(explanation, top, missing)
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
            for items, site in zip(outside, X[SITE], strict=True):
                if site not in self.training_sites:
                    items.append(f"site={site!r} not seen in training (no harmonisation)")
        return outside

    @cached_property
    def _explainer(self) -> tuple[shap.Explainer, bool]:
        """A SHAP explainer of the final model on the selected features against the mean
        training row, and whether its values are exact (see
        `radiomix.modeling.explain.shap_explainer`)."""
        from radiomix.modeling.explain import shap_explainer

        return shap_explainer(self.pipeline, self.info["model"], self.background, seed=0)

    def shap_values(self, frame: pd.DataFrame) -> shap.Explanation:
        """A `shap.Explanation` of the positive class on the features the pipeline selected.

        Units are the model's output: log-odds for logistic regression and XGBoost,
        probability for random forest and SVM.
        """
        return self._explain(self._select(self.check_input(frame)))

    def _explain(self, selected: pd.DataFrame) -> shap.Explanation:
        import shap

        explainer, exact = self._explainer
        kwargs = {} if exact else {"max_evals": 2 * selected.shape[1] + 1, "silent": True}
        explanation = explainer(selected, **kwargs)
        values, base = np.asarray(explanation.values), np.asarray(explanation.base_values)
        if values.ndim == 3:
            values, base = values[..., 1], base[..., 1]
        return shap.Explanation(
            values=values,
            base_values=base,
            data=selected.to_numpy(),
            feature_names=list(selected.columns),
        )


def shap_reference(pipeline: Pipeline, training: pd.DataFrame) -> dict[str, float]:
    """The mean training row after every pipeline step but the model: the SHAP background
    an exported model keeps instead of the training rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pipeline[:-1].transform(training).mean().to_dict()


def _top_features(explanation: shap.Explanation, top: int, missing: pd.DataFrame) -> list[str]:
    """Per row, the `top` features of largest |SHAP| as `name=+value` joined by `; `, leaving
    out the features the case does not have (their value is the imputed training median)."""
    names = explanation.feature_names
    rows = []
    for values, absent in zip(explanation.values, missing.to_numpy(), strict=True):
        imputed = set(missing.columns[absent])
        order = [j for j in np.argsort(-np.abs(values)) if names[j] not in imputed]
        rows.append("; ".join(f"{names[j]}={values[j]:+.4g}" for j in order[:top]))
    return rows


def modality(feature: str) -> str:
    """The input a feature comes from: the image of a texture feature (`t1c`, `pet`, ...),
    else its group (`pet`, `dyn`, `fdg`, `mri`, `mrs`, `clinical`)."""
    if pyradiomics_parts(feature) is not None:
        return feature.split("_")[0]
    return feature_group(feature)


def _missing_modalities(missing: pd.DataFrame) -> list[str]:
    """Per row, the modalities of which every model input is missing."""
    by_modality = missing.T.groupby([modality(c) for c in missing.columns]).all().T
    return ["; ".join(by_modality.columns[row]) for row in by_modality.to_numpy()]


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
        raise ModelError(
            f"column {name!r} holds {column[text].iloc[0]!r} at row "
            f"{column.index[text][0]!r}; a number is expected"
        )
    return values


def _check_finite(table: pd.DataFrame) -> None:
    """ModelError naming the first column and row holding an infinite value."""
    infinite = np.isinf(table.to_numpy())
    if infinite.any():
        row, column = np.argwhere(infinite)[0]
        raise ModelError(
            f"column {table.columns[column]!r} holds {table.iat[row, column]} at "
            f"row {table.index[row]!r}; a finite number or empty is expected"
        )


def download_model(path_or_uri: str | Path, tracking_uri: str | None, folder: Path) -> Path:
    """The MLflow model URI downloaded into `folder` from the tracking and registry store
    `tracking_uri` (default as for `radiomix train`)."""
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
        return Path(
            mlflow.artifacts.download_artifacts(text, tracking_uri=uri, dst_path=str(folder))
        )
    except MlflowException as error:
        raise ModelError(f"cannot fetch model {path_or_uri} from {uri}: {error.message}") from error


def _registry_source(model_uri: str, uri: str) -> str:
    """Where the registry version `models:/NAME/VERSION` or `models:/NAME@ALIAS` of the
    registry at `uri` keeps its files (MLflow would look in the default registry)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    spec = model_uri[len("models:/") :]
    if "@" in spec:
        name, alias = spec.split("@", 1)
        version = client.get_model_version_by_alias(name, alias).version
    else:
        name, _, version = spec.rpartition("/")
    return client.get_model_version_download_uri(name, version)


def load_model(path_or_uri: str | Path, tracking_uri: str | None = None) -> RadiomixModel:
    """Load an exported model after verifying its checksums and radiomix version."""
    if Path(path_or_uri).is_dir():
        return _load_folder(Path(path_or_uri))
    with tempfile.TemporaryDirectory(prefix="radiomix-model-") as folder:
        return _load_folder(download_model(path_or_uri, tracking_uri, Path(folder)))


def _load_folder(root: Path) -> RadiomixModel:
    """Verify the checksums (and signature) of a model folder, then read it."""
    verify_checksums(root)
    folder = artifact_folder(root)
    if not (folder / MODEL_JSON).is_file():
        raise ModelError(f"{root} is not a radiomix model (no {MODEL_JSON})")
    return RadiomixModel.from_folder(folder)
