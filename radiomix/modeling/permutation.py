"""Permutation test of the nested-CV AUC: the whole procedure rerun on permuted labels.

Labels are permuted by patient: the label vectors of patients with the same number of rows
are exchanged, so a patient's lesions keep one joint outcome pattern and folds stay grouped.
Each permutation runs the same nested CV (outer folds re-drawn on the permuted labels,
search, recalibration) and yields the headline statistic, the mean over repeats of the
pooled out-of-fold AUC. The p-value counts the observed run as one of the permutations:
p = (1 + #{null >= observed}) / (N + 1) (Phipson & Smyth, Stat Appl Genet Mol Biol
2010;9:39; Ojala & Garriga, JMLR 2010;11:1833 for classifiers).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from radiomix.modeling.config import ExperimentConfig
from radiomix.modeling.data import ModelData
from radiomix.modeling.nested_cv import Progress, outer_splits, parallel_map, run_fold
from radiomix.stats import auc_score


def permuted_labels(y: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """y with the label vectors of equally sized patients exchanged at random."""
    permuted = y.copy()
    patients, codes, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    rows = [np.flatnonzero(codes == g) for g in range(len(patients))]
    for size in np.unique(sizes):
        same = np.flatnonzero(sizes == size)
        for target, source in zip(same, rng.permutation(same), strict=True):
            permuted[rows[target]] = y[rows[source]]
    return permuted


def mean_repeat_auc(y: np.ndarray, score: np.ndarray, repeats: np.ndarray) -> float:
    """Mean over repeats of the pooled out-of-fold AUC (the headline statistic)."""
    return float(
        np.mean([auc_score(y[repeats == r], score[repeats == r]) for r in np.unique(repeats)])
    )


def null_auc(data: ModelData, config: ExperimentConfig, index: int, study_prefix: str) -> float:
    """The headline statistic of the nested CV on the `index`-th permutation of the labels."""
    rng = np.random.default_rng([config.seed, index])
    permuted = dataclasses.replace(data, y=permuted_labels(data.y, data.groups, rng))
    frames = []
    for split in outer_splits(permuted.y, permuted.groups, config, permuted.sites):
        result = run_fold(
            permuted, split, config, f"{study_prefix}-perm{index}", with_baseline=False
        )
        frames.append(
            pd.DataFrame(
                {"repeat": split.repeat, "y": permuted.y[split.test], "score": result.y_score}
            )
        )
    oof = pd.concat(frames, ignore_index=True)
    return mean_repeat_auc(
        oof["y"].to_numpy(int), oof["score"].to_numpy(float), oof["repeat"].to_numpy()
    )


def permutation_test(
    data: ModelData,
    config: ExperimentConfig,
    n: int,
    observed: float,
    study_prefix: str,
    progress: Progress | None = None,
) -> dict:
    """Null distribution of N permutations (parallel over permutations with `config.n_jobs`
    processes, each running its folds in turn) and the permutation p-value of `observed`."""
    serial = config.model_copy(update={"n_jobs": 1})
    null = []
    arguments = [(data, serial, i, study_prefix) for i in range(n)]
    for value in parallel_map(null_auc, arguments, config.n_jobs):
        null.append(value)
        if progress:
            progress("permutations", len(null), n)
    exceed = int(np.sum(np.asarray(null) >= observed))
    return {
        "n_permutations": n,
        "observed_auc": observed,
        "null_auc": null,
        "null_auc_mean": float(np.mean(null)),
        "n_null_at_least_observed": exceed,
        "p_value": (1 + exceed) / (n + 1),
    }
