"""Run an experiment: nested CV, final model, metrics, plots, SHAP, all tracked in MLflow.

The parent MLflow run holds the experiment's parameters, its summary metrics and every
artifact (also written to the output folder); each outer fold is a child run. `metrics.json`
holds the headline figures over all outer repeats (`headline`), the trivial baseline on the
same folds (`baseline`), the repeat-level figures and rule comparisons (`model`, `rules`), and
with permutations the permutation test (`permutation`; its null distribution is the artifact
`permutation_null.json` and the MLflow metric series `permutation_null_auc`). Progress is
reported through an optional callback (stage, done, total).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
import yaml

from radiomix.errors import ConfigError
from radiomix.evaluation import plots
from radiomix.evaluation.report import write_run_report
from radiomix.features.engine import read_provenance, stored_config
from radiomix.hashing import file_sha256
from radiomix.modeling.config import ExperimentConfig, check_storage
from radiomix.modeling.data import (
    ModelData,
    extract_table,
    feature_groups,
    load_model_data,
)
from radiomix.modeling.explain import explain_pipeline, mean_abs_shap
from radiomix.modeling.headline import headline_metrics
from radiomix.modeling.metrics import experiment_metrics, feature_group_metrics, first_repeat
from radiomix.modeling.nested_cv import (
    FinalModel,
    FoldResult,
    OuterSplit,
    Progress,
    outer_splits,
    run_final_and_folds,
    run_folds,
)
from radiomix.modeling.permutation import permutation_test
from radiomix.modeling.tracking import (
    ensure_experiment,
    log_flat_params,
    log_model,
    log_numbers,
    log_summary,
    log_training_data,
    run_tags,
)
from radiomix.outputs import writable_folder
from radiomix.stats import auc_score
from radiomix.tracking import check_tracking_store, resolve_tracking_uri, using_tracking_uri

LOG = logging.getLogger(__name__)


@dataclass
class ExperimentResult:
    """What `run_experiment` produced."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    metrics: dict
    out_dir: Path
    paths: dict[str, Path] = field(default_factory=dict)


def _rule_columns(
    config: ExperimentConfig, table: pd.DataFrame, path: Path
) -> tuple[pd.DataFrame, dict[str, str]]:
    """`rule_<id>` and `param_<id>` of the compared rules, row-aligned with `table` (read
    from `path`), and each rule's direction ("higher" or "lower" parameter means recurrence).
    The rules are checked against the extraction configuration of the experiment, else of the
    table's provenance, else the packaged one."""
    if not config.rules:
        return pd.DataFrame(index=table.index), {}
    from radiomix.features import load_config
    from radiomix.rules import evaluate_rules, load_rules

    source = config.input.extraction_config
    extraction = load_config(source) if source is not None else stored_config(path)
    rules = load_rules(config.rules_path, extraction)
    if config.rules != "all":
        known = {rule.id for rule in rules}
        unknown = sorted(set(config.rules) - known)
        if unknown:
            raise ConfigError(
                f"experiment {config.name}: unknown rules {unknown}; known: {sorted(known)}"
            )
        rules = [rule for rule in rules if rule.id in config.rules]
    evaluated = evaluate_rules(table, rules)
    columns = [c for c in evaluated.columns if c.startswith(("rule_", "param_"))]
    directions = {rule.id: rule.direction for rule in rules}
    decisions = {c: evaluated[c].astype("Int64") for c in columns if c.startswith("rule_")}
    return evaluated[columns].assign(**decisions).reset_index(drop=True), directions


def _subgroups(data: ModelData) -> pd.DataFrame:
    """Tracer, primary tumour and site of each case, for the per-subgroup results."""
    columns = {c: data.table[c].to_numpy() for c in ("tracer", "primary") if c in data.table}
    if data.sites is not None:
        columns["site"] = data.sites
    return pd.DataFrame(columns, index=data.table.index)


def _fold_frame(data: ModelData, result: FoldResult, rules: pd.DataFrame) -> pd.DataFrame:
    test = result.split.test
    frame = pd.DataFrame(
        {
            "case_id": data.ids[test],
            "patient_id": data.groups[test],
            "repeat": result.split.repeat,
            "fold": result.split.fold,
            "y_true": data.y[test],
            "y_score": result.y_score,
            "threshold": result.threshold,
            "y_pred": (result.y_score >= result.threshold).astype(int),
            "baseline_score": result.baseline_score,
        }
    )
    return pd.concat(
        [
            frame,
            _subgroups(data).iloc[test].reset_index(drop=True),
            rules.iloc[test].reset_index(drop=True),
        ],
        axis=1,
    )


def _log_fold(result: FoldResult, frame: pd.DataFrame, experiment_id: str) -> None:
    """One child run per outer fold: chosen parameters, fold metrics, best trial."""
    split = result.split
    with mlflow.start_run(
        experiment_id=experiment_id, nested=True, run_name=f"repeat{split.repeat}-fold{split.fold}"
    ):
        log_flat_params(
            {
                "repeat": split.repeat,
                "fold": split.fold,
                "harmonised": result.harmonised,
                **{f"best_{k}": v for k, v in result.search.params.items()},
            }
        )
        y = frame["y_true"].to_numpy(int)
        test_auc = auc_score(y, frame["y_score"]) if len(np.unique(y)) == 2 else float("nan")
        log_numbers(
            {
                "test_auc": test_auc,
                "inner_auc": result.search.inner_auc,
                "threshold": result.threshold,
                "n_test": len(split.test),
                "n_train": len(split.train),
                "n_trials": len(result.search.values),
                "n_pruned": result.search.n_pruned,
                "seconds": result.seconds,
            }
        )


def _save_final_model(
    final: FinalModel, data: ModelData, out: Path, config: ExperimentConfig
) -> dict[str, Path]:
    folder = out / "final_model"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "pipeline": folder / "pipeline.joblib",
        "training_features": folder / "training_features.parquet",
        "model_info": folder / "model_info.json",
    }
    joblib.dump(final.pipeline, paths["pipeline"])
    data.X[final.input_columns].to_parquet(paths["training_features"])
    source = config.input
    info = {
        "input_columns": final.input_columns,
        "threshold": final.threshold,
        "model": final.search.model,
        "params": final.search.params,
        "calibration": config.calibration,
        "ensemble": config.search.ensemble,
        "harmonised": final.harmonised,
        "inner_auc": final.search.inner_auc,
        "tracers": source.tracers,
        "positive_class": "recurrence (1)",
        "columns": {
            "id": source.id_column,
            "target": source.target_column,
            "group": source.group_column,
        },
    }
    paths["model_info"].write_text(json.dumps(info, indent=2))
    return paths


def _write_figures(
    oof: pd.DataFrame,
    metrics: dict,
    final: FinalModel,
    data: ModelData,
    config: ExperimentConfig,
    out: Path,
) -> dict[str, Path]:
    explanation = explain_pipeline(final.pipeline, final.search.model, data.X, config.seed)
    shap_csv = out / "shap_mean_abs.csv"
    mean_abs_shap(explanation).to_csv(shap_csv, index=False)
    return plots.evaluation_figures(first_repeat(oof), metrics, out) | {
        "shap_summary": plots.shap_beeswarm(explanation, out / "shap_summary.png"),
        "shap_mean_abs": shap_csv,
        "optuna_history": plots.optuna_history_plot(
            final.search.values, out / "optuna_history.png"
        ),
    }


def experiment_sha256(config: ExperimentConfig) -> str:
    """SHA-256 of the experiment's settings (canonical JSON), whatever the file's layout."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _extraction_lineage(config: ExperimentConfig, provenance: dict) -> dict:
    """Where the features came from: extraction configuration (file and hash) and manifest
    (path and hash), from the experiment or from the table's stored provenance."""
    source = config.input.extraction_config
    manifest = config.input.manifest or (
        Path(provenance["manifest"]) if provenance.get("manifest") else None
    )
    digest: str | None
    if source is not None:
        from radiomix.features import load_config

        name, digest = source.name, load_config(source).digest()
    elif provenance:
        name, digest = "stored in the table by radiomix extract", provenance.get("config_sha256")
    else:
        name, digest = "unknown (feature table without extraction provenance)", None
    return {
        "extraction_config": name,
        "extraction_config_sha256": digest,
        "manifest": str(manifest) if manifest else None,
        "manifest_sha256": (file_sha256(manifest) if manifest and manifest.is_file() else None),
    }


def _lineage(
    config: ExperimentConfig, table: Path, data: ModelData, out: Path, permutations: int
) -> tuple[dict, dict[str, Path]]:
    """Lineage (experiment hash, table hash, extraction configuration and manifest), saved
    beside the results with the experiment file and the extraction provenance."""
    paths = {"experiment": out / "experiment.yaml", "lineage": out / "lineage.json"}
    paths["experiment"].write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    provenance = read_provenance(table)
    lineage = {
        "experiment_sha256": experiment_sha256(config),
        "table": table.name,
        "table_sha256": file_sha256(table),
        **_extraction_lineage(config, provenance),
        "n_cases": len(data.y),
        "n_unlabelled_dropped": data.n_unlabelled,
        "tracers": config.input.tracers,
        "features": data.features,
        "excluded_non_numeric": data.excluded,
        "dropped_bad_data": data.dropped,
        "permutations": permutations,
    }
    if provenance:
        paths["extraction_provenance"] = out / "extraction_provenance.json"
        paths["extraction_provenance"].write_text(json.dumps(provenance, indent=2))
    paths["lineage"].write_text(json.dumps(lineage, indent=2))
    if config.input.extraction_config is not None:
        paths["extraction_config"] = out / config.input.extraction_config.name
        shutil.copyfile(config.input.extraction_config, paths["extraction_config"])
    return lineage, paths


def _experiment_params(
    config: ExperimentConfig, data: ModelData, table: Path, permutations: int
) -> dict:
    outer = (
        "leave_one_site_out"
        if config.outer_cv.scheme == "leave_one_site_out"
        else f"{config.outer_cv.folds}x{config.outer_cv.repeats}"
    )
    return {
        "experiment": config.name,
        "seed": config.seed,
        "table": table.name,
        "n_cases": len(data.y),
        "n_patients": len(np.unique(data.groups)),
        "n_features": len(data.features),
        "feature_groups": config.features.groups,
        "combat": config.preprocessing.combat,
        "models": [m.name for m in config.models],
        "n_trials": config.search.n_trials,
        "selectors": config.search.selectors,
        "balancing": config.search.balancing,
        "calibration": config.calibration,
        "ensemble": config.search.ensemble,
        "outer_cv": outer,
        "tracers": config.input.tracers,
        "inner_cv": f"{config.inner_cv.folds}x{config.inner_cv.repeats}",
        "rules": config.rules,
        "permutations": permutations,
    }


def _feature_group_comparison(
    data: ModelData, splits: list, config: ExperimentConfig, prefix: str, oof: pd.DataFrame
) -> dict:
    """Each group of `config.compare_feature_groups` alone, cross-validated on the same folds
    of repeat 0 with the same search, compared with the full model (paired, clustered)."""
    if not config.compare_feature_groups:
        return {}
    first = [split for split in splits if split.repeat == 0]
    groups = feature_groups(data.features)
    scores: dict[str, pd.Series | None] = {}
    for group in config.compare_feature_groups:
        if not groups[group]:
            scores[group] = None
            continue
        subset = replace(data, features=groups[group])
        score = np.full(len(data.y), np.nan)
        for result in run_folds(subset, first, config, f"{prefix}-{group}"):
            score[result.split.test] = result.y_score
        scores[group] = pd.Series(score, index=data.ids)
    return feature_group_metrics(
        first_repeat(oof), scores, {g: len(groups[g]) for g in config.compare_feature_groups}
    )


def _input_table(config: ExperimentConfig, out: Path) -> Path:
    return config.input.table if config.input.table else extract_table(config.input, out)


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    tracking_uri: str | None = None,
    permutations: int = 0,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Nested CV, final model, metrics and artifacts of `config`, tracked in MLflow; with
    `permutations` > 0 also the permutation test of the headline AUC."""
    if permutations < 0:
        raise ConfigError(f"the number of permutations must be 0 or more, got {permutations}")
    out = writable_folder(out_dir)
    check_storage(config.search.storage)
    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_store(uri)
    table = _input_table(config, out)
    data = load_model_data(config, table)
    for problem in data.dropped:
        LOG.warning("dropped: %s", problem)
    rules, directions = _rule_columns(config, data.table, table)
    with using_tracking_uri(uri):
        return _tracked_run(
            config, data, table, rules, directions, out, uri, _Options(permutations, progress)
        )


@dataclass
class _Options:
    permutations: int
    progress: Progress | None

    def report(self, stage: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(stage, done, total)


def _run_cv(
    config: ExperimentConfig,
    data: ModelData,
    splits: list[OuterSplit],
    rules: pd.DataFrame,
    prefix: str,
    experiment_id: str,
    options: _Options,
) -> tuple[pd.DataFrame, FinalModel]:
    """The final model and the outer folds (one child run each), run side by side; returns
    the out-of-fold table and the final model."""
    frames = []
    options.report("final model", 0, 1)
    final, results = run_final_and_folds(data, splits, config, prefix)
    options.report("final model", 1, 1)
    options.report("outer folds", 0, len(splits))
    for result in results:
        frames.append(_fold_frame(data, result, rules))
        _log_fold(result, frames[-1], experiment_id)
        options.report("outer folds", len(frames), len(splits))
    return pd.concat(frames, ignore_index=True), final


def _metrics(oof: pd.DataFrame, config: ExperimentConfig, directions: dict[str, str]) -> dict:
    metrics = experiment_metrics(oof, config.seed, directions)
    return {
        "headline": headline_metrics(oof, "y_score", config.seed),
        "baseline": headline_metrics(oof, "baseline_score", config.seed),
        **metrics,
    }


def _permutations(
    config: ExperimentConfig,
    data: ModelData,
    metrics: dict,
    prefix: str,
    out: Path,
    options: _Options,
) -> dict[str, Path]:
    """Run the permutation test, add its summary to `metrics`, save and log the null."""
    test = permutation_test(
        data, config, options.permutations, metrics["headline"]["auc"], prefix, options.report
    )
    null = test.pop("null_auc")
    metrics["permutation"] = test
    path = out / "permutation_null.json"
    path.write_text(json.dumps({**test, "null_auc": null}, indent=2))
    for step, value in enumerate(null):
        mlflow.log_metric("permutation_null_auc", value, step=step)
    return {"permutation_null": path}


HEADLINE_LOGGED = {
    "headline": (
        "auc",
        "auc_sd",
        "brier",
        "brier_prevalence",
        "calibration_intercept",
        "calibration_slope",
    ),
    "baseline": ("auc", "brier"),
    "permutation": ("p_value",),
}
"""What MLflow gets of the headline, baseline and permutation blocks (the rest, with the
intervals, is in `metrics.json`)."""


def _headline_numbers(metrics: dict) -> dict:
    return {
        block: {key: metrics[block][key] for key in keys}
        for block, keys in HEADLINE_LOGGED.items()
        if block in metrics
    }


def study_prefix(config: ExperimentConfig, table: Path, run_id: str) -> str:
    """Prefix of the optuna study names of a run: unique to the run; with a shared
    ``search.storage``, the same in every process running this experiment on this table, so
    that they share the trials of each study (the settings other than the input path and the
    table's bytes are hashed)."""
    if config.search.storage is None:
        return f"{config.name}-{run_id[:12]}"
    digest = hashlib.sha256(
        f"{config.model_dump_json(exclude={'input'})}\n{file_sha256(table)}".encode()
    ).hexdigest()
    return f"{config.name}-{digest[:12]}"


def _tracked_run(
    config: ExperimentConfig,
    data: ModelData,
    table: Path,
    rules: pd.DataFrame,
    directions: dict[str, str],
    out: Path,
    uri: str,
    options: _Options,
) -> ExperimentResult:
    """The nested CV, final model and artifacts inside one parent MLflow run."""
    experiment_id = ensure_experiment(config.name, uri)
    splits = outer_splits(data.y, data.groups, config, data.sites)
    with mlflow.start_run(experiment_id=experiment_id, run_name=config.name) as parent:
        log_flat_params(_experiment_params(config, data, table, options.permutations))
        log_training_data(data.table, table, config.input.target_column)
        prefix = study_prefix(config, table, parent.info.run_id)
        oof, final = _run_cv(config, data, splits, rules, prefix, experiment_id, options)
        metrics = _metrics(oof, config, directions)
        metrics["feature_groups"] = _feature_group_comparison(data, splits, config, prefix, oof)
        paths = {"oof_predictions": out / "oof_predictions.csv", "metrics": out / "metrics.json"}
        if options.permutations:
            paths |= _permutations(config, data, metrics, prefix, out, options)
        oof.to_csv(paths["oof_predictions"], index=False)
        paths["metrics"].write_text(json.dumps(metrics, indent=2))
        paths |= _write_figures(oof, metrics, final, data, config, out)
        lineage, lineage_paths = _lineage(config, table, data, out, options.permutations)
        paths |= lineage_paths
        final_paths = _save_final_model(final, data, out, config)
        log_flat_params(final.describe())
        log_summary(metrics)
        log_numbers(_headline_numbers(metrics))
        mlflow.set_tags(run_tags(lineage))
        for path in paths.values():
            mlflow.log_artifact(str(path))
        for path in final_paths.values():
            mlflow.log_artifact(str(path), artifact_path="final_model")
        log_model(final.pipeline, data.X[final.input_columns])
        mlflow.log_artifact(str(write_run_report(parent.info.run_id, out, out / "report.html")))
    paths |= {f"final_{key}": path for key, path in final_paths.items()}
    return ExperimentResult(parent.info.run_id, experiment_id, uri, metrics, out, paths)
