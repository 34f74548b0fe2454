"""Evaluate an exported model on new labelled cases (external validation).

The cases are scored by the normal prediction path (`radiomix.serving.predict.predict`), so
the predictions carry the same novelty, range and imputation reports as `radiomix predict`.
On the labelled cases: AUC with its patient-clustered interval, the decision at the
exported threshold (confusion matrix, sensitivity, specificity, PPV, NPV), calibration,
decision curves, and every published rule on the same cases, each on its own population.
Writes `metrics.json`, `predictions.csv`, the figures and `report.html` into one folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiomix.errors import ModelError
from radiomix.hashing import file_sha256

PATIENT = "patient_id"
SUBGROUPS = ("tracer", "primary", "site")
DEFAULT_COLUMNS = {"id": "case_id", "target": "label", "group": PATIENT}


@dataclass
class EvaluationResult:
    """What `evaluate` wrote and computed."""

    metrics: dict
    predictions: pd.DataFrame
    paths: dict[str, Path]


def _identities(table: pd.DataFrame, columns: dict, source: str) -> pd.DataFrame:
    """case_id, patient_id and label (1.0 / 0.0 / NaN) of every case, read from the columns
    the model was trained with; a table without them is an error."""
    from radiomix.data.manifest import parse_labels

    for key in ("id", "target"):
        if columns[key] not in table.columns:
            raise ModelError(
                f"{source} has no {columns[key]!r} column (the model's {key} "
                "column): evaluate needs identified, labelled cases (use "
                "radiomix predict for unlabelled ones)"
            )
    ids = table[columns["id"]].astype(str)
    group = columns.get("group")
    patients = table[group].astype(str) if group and group in table.columns else ids
    labels = parse_labels(table[columns["target"]], ids, source, columns["target"])
    return pd.DataFrame({"case_id": ids, PATIENT: patients, "y_true": labels})


def _of_model_tracers(table: pd.DataFrame, tracers: list[str] | None) -> np.ndarray:
    """Per case: True when the model was trained on its tracer (always without a list)."""
    if not tracers:
        return np.ones(len(table), dtype=bool)
    if "tracer" not in table.columns:
        raise ModelError(
            f"the model was trained on tracers {tracers} only, and the input has no 'tracer' column"
        )
    wanted = {t.upper() for t in tracers}
    return (
        table["tracer"]
        .astype("string")
        .str.strip()
        .str.upper()
        .isin(wanted)
        .fillna(False)
        .to_numpy(bool)
    )


def _rule_columns(
    table: pd.DataFrame, rules_path: Path | None, extraction: dict | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """`rule_<id>` and `param_<id>` of every published rule, and each rule's direction; the
    rules are checked against the model's extraction configuration (else the packaged one)."""
    if "tracer" not in table.columns:
        return pd.DataFrame(index=table.index), {}
    from radiomix.features import ExtractionConfig
    from radiomix.rules import evaluate_rules, load_rules

    config = None if extraction is None else ExtractionConfig.model_validate(extraction)
    rules = load_rules(rules_path, config)
    return evaluate_rules(table, rules), {rule.id: rule.direction for rule in rules}


def scored_cases(
    table: pd.DataFrame, predictions: pd.DataFrame, identities: pd.DataFrame, rules: pd.DataFrame
) -> pd.DataFrame:
    """The frame the metrics read: ids, patient, subgroup columns, y_true, y_score, y_pred
    and the rule columns, for every case (unlabelled ones have NaN y_true)."""
    frame = identities.assign(y_score=predictions["probability"], y_pred=predictions["decision"])
    for column in SUBGROUPS:
        if column in table.columns:
            frame[column] = table[column].to_numpy()
    return pd.concat([frame, rules], axis=1)


def evaluation_metrics(
    frame: pd.DataFrame, directions: dict[str, str], threshold: float, clustered_by: str
) -> dict:
    """`metrics.json` of an evaluation: the experiment metrics on the labelled cases, plus
    the threshold and how many cases were left out and why."""
    from radiomix.modeling.metrics import experiment_metrics

    labelled = frame[frame["y_true"].notna()].assign(y_true=lambda f: f["y_true"].astype(int))
    if labelled["y_true"].nunique() < 2:
        raise ModelError(
            f"evaluate needs labelled cases of both classes; got "
            f"{len(labelled)} labelled case(s) of {labelled['y_true'].nunique()} "
            "class(es)"
        )
    metrics = experiment_metrics(labelled.reset_index(drop=True), 0, directions)
    return metrics | {
        "threshold": threshold,
        "clustered_by": clustered_by,
        "n_unlabelled": int(frame["y_true"].isna().sum()),
    }


def _write(
    out: Path, frame: pd.DataFrame, predictions: pd.DataFrame, metrics: dict, lineage: dict
) -> dict[str, Path]:
    """metrics.json, predictions.csv, figures and report.html in `out`."""
    from radiomix.evaluation import plots
    from radiomix.evaluation.report import render_page

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / "metrics.json",
        "predictions": out / "predictions.csv",
        "report": out / "report.html",
    }
    paths["metrics"].write_text(json.dumps(metrics, indent=2))
    rule_columns = [c for c in frame.columns if c.startswith(("rule_", "param_"))]
    ids = frame[["case_id", PATIENT]].assign(y_true=frame["y_true"].astype("Int64"))
    scores = predictions.drop(columns=[c for c in ids.columns if c in predictions.columns])
    pd.concat([ids, scores, frame[rule_columns]], axis=1).to_csv(
        paths["predictions"], index=False, float_format="%.17g"
    )
    labelled = frame[frame["y_true"].notna()].assign(y_true=lambda f: f["y_true"].astype(int))
    paths |= plots.evaluation_figures(labelled, metrics, out, kind="external")
    paths["report"].write_text(
        render_page(
            out,
            labelled,
            title="External evaluation",
            kind="external",
            lineage=lineage,
            subtitle=f"model {lineage['model']} on {lineage['input']}",
        ),
        encoding="utf-8",
    )
    return paths


def evaluate(
    model_source: str | Path,
    source: str | Path,
    out: str | Path,
    tracking_uri: str | None = None,
    rules_path: Path | None = None,
) -> EvaluationResult:
    """Score `source` (feature table or manifest) with the model and evaluate it on the
    labelled cases; cases of tracers the model was not trained on are reported, not
    scored into the metrics."""
    from radiomix import __version__
    from radiomix.serving.model import load_model
    from radiomix.serving.predict import predict, read_input

    model = load_model(model_source, tracking_uri)
    table = read_input(model, source).reset_index(drop=True)
    columns = DEFAULT_COLUMNS | model.info.get("columns", {})
    identities = _identities(table, columns, str(source))
    tracers = model.info.get("tracers")
    trained_tracer = _of_model_tracers(table, tracers)
    predictions = predict(model, table, tracking_uri=tracking_uri)
    rules, directions = _rule_columns(table, rules_path, model.extraction_config)
    frame = scored_cases(table, predictions, identities, rules)
    group = columns.get("group")
    clustered_by = (
        group
        if group and group in table.columns
        else (f"{columns['id']} (no patient column: one case per patient)")
    )
    metrics = evaluation_metrics(frame[trained_tracer], directions, model.threshold, clustered_by)
    metrics["n_other_tracer"] = int((~trained_tracer).sum())
    lineage = {
        "model": str(model_source),
        "model_run_id": model.info.get("run_id"),
        "input": str(source),
        "radiomix_version": __version__,
        "model_radiomix_version": model.info.get("radiomix_version"),
        "model_tracers": tracers,
    }
    if isinstance(source, str | Path) and Path(source).is_file():
        lineage["input_sha256"] = file_sha256(Path(source))
    paths = _write(
        Path(out),
        frame[trained_tracer].reset_index(drop=True),
        predictions[trained_tracer].reset_index(drop=True),
        metrics,
        lineage,
    )
    return EvaluationResult(metrics, predictions, paths)
