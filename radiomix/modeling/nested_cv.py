"""Nested cross-validation: an optuna search inside each outer training fold, refit, predict.

Outer folds are stratified and grouped by patient, reshuffled per repeat. The decision
threshold of a fold is the Youden cut-off of the chosen trial's inner out-of-fold scores, so
it is chosen on training data only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from radiomix.errors import ConfigError
from radiomix.modeling.config import ExperimentConfig
from radiomix.modeling.data import ModelData
from radiomix.modeling.pipeline import build_pipeline, model_params
from radiomix.modeling.search import SearchResult, grouped_folds, search, uses_combat


@dataclass
class OuterSplit:
    """One outer fold of one repeat."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


@dataclass
class FoldResult:
    """What one outer fold produced."""

    split: OuterSplit
    search: SearchResult
    y_score: np.ndarray
    harmonised: bool
    seconds: float


def site_splits(groups: np.ndarray, sites: np.ndarray | None) -> list[OuterSplit]:
    """Leave-one-site-out: fold k tests on every case of the k-th site (sorted by name).

    Needs at least two sites and every patient at one site (else a patient's lesions would
    sit on both sides of a fold).
    """
    if sites is None or len(np.unique(sites)) < 2:
        raise ConfigError("outer_cv leave_one_site_out needs a site column (input.site_column "
                          "or input.site_pattern) with at least two sites")
    per_patient = pd.Series(sites).groupby(pd.Series(groups)).nunique()
    if (per_patient > 1).any():
        raise ConfigError(f"outer_cv leave_one_site_out: patients "
                          f"{per_patient[per_patient > 1].index[:5].tolist()} have cases at "
                          "several sites")
    return [OuterSplit(0, fold, np.flatnonzero(sites != site), np.flatnonzero(sites == site))
            for fold, site in enumerate(np.unique(sites))]


def outer_splits(y: np.ndarray, groups: np.ndarray, config: ExperimentConfig,
                 sites: np.ndarray | None = None) -> list[OuterSplit]:
    """All outer folds of all repeats; repeat r shuffles with seed `config.seed + r`. With
    `outer_cv.scheme: leave_one_site_out`, one fold per site (see `site_splits`)."""
    if config.outer_cv.scheme == "leave_one_site_out":
        return site_splits(groups, sites)
    splits = []
    for repeat in range(config.outer_cv.repeats):
        folds = grouped_folds(y, groups, config.outer_cv.folds, config.seed + repeat)
        splits += [OuterSplit(repeat, fold, train, test)
                   for fold, (train, test) in enumerate(folds)]
    return splits


def fit_chosen(data: ModelData, rows: np.ndarray, result: SearchResult,
               config: ExperimentConfig, seed: int) -> tuple[Pipeline, bool]:
    """Refit the pipeline of the chosen trial on `rows`; return it and whether ComBat is in it."""
    X = data.X.iloc[rows]
    harmonise = uses_combat(config, X)
    model, params, k = model_params(result.params)
    pipeline = build_pipeline(data.features, model, params, k, config.preprocessing, harmonise,
                              seed)
    return pipeline.fit(X, data.y[rows]), harmonise


def run_fold(data: ModelData, split: OuterSplit, config: ExperimentConfig,
             study_prefix: str) -> FoldResult:
    """Search on the outer training side, refit the best pipeline, score the test side."""
    start = time.perf_counter()
    seed = config.seed + 1000 * split.repeat + split.fold
    train = split.train
    result = search(data.X.iloc[train], data.y[train], data.groups[train], data.features,
                    config, seed, f"{study_prefix}-r{split.repeat}-f{split.fold}")
    pipeline, harmonised = fit_chosen(data, train, result, config, seed)
    y_score = pipeline.predict_proba(data.X.iloc[split.test])[:, 1]
    return FoldResult(split, result, y_score, harmonised, time.perf_counter() - start)


def run_folds(data: ModelData, splits: list[OuterSplit], config: ExperimentConfig,
              study_prefix: str) -> Iterator[FoldResult]:
    """Fold results in split order; with `config.n_jobs > 1` folds run in parallel processes."""
    if config.n_jobs == 1:
        for split in splits:
            yield run_fold(data, split, config, study_prefix)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=config.n_jobs, return_as="generator")
    yield from parallel(delayed(run_fold)(data, split, config, study_prefix) for split in splits)


@dataclass
class FinalModel:
    """The model fitted on all data with the same search procedure."""

    pipeline: Pipeline
    search: SearchResult
    harmonised: bool
    input_columns: list[str]

    def describe(self) -> dict[str, Any]:
        """Parameters worth logging."""
        return {"final_" + key: value for key, value in self.search.params.items()} | {
            "final_threshold": self.search.threshold, "final_harmonised": self.harmonised}


def fit_final(data: ModelData, config: ExperimentConfig, study_prefix: str) -> FinalModel:
    """Search and refit on every labelled case."""
    rows = np.arange(len(data.y))
    result = search(data.X, data.y, data.groups, data.features, config, config.seed,
                    f"{study_prefix}-final")
    pipeline, harmonised = fit_chosen(data, rows, result, config, config.seed)
    columns = [*data.features, "site"] if harmonised else list(data.features)
    return FinalModel(pipeline, result, harmonised, columns)
