"""Nested cross-validation: an optuna search inside each outer training fold, refit, predict.

Outer folds are stratified and grouped by patient, reshuffled per repeat. The chosen trial is
refitted on the outer training side with its recalibration (fitted on the inner folds of
those rows), and scores the test side with probabilities. The decision threshold of a fold is
the Youden cut-off of the chosen trial's inner out-of-fold scores, so it is chosen on
training data only. The trivial baseline (`pipeline.baseline_pipeline`) is fitted on the same
outer folds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import VotingClassifier
from sklearn.pipeline import Pipeline

from radiomix.errors import ConfigError
from radiomix.modeling.config import ExperimentConfig
from radiomix.modeling.data import ModelData
from radiomix.modeling.pipeline import (
    Calibration,
    Choice,
    baseline_pipeline,
    build_pipeline,
    build_preprocessing,
    model_steps,
    output_threshold,
)
from radiomix.modeling.search import SearchResult, grouped_folds, search, uses_combat

Progress = Callable[[str, int, int], None]
"""Progress callback: (stage description, steps done, steps in total)."""
T = TypeVar("T")


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
    threshold: float
    baseline_score: np.ndarray
    harmonised: bool
    seconds: float


def site_splits(groups: np.ndarray, sites: np.ndarray | None) -> list[OuterSplit]:
    """Leave-one-site-out: fold k tests on every case of the k-th site (sorted by name).

    Needs at least two sites and every patient at one site (else a patient's lesions would
    sit on both sides of a fold).
    """
    if sites is None or len(np.unique(sites)) < 2:
        raise ConfigError(
            "outer_cv leave_one_site_out needs a site column (input.site_column "
            "or input.site_pattern) with at least two sites"
        )
    per_patient = pd.Series(sites).groupby(pd.Series(groups)).nunique()
    if (per_patient > 1).any():
        raise ConfigError(
            f"outer_cv leave_one_site_out: patients "
            f"{per_patient[per_patient > 1].index[:5].tolist()} have cases at "
            "several sites"
        )
    return [
        OuterSplit(0, fold, np.flatnonzero(sites != site), np.flatnonzero(sites == site))
        for fold, site in enumerate(np.unique(sites))
    ]


def outer_splits(
    y: np.ndarray, groups: np.ndarray, config: ExperimentConfig, sites: np.ndarray | None = None
) -> list[OuterSplit]:
    """All outer folds of all repeats; repeat r shuffles with seed `config.seed + r`. With
    `outer_cv.scheme: leave_one_site_out`, one fold per site (see `site_splits`)."""
    if config.outer_cv.scheme == "leave_one_site_out":
        return site_splits(groups, sites)
    splits = []
    for repeat in range(config.outer_cv.repeats):
        folds = grouped_folds(y, groups, config.outer_cv.folds, config.seed + repeat)
        splits += [
            OuterSplit(repeat, fold, train, test) for fold, (train, test) in enumerate(folds)
        ]
    return splits


def _fit_ensemble(
    data: ModelData,
    rows: np.ndarray,
    result: SearchResult,
    config: ExperimentConfig,
    seed: int,
    calibration: Calibration,
    harmonise: bool,
) -> tuple[Pipeline, float]:
    """Soft vote of the best trials of the `search.ensemble` best model families, each
    recalibrated, after the shared preprocessing; fitted on `rows`.

    Its threshold is the mean of the members' thresholds (each the Youden cut-off of that
    member's inner out-of-fold scores, on its probability scale): the vote itself has no
    out-of-fold scores.
    """
    families = sorted(result.family_best.values(), key=lambda item: -item[0])
    members, raw_thresholds = [], []
    for _, params, raw_threshold in families[: config.search.ensemble]:
        member = build_pipeline(
            data.features,
            Choice.from_trial(params),
            config.preprocessing,
            harmonise,
            seed,
            calibration,
        )
        members.append((params["model"], model_steps(member)))
        raw_thresholds.append(raw_threshold)
    steps = build_preprocessing(data.features, config.preprocessing, harmonise)
    pipeline = Pipeline([*steps, ("model", VotingClassifier(members, voting="soft"))])
    pipeline.set_output(transform="pandas").fit(data.X.iloc[rows], data.y[rows])
    fitted = pipeline[-1].named_estimators_
    threshold = np.mean(
        [
            output_threshold(fitted[name], raw)
            for (name, _), raw in zip(members, raw_thresholds, strict=True)
        ]
    )
    return pipeline, float(threshold)


def fit_chosen(
    data: ModelData, rows: np.ndarray, result: SearchResult, config: ExperimentConfig, seed: int
) -> tuple[Pipeline, float, bool]:
    """Refit the chosen trial (or the ensemble) on `rows` with its recalibration; return the
    pipeline, its threshold on the probability scale, and whether ComBat is in it."""
    X = data.X.iloc[rows]
    harmonise = uses_combat(config, X)
    calibration = Calibration(config.calibration, result.calibration_folds)
    if config.search.ensemble and len(result.family_best) > 1:
        return (*_fit_ensemble(data, rows, result, config, seed, calibration, harmonise), harmonise)
    pipeline = build_pipeline(
        data.features, result.choice, config.preprocessing, harmonise, seed, calibration
    ).fit(X, data.y[rows])
    return pipeline, output_threshold(pipeline, result.threshold), harmonise


def _baseline_scores(data: ModelData, split: OuterSplit, config: ExperimentConfig) -> np.ndarray:
    X = data.X.iloc[split.train]
    baseline = baseline_pipeline(data.features, config.preprocessing, uses_combat(config, X))
    baseline.fit(X, data.y[split.train])
    return baseline.predict_proba(data.X.iloc[split.test])[:, 1]


def run_fold(
    data: ModelData,
    split: OuterSplit,
    config: ExperimentConfig,
    study_prefix: str,
    with_baseline: bool = True,
) -> FoldResult:
    """Search on the outer training side, refit the best pipeline, score the test side."""
    start = time.perf_counter()
    seed = config.seed + 1000 * split.repeat + split.fold
    train = split.train
    result = search(
        data.X.iloc[train],
        data.y[train],
        data.groups[train],
        data.features,
        config,
        seed,
        f"{study_prefix}-r{split.repeat}-f{split.fold}",
    )
    pipeline, threshold, harmonised = fit_chosen(data, train, result, config, seed)
    y_score = pipeline.predict_proba(data.X.iloc[split.test])[:, 1]
    baseline = (
        _baseline_scores(data, split, config) if with_baseline else np.full(len(split.test), np.nan)
    )
    return FoldResult(
        split, result, y_score, threshold, baseline, harmonised, time.perf_counter() - start
    )


def in_worker(verbosity: int, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `function` in a worker process with the caller's optuna log verbosity (a fresh
    process starts at optuna's default)."""
    optuna.logging.set_verbosity(verbosity)
    return function(*args, **kwargs)


def parallel_map(function: Callable, arguments: list[tuple], n_jobs: int) -> Iterator:
    """`function(*args)` for each of `arguments`, in order; in `n_jobs` processes when > 1."""
    if n_jobs == 1:
        yield from (function(*args) for args in arguments)
        return
    from joblib import Parallel, delayed

    verbosity = optuna.logging.get_verbosity()
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    yield from parallel(delayed(in_worker)(verbosity, function, *args) for args in arguments)


def run_folds(
    data: ModelData, splits: list[OuterSplit], config: ExperimentConfig, study_prefix: str
) -> Iterator[FoldResult]:
    """Fold results in split order; with `config.n_jobs > 1` folds run in parallel processes."""
    yield from parallel_map(
        run_fold, [(data, split, config, study_prefix) for split in splits], config.n_jobs
    )


def _run_task(function: Callable, *args: Any) -> Any:
    return function(*args)


def run_final_and_folds(
    data: ModelData, splits: list[OuterSplit], config: ExperimentConfig, study_prefix: str
) -> tuple[FinalModel, Iterator[FoldResult]]:
    """The final model (`fit_final`) and the fold results in split order. The final search,
    the longest task, starts first and runs beside the folds (with `config.n_jobs > 1`), so
    that no process waits for it at the end."""
    tasks: list[tuple] = [(fit_final, data, config, study_prefix)]
    tasks += [(run_fold, data, split, config, study_prefix) for split in splits]
    results = parallel_map(_run_task, tasks, config.n_jobs)
    return next(results), results


@dataclass
class FinalModel:
    """The model fitted on all data with the same search procedure."""

    pipeline: Pipeline
    search: SearchResult
    threshold: float
    harmonised: bool
    input_columns: list[str]

    def describe(self) -> dict[str, Any]:
        """Parameters worth logging."""
        return {"final_" + key: value for key, value in self.search.params.items()} | {
            "final_threshold": self.threshold,
            "final_harmonised": self.harmonised,
        }


def fit_final(data: ModelData, config: ExperimentConfig, study_prefix: str) -> FinalModel:
    """Search and refit on every labelled case."""
    rows = np.arange(len(data.y))
    result = search(
        data.X, data.y, data.groups, data.features, config, config.seed, f"{study_prefix}-final"
    )
    pipeline, threshold, harmonised = fit_chosen(data, rows, result, config, config.seed)
    columns = [*data.features, "site"] if harmonised else list(data.features)
    return FinalModel(pipeline, result, threshold, harmonised, columns)
