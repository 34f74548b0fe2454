"""Experiment files: the pydantic schema of `experiments/*.yaml` and its loader.

Relative paths in an experiment file are resolved against the file's own folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from radiomix.errors import ConfigError
from radiomix.modeling.zoo import (
    SELECTORS,
    ZOO,
    Balancing,
    Calibration,
    ParamSpec,
    check_bounds,
)
from radiomix.yaml_io import load_yaml_model

MODEL_NAMES = tuple(ZOO)
FeatureGroup = Literal["texture", "firstorder", "pet", "fdg", "dyn", "mri", "mrs", "clinical"]
GROUP_NAMES: tuple[FeatureGroup, ...] = get_args(FeatureGroup)


def _one_of(allowed: tuple[str, ...]) -> AfterValidator:
    """A pydantic check that a string is one of ``allowed`` (names kept as the keys of a
    table, so not spelled out as a ``Literal``)."""

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"Input should be one of {', '.join(map(repr, allowed))}")
        return value

    return AfterValidator(check)


ModelName = Annotated[str, _one_of(MODEL_NAMES)]
SelectorName = Annotated[str, _one_of(tuple(SELECTORS))]
MAX_SEED = 2**31 - 1 - 1_000_000
"""Seeds of folds add up to 1000 * repeat + fold to the experiment's; NumPy takes < 2**32."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    """Where the feature table comes from and which columns carry id, target, group, site."""

    table: Path | None = None
    manifest: Path | None = None
    extraction_config: Path | None = None
    id_column: str = "case_id"
    target_column: str = "label"
    group_column: str | None = "patient_id"
    site_column: str | None = "site"
    site_pattern: str | None = Field(
        None, description="regular expression whose first group, applied to the id, is the site"
    )
    tracers: list[str] | None = Field(
        None, description="keep only cases of these tracers (a per-tracer model)"
    )
    drop_bad_data: bool = Field(
        False,
        description="drop repeated ids, text-in-number columns and empty columns "
        "(listed) instead of refusing the table",
    )

    @field_validator("site_pattern")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        try:
            groups = re.compile(pattern).groups
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from None
        if groups < 1:
            raise ValueError("the site_pattern needs a group, e.g. '^([A-Z]+)-'")
        return pattern

    @model_validator(mode="after")
    def _one_source(self) -> InputConfig:
        if (self.table is None) == (self.manifest is None):
            raise ValueError("give exactly one of input.table or input.manifest")
        if self.manifest is not None and self.extraction_config is None:
            raise ValueError("input.manifest needs input.extraction_config")
        return self


class FeatureConfig(_Strict):
    """Feature groups to use (see `radiomix.modeling.features.feature_groups`)."""

    groups: list[FeatureGroup] | Literal["all"] = "all"
    exclude: list[str] = []


class PreprocessingConfig(_Strict):
    """Steps before feature selection; all are fitted inside each training fold."""

    combat: bool = True
    near_constant_fraction: float = Field(0.95, gt=0.5, le=1.0)
    correlation_threshold: float = Field(0.95, gt=0.0, le=1.0)


class ModelConfig(_Strict):
    """A model in the search; `params` override its default search space entry by entry."""

    name: ModelName
    params: dict[str, ParamSpec] = {}

    @model_validator(mode="after")
    def _known_params(self) -> ModelConfig:
        unknown = sorted(set(self.params) - set(ZOO[self.name].space))
        if unknown:
            raise ValueError(
                f"model {self.name} has no hyper-parameter {unknown}; "
                f"searched ones: {sorted(ZOO[self.name].space)}"
            )
        check_bounds(self.name, self.params)
        return self


class SearchConfig(_Strict):
    """The optuna search run inside each outer training fold.

    Besides model and hyper-parameters, each trial draws a feature selector of `selectors`,
    its number of features from `k_features`, and a class balancing of `balancing`. With
    pruning, a median pruner stops unpromising trials only once `min_complete_trials` trials
    have completed (default: half of `n_trials`, rounded up), so at least that many complete
    per fold (unless `timeout_s` ends the search first). `ensemble` > 1 soft-votes the best
    trials of that many model families (when fewer families completed a trial in a fold,
    the vote holds those that did; with one, the single best model is used).
    """

    n_trials: int = Field(30, ge=1)
    timeout_s: float | None = Field(None, gt=0)
    k_features: ParamSpec = ParamSpec(type="int", low=2, high=30, log=True)
    selectors: list[SelectorName] = Field(["anova"], min_length=1)
    balancing: list[Balancing] = Field(["none", "weight"], min_length=1)
    storage: str | None = Field(None, description="optuna RDB URL shared by several machines")
    pruning: bool = True
    min_complete_trials: int | None = Field(None, ge=1)
    ensemble: int = Field(
        0,
        ge=0,
        description="soft-vote the best trials of this many model families (0: no ensemble)",
    )

    @model_validator(mode="after")
    def _enough_trials(self) -> SearchConfig:
        if self.min_complete_trials is not None and not self.pruning:
            raise ValueError(
                "min_complete_trials applies to pruning only: drop it or set pruning: true"
            )
        if self.min_complete_trials is not None and self.min_complete_trials > self.n_trials:
            raise ValueError(
                f"min_complete_trials ({self.min_complete_trials}) exceeds "
                f"n_trials ({self.n_trials})"
            )
        if self.ensemble == 1:
            raise ValueError("an ensemble needs at least 2 model families (0 turns it off)")
        return self

    @property
    def min_complete(self) -> int:
        """Trials that complete before the pruner may stop any."""
        return self.min_complete_trials or -(-self.n_trials // 2)

    @field_validator("k_features")
    @classmethod
    def _k_at_least_one(cls, spec: ParamSpec) -> ParamSpec:
        if spec.type == "float":
            raise ValueError("k_features must be of type int or categorical")
        values = spec.options if spec.type == "categorical" else [int(spec.range[0])]
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
            raise ValueError("k_features must be whole numbers >= 1")
        return spec

    @field_validator("storage")
    @classmethod
    def _storage_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(url)
        except ArgumentError as error:
            raise ValueError(f"not a database URL (e.g. sqlite:///optuna.db): {error}") from None
        return url


class CVConfig(_Strict):
    """Stratified, patient-grouped K-fold, repeated with a fresh shuffle per repeat; or, for
    the outer CV only, leave-one-site-out (one fold per site, no repeats).

    Inner repeats average the trial's AUC over every inner fold of every repeat; the
    calibration step uses the folds of the first inner repeat.
    """

    scheme: Literal["kfold", "leave_one_site_out"] = "kfold"
    folds: int = Field(5, ge=2)
    repeats: int = Field(1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"scheme": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _no_repeated_sites(self) -> CVConfig:
        if self.scheme == "leave_one_site_out" and self.repeats != 1:
            raise ValueError("leave_one_site_out has exactly one repeat")
        return self


class ExperimentConfig(_Strict):
    """A whole experiment: input, features, preprocessing, models, search, CV, rules, seed."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(0, ge=0, le=MAX_SEED)
    input: InputConfig
    features: FeatureConfig = FeatureConfig()
    preprocessing: PreprocessingConfig = PreprocessingConfig()
    models: list[ModelConfig] = Field(min_length=1)
    search: SearchConfig = SearchConfig()
    outer_cv: CVConfig = CVConfig(folds=5, repeats=2)
    inner_cv: CVConfig = CVConfig(folds=3, repeats=1)
    rules: list[str] | Literal["all"] = []
    rules_path: Path | None = None
    calibration: Calibration = Field(
        "sigmoid", description="recalibration of the chosen model inside the training fold"
    )
    compare_feature_groups: list[FeatureGroup] = Field(
        [],
        description="also cross-validate a model on each of these groups alone, on the "
        "same folds, and compare it with the full model",
    )
    n_jobs: int = Field(1, ge=1, description="outer folds searched in parallel processes")

    @model_validator(mode="after")
    def _outer_only(self) -> ExperimentConfig:
        if self.inner_cv.scheme != "kfold":
            raise ValueError("inner_cv supports only the kfold scheme")
        return self

    @model_validator(mode="after")
    def _ensemble_families(self) -> ExperimentConfig:
        if self.search.ensemble > len(self.models):
            raise ValueError(
                f"search.ensemble ({self.search.ensemble}) exceeds the number of "
                f"models ({len(self.models)})"
            )
        return self

    def resolve_paths(self, root: Path) -> ExperimentConfig:
        """A copy with every relative path made absolute against `root`."""

        def absolute(path: Path | None) -> Path | None:
            return None if path is None or path.is_absolute() else (root / path).resolve()

        updates = {
            key: absolute(getattr(self.input, key)) or getattr(self.input, key)
            for key in ("table", "manifest", "extraction_config")
        }
        rules_path = absolute(self.rules_path) or self.rules_path
        return self.model_copy(
            update={"input": self.input.model_copy(update=updates), "rules_path": rules_path}
        )


def check_storage(url: str | None) -> None:
    """ConfigError when the optuna storage cannot be opened (driver, host, file)."""
    if url is None:
        return
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(url).connect():
            pass
    except Exception as error:  # drivers raise their own types for a bad host or file
        raise ConfigError(
            f"search.storage {url} cannot be opened: {str(error).splitlines()[0]}"
        ) from error


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML; relative paths resolve against its folder."""
    path = Path(path)
    config = load_yaml_model(ExperimentConfig, path, "experiment file")
    return config.resolve_paths(path.resolve().parent)
