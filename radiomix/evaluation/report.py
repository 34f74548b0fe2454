"""One self-contained HTML page for an experiment's MLflow run (readable offline).

Figures are embedded as base64 PNG, tables are plain HTML; nothing is fetched at view time.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import pandas as pd

FIGURES = {"roc.png": "ROC curve with the rules' operating points",
           "calibration.png": "Calibration", "shap_summary.png": "SHAP summary (final model)",
           "optuna_history.png": "Optuna search history (final model)"}
STYLE = """body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f2f2f2}td:first-child{text-align:left}
figure{display:inline-block;margin:1em}img{max-width:460px}code{background:#f5f5f5}"""


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _interval(value, ci) -> str:
    if value is None:
        return "–"
    if not ci or ci[0] is None:
        return _number(value)
    return f"{_number(value)} ({_number(ci[0])}–{_number(ci[1])})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _model_section(metrics: dict) -> str:
    model = metrics["model"]
    rows = [["AUC (DeLong 95% CI)", _interval(model["auc"], model["auc_ci"])],
            ["AUC mean ± SD over repeats",
             f"{_number(model['auc_repeats_mean'])} ± {_number(model['auc_repeats_sd'])}"],
            ["sensitivity (Wilson CI)", _interval(model["sensitivity"],
                                                  model.get("sensitivity_ci"))],
            ["specificity (Wilson CI)", _interval(model["specificity"],
                                                  model.get("specificity_ci"))],
            ["Brier score (patient bootstrap CI)", _interval(model["brier"],
                                                             model.get("brier_ci"))],
            ["calibration slope (patient bootstrap CI)",
             _interval(model["calibration_slope"], model.get("calibration_slope_ci"))],
            ["calibration intercept (patient bootstrap CI)",
             _interval(model["calibration_intercept"], model.get("calibration_intercept_ci"))]]
    summary = f"{metrics['n_cases']} cases of {metrics['n_patients']} patients"
    return f"<h2>Model (nested CV, out-of-fold)</h2><p>{summary}</p>" + _table(
        ["metric", "value"], rows)


def _rules_section(metrics: dict) -> str:
    if not metrics["rules"]:
        return ""
    rows = [[html.escape(rule), _number(r["n"]), _interval(r.get("auc"), r.get("auc_ci")),
             _number(r.get("model_auc_same_cases")),
             _interval(r.get("sensitivity"), r.get("sensitivity_ci")),
             _interval(r.get("specificity"), r.get("specificity_ci")),
             _number(r.get("delong_p_vs_model"), 4), _number(r.get("mcnemar_p_vs_model"), 4)]
            for rule, r in metrics["rules"].items()]
    header = ["rule", "n applicable", "AUC of parameter (CI)", "model AUC, same cases",
              "sensitivity", "specificity",
              "DeLong p vs model", "McNemar p vs model"]
    return "<h2>Comparison with the rules</h2>" + _table(header, rows)


def _folds_section(folds: pd.DataFrame) -> str:
    if folds.empty:
        return ""
    rows = [[_number(row.get("params.repeat")), _number(row.get("params.fold")),
             _number(row.get("params.best_model")), _number(row.get("metrics.test_auc")),
             _number(row.get("metrics.inner_auc")), _number(row.get("metrics.threshold"))]
            for _, row in folds.iterrows()]
    header = ["repeat", "fold", "chosen model", "test AUC", "inner AUC", "threshold"]
    return "<h2>Outer folds</h2>" + _table(header, rows)


def _figures_section(folder: Path) -> str:
    parts = []
    for name, caption in FIGURES.items():
        path = folder / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(caption)}" '
                         f'src="data:image/png;base64,{data}"><figcaption>'
                         f"{html.escape(caption)}</figcaption></figure>")
    return "<h2>Figures</h2>" + "".join(parts) if parts else ""


def _shap_section(folder: Path, top: int = 15) -> str:
    path = folder / "shap_mean_abs.csv"
    if not path.is_file():
        return ""
    import pandas as pd

    table = pd.read_csv(path).head(top)
    rows = [[html.escape(str(r.feature)), _number(r.mean_abs_shap, 4)] for r in table.itertuples()]
    return "<h2>Most influential features (mean |SHAP|)</h2>" + _table(
        ["feature", "mean |SHAP|"], rows)


def _lineage_section(folder: Path, params: dict) -> str:
    rows = [[html.escape(key), html.escape(str(value))] for key, value in sorted(params.items())]
    lineage = folder / "lineage.json"
    if lineage.is_file():
        info = json.loads(lineage.read_text())
        rows.append(["table_sha256", html.escape(str(info.get("table_sha256")))])
        rows.append(["extraction_config", html.escape(str(info.get("extraction_config")))])
    return "<h2>Run parameters and lineage</h2>" + _table(["parameter", "value"], rows)


def render_report(folder: Path, run_id: str, title: str, params: dict,
                  folds: pd.DataFrame) -> str:
    """The HTML page for a run whose artifacts are in `folder`."""
    metrics = json.loads((folder / "metrics.json").read_text())
    sections = [_model_section(metrics), _rules_section(metrics), _folds_section(folds),
                _figures_section(folder), _shap_section(folder), _lineage_section(folder, params)]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>MLflow run <code>{html.escape(run_id)}</code></p>{''.join(sections)}"
            "</body></html>")


def build_report(run_id: str, out: str | Path, tracking_uri: str | None = None) -> Path:
    """Write the self-contained HTML report of the parent run `run_id` to `out`."""
    from radiomix.modeling.tracking import resolve_tracking_uri, using_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    with using_tracking_uri(uri):
        page = _page_of_run(run_id, uri)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _page_of_run(run_id: str, uri: str) -> str:
    """Fetch the run, its child runs and artifacts, and render the page."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from radiomix.errors import ConfigError

    try:
        run = mlflow.get_run(run_id)
        folds = mlflow.search_runs(experiment_ids=[run.info.experiment_id],
                                   filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
                                   order_by=["start_time ASC"])
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=tmp))
            if not (folder / "metrics.json").is_file():
                raise ConfigError(f"run {run_id} at {uri} has no metrics.json: not an "
                                  "experiment run")
            return render_report(folder, run_id, run.info.run_name or run_id,
                                 run.data.params, _ordered(folds))
    except MlflowException as error:
        raise ConfigError(f"cannot read MLflow run {run_id} at {uri}: {error}") from error


def _ordered(folds: pd.DataFrame) -> pd.DataFrame:
    """Child runs by repeat, then fold."""
    if folds.empty:
        return folds
    keys = folds[["params.repeat", "params.fold"]].astype(int)
    return folds.loc[keys.sort_values(["params.repeat", "params.fold"]).index]


def report_command(
    run_id: str = typer.Argument(..., help="MLflow id of the experiment's parent run."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri",
        help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db]."),
) -> None:
    """Write one self-contained HTML page with the tables and figures of an experiment run."""
    from radiomix.console import exit_on_error

    with exit_on_error():
        path = build_report(run_id, out, tracking_uri)
    typer.echo(f"report written to {path}")
