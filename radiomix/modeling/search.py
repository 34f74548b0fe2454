"""Optuna search of model and hyper-parameters by grouped inner cross-validation.

The hyper-parameter-free preprocessing (imputation, ComBat, scaling, redundancy filter) is
fitted once per inner training split and reused by every trial; each trial fits only the
k-best selector and the model. This is the same computation as refitting the whole pipeline
per trial, and nothing of an inner test split is seen by what is fitted on its training split.
"""

from __future__ import annotations

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

from radiomix.evaluation.stats import youden_threshold
from radiomix.modeling.config import ExperimentConfig, ParamSpec
from radiomix.modeling.pipeline import build_preprocessing, make_model, model_params, search_space
from radiomix.modeling.transformers import KBestSelector

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class SearchResult:
    """The best trial of a search: its parameters, inner AUC and Youden threshold."""

    params: dict[str, Any]
    inner_auc: float
    threshold: float
    values: list[float] = field(default_factory=list)
    n_pruned: int = 0

    @property
    def model(self) -> str:
        """Name of the chosen model."""
        return self.params["model"]


@dataclass
class _Split:
    """One inner split, preprocessed once."""

    train_X: pd.DataFrame
    train_y: np.ndarray
    test_X: pd.DataFrame
    test_y: np.ndarray
    test_index: np.ndarray


def grouped_folds(y: np.ndarray, groups: np.ndarray, folds: int, seed: int):
    """Stratified folds that keep every group (patient) on one side; shuffled by `seed`."""
    n_groups = len(np.unique(groups))
    splitter = StratifiedGroupKFold(n_splits=min(folds, n_groups), shuffle=True,
                                    random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def uses_combat(config: ExperimentConfig, X: pd.DataFrame) -> bool:
    """ComBat applies when configured, the data hold a site column, and ≥ 2 sites are present."""
    return (config.preprocessing.combat and "site" in X.columns
            and X["site"].nunique() >= 2)


def _preprocess_splits(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray,
                       features: list[str], config: ExperimentConfig, seed: int) -> list[_Split]:
    splits = []
    for train, test in grouped_folds(y, groups, config.inner_cv.folds, seed):
        harmonise = uses_combat(config, X.iloc[train])
        steps = build_preprocessing(features, config.preprocessing, harmonise)
        pre = Pipeline(steps).set_output(transform="pandas").fit(X.iloc[train], y[train])
        splits.append(_Split(pre.transform(X.iloc[train]), y[train],
                             pre.transform(X.iloc[test]), y[test], test))
    return splits


def _suggest(trial: optuna.Trial, name: str, spec: ParamSpec):
    if spec.type == "categorical":
        return trial.suggest_categorical(name, spec.choices)
    if spec.type == "int":
        return trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log)
    return trial.suggest_float(name, spec.low, spec.high, log=spec.log)


def suggest_params(trial: optuna.Trial, config: ExperimentConfig) -> dict[str, Any]:
    """Draw model, its hyper-parameters and k for one trial."""
    spaces = {m.name: search_space(m.name, m.params) for m in config.models}
    model = trial.suggest_categorical("model", list(spaces))
    for param, spec in spaces[model].items():
        _suggest(trial, f"{model}__{param}", spec)
    _suggest(trial, "k_features", config.search.k_features)
    return trial.params


def _fit_predict(split: _Split, params: dict[str, Any], seed: int) -> np.ndarray:
    model, model_kwargs, k = model_params(params)
    tail = Pipeline([("select", KBestSelector(k=k)), ("model", make_model(model, model_kwargs,
                                                                          seed))])
    tail.fit(split.train_X, split.train_y)
    return tail.predict_proba(split.test_X)[:, 1]


def _oof_scores(splits: list[_Split], params: dict[str, Any], n: int, seed: int) -> np.ndarray:
    oof = np.full(n, np.nan)
    for split in splits:
        oof[split.test_index] = _fit_predict(split, params, seed)
    return oof


def _fold_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else 0.5


def make_study(config: ExperimentConfig, seed: int, study_name: str) -> optuna.Study:
    """A maximising study with a seeded TPE sampler and (optionally) a median pruner."""
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=5) if config.search.pruning
              else optuna.pruners.NopPruner())
    return optuna.create_study(direction="maximize", study_name=study_name,
                               storage=config.search.storage, load_if_exists=True,
                               sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)


def search(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, features: list[str],
           config: ExperimentConfig, seed: int, study_name: str) -> SearchResult:
    """Run the optuna search on (X, y) with grouped inner CV; return the best trial."""
    splits = _preprocess_splits(X, y, groups, features, config, seed)
    oof_scores: dict[int, np.ndarray] = {}

    def objective(trial: optuna.Trial) -> float:
        """Mean inner-fold AUC; reports after each fold so that the pruner can stop early."""
        params = suggest_params(trial, config)
        oof = np.full(len(y), np.nan)
        aucs = []
        for step, split in enumerate(splits):
            oof[split.test_index] = _fit_predict(split, params, seed)
            aucs.append(_fold_auc(split.test_y, oof[split.test_index]))
            trial.report(float(np.mean(aucs)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        oof_scores[trial.number] = oof
        return float(np.mean(aucs))

    study = make_study(config, seed, study_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        study.optimize(objective, n_trials=config.search.n_trials,
                       timeout=config.search.timeout_s)
    best = study.best_trial
    if best.number not in oof_scores:  # found by another process sharing the storage
        oof_scores[best.number] = _oof_scores(splits, best.params, len(y), seed)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return SearchResult(
        params=dict(best.params),
        inner_auc=float(best.value),
        threshold=youden_threshold(y, oof_scores[best.number]),
        values=[float(t.value) for t in complete],
        n_pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
    )
