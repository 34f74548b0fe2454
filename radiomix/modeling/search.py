"""Optuna search of model, selector, balancing and hyper-parameters by grouped inner CV.

The hyper-parameter-free preprocessing (imputation, ComBat, scaling, redundancy filter) is
fitted once per inner training split and reused by every trial; each trial fits only the
trial-dependent steps of `build_pipeline` (selection and model). This is the same
computation as refitting the whole pipeline per trial, and nothing of an inner test split is
seen by what is fitted on its training split. Trials are ranked by mean inner AUC; the
recalibration is fitted afterwards, on the chosen trial only (it does not change a ranking).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sqlalchemy.exc import DBAPIError

from radiomix.modeling.config import ExperimentConfig, ParamSpec
from radiomix.modeling.pipeline import (
    Choice,
    build_pipeline,
    build_preprocessing,
    is_recalibrated,
    model_steps,
    positive_scores,
)
from radiomix.modeling.zoo import ZOO
from radiomix.stats import youden_threshold

Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class SearchResult:
    """The best trial of a search: its choice, inner AUC, inner folds and Youden threshold.

    `threshold` is the Youden cut-off of the chosen trial's inner out-of-fold scores, on the
    raw score scale of a recalibrated model (see `pipeline.output_threshold`);
    `calibration_folds` are the inner folds of the first repeat. `family_best` holds, per
    model family, the best trial's inner AUC, parameters and raw Youden threshold (for an
    ensemble).
    """

    params: dict[str, Any]
    inner_auc: float
    threshold: float
    calibration_folds: Folds
    values: list[float] = field(default_factory=list)
    n_pruned: int = 0
    family_best: dict[str, tuple[float, dict[str, Any], float]] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """Name of the chosen model."""
        return self.params["model"]

    @property
    def choice(self) -> Choice:
        """The chosen trial as a pipeline `Choice`."""
        return Choice.from_trial(self.params)


@dataclass
class _Split:
    """One inner split, preprocessed once."""

    train_X: pd.DataFrame
    train_y: np.ndarray
    test_X: pd.DataFrame
    test_y: np.ndarray
    test_index: np.ndarray
    repeat: int


def grouped_folds(y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> Folds:
    """Stratified folds that keep every group (patient) on one side; shuffled by `seed`."""
    n_groups = len(np.unique(groups))
    splitter = StratifiedGroupKFold(n_splits=min(folds, n_groups), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def uses_combat(config: ExperimentConfig, X: pd.DataFrame) -> bool:
    """ComBat applies when configured, the data hold a site column, and ≥ 2 sites are present."""
    return config.preprocessing.combat and "site" in X.columns and X["site"].nunique() >= 2


def inner_folds(
    y: np.ndarray, groups: np.ndarray, config: ExperimentConfig, seed: int
) -> list[Folds]:
    """The inner folds of every inner repeat; repeat r shuffles with `seed + r`."""
    return [
        grouped_folds(y, groups, config.inner_cv.folds, seed + repeat)
        for repeat in range(config.inner_cv.repeats)
    ]


def _preprocess_splits(
    X: pd.DataFrame,
    y: np.ndarray,
    repeats: list[Folds],
    features: list[str],
    config: ExperimentConfig,
) -> list[_Split]:
    splits = []
    for repeat, folds in enumerate(repeats):
        for train, test in folds:
            harmonise = uses_combat(config, X.iloc[train])
            steps = build_preprocessing(features, config.preprocessing, harmonise)
            pre = Pipeline(steps).set_output(transform="pandas").fit(X.iloc[train], y[train])
            splits.append(
                _Split(
                    pre.transform(X.iloc[train]),
                    y[train],
                    pre.transform(X.iloc[test]),
                    y[test],
                    test,
                    repeat,
                )
            )
    return splits


def _suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    if spec.type == "categorical":
        return trial.suggest_categorical(name, spec.options)
    low, high = spec.range
    if spec.type == "int":
        return trial.suggest_int(name, int(low), int(high), log=spec.log)
    return trial.suggest_float(name, low, high, log=spec.log)


def suggest_params(trial: optuna.Trial, config: ExperimentConfig) -> dict[str, Any]:
    """Draw model, its hyper-parameters, selector, k and class balancing for one trial."""
    spaces = {m.name: {**ZOO[m.name].space, **m.params} for m in config.models}
    model = trial.suggest_categorical("model", list(spaces))
    for param, spec in spaces[model].items():
        _suggest(trial, f"{model}__{param}", spec)
    trial.suggest_categorical("selector", config.search.selectors)
    _suggest(trial, "k_features", config.search.k_features)
    trial.suggest_categorical("balancing", config.search.balancing)
    return trial.params


def _fit_score(
    split: _Split, choice: Choice, features: list[str], config: ExperimentConfig, seed: int
) -> np.ndarray:
    """Scores of the split's test side by the trial-dependent steps of `build_pipeline`."""
    full = build_pipeline(features, choice, config.preprocessing, False, seed)
    tail = model_steps(full).fit(split.train_X, split.train_y)
    return positive_scores(tail, split.test_X, is_recalibrated(choice.model, config.calibration))


def _fold_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else 0.5


SQLITE_LOCK_WAIT_S = 60
STORAGE_OPEN_ATTEMPTS = 5


def open_storage(url: str | None) -> optuna.storages.BaseStorage | None:
    """The optuna RDB storage at ``url`` (None: in memory). Processes that open a new storage
    at once race to create its tables; the losers retry once the tables exist. SQLite writers
    wait up to ``SQLITE_LOCK_WAIT_S`` for each other's lock."""
    if url is None:
        return None
    engine = {"connect_args": {"timeout": SQLITE_LOCK_WAIT_S}} if url.startswith("sqlite") else {}
    for attempt in range(1, STORAGE_OPEN_ATTEMPTS + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
        except DBAPIError:  # e.g. "table already exists", a duplicate schema version row
            if attempt == STORAGE_OPEN_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)
    return None


def make_study(config: ExperimentConfig, seed: int, study_name: str) -> optuna.Study:
    """A maximising study with a seeded TPE sampler and (optionally) a median pruner that
    starts only after `search.min_complete` trials completed."""
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=config.search.min_complete, n_warmup_steps=1)
        if config.search.pruning
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        direction="maximize",
        study_name=study_name,
        storage=open_storage(config.search.storage),
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
    )


class _Objective:
    """Mean inner-fold AUC of a trial; reports after each fold so that the pruner can stop it.
    Keeps each completed trial's out-of-fold scores of the first inner repeat."""

    def __init__(
        self, splits: list[_Split], n: int, features: list[str], config: ExperimentConfig, seed: int
    ):
        self.splits, self.n, self.features = splits, n, features
        self.config, self.seed = config, seed
        self.oof: dict[int, np.ndarray] = {}

    def scores(
        self, params: dict[str, Any], trial: optuna.Trial | None = None
    ) -> tuple[np.ndarray, float]:
        """Out-of-fold scores (first repeat) and mean fold AUC of `params`; prunes `trial`
        when the pruner asks to."""
        choice = Choice.from_trial(params)
        oof = np.full(self.n, np.nan)
        aucs = []
        for step, split in enumerate(self.splits):
            score = _fit_score(split, choice, self.features, self.config, self.seed)
            if split.repeat == 0:
                oof[split.test_index] = score
            aucs.append(_fold_auc(split.test_y, score))
            if trial is not None:
                trial.report(float(np.mean(aucs)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return oof, float(np.mean(aucs))

    def __call__(self, trial: optuna.Trial) -> float:
        self.oof[trial.number], mean_auc = self.scores(suggest_params(trial, self.config), trial)
        return mean_auc


def _family_best(
    study: optuna.Study, oof: dict[int, np.ndarray], y: np.ndarray
) -> dict[str, tuple[float, dict[str, Any], float]]:
    """Best completed trial of each model family: inner AUC, parameters, raw threshold."""
    best: dict[str, optuna.trial.FrozenTrial] = {}
    for trial in study.trials:
        if trial.state != optuna.trial.TrialState.COMPLETE or trial.number not in oof:
            continue
        family = trial.params["model"]
        if family not in best or _value(trial) > _value(best[family]):
            best[family] = trial
    return {
        family: (_value(t), dict(t.params), youden_threshold(y, oof[t.number]))
        for family, t in best.items()
    }


def _value(trial: optuna.trial.FrozenTrial) -> float:
    """The inner AUC of a completed trial."""
    if trial.value is None:
        raise ValueError(f"trial {trial.number} has no value: it did not complete")
    return float(trial.value)


def search(
    X: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    features: list[str],
    config: ExperimentConfig,
    seed: int,
    study_name: str,
) -> SearchResult:
    """Run the optuna search on (X, y) with grouped inner CV; return the best trial."""
    repeats = inner_folds(y, groups, config, seed)
    objective = _Objective(
        _preprocess_splits(X, y, repeats, features, config), len(y), features, config, seed
    )
    study = make_study(config, seed, study_name)
    with warnings.catch_warnings():
        # small inner folds: solvers may stop at max_iter; a column constant within a fold
        # has no ANOVA F (it then ranks last)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings(
            "ignore", message="invalid value encountered in divide", category=RuntimeWarning
        )
        study.optimize(objective, n_trials=config.search.n_trials, timeout=config.search.timeout_s)
        best = study.best_trial
        if best.number not in objective.oof:  # found by another process sharing the storage
            objective.oof[best.number] = objective.scores(best.params)[0]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return SearchResult(
        params=dict(best.params),
        inner_auc=_value(best),
        threshold=youden_threshold(y, objective.oof[best.number]),
        calibration_folds=repeats[0],
        values=[_value(t) for t in complete],
        n_pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        family_best=_family_best(study, objective.oof, y),
    )
