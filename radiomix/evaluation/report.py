"""One self-contained HTML page for an experiment run or an evaluation (readable offline).

The page is rendered from the Jinja2 template `templates/report.html.j2`; figures are
embedded as base64 PNG, nothing is fetched at view time.
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from jinja2 import Environment
    from mlflow.entities import Run

CAPTIONS = {
    "roc": "ROC curve of the model on all cases",
    "confusion": "Confusion matrix at the model's threshold",
    "calibration": "Calibration (observed frequency per quantile bin of predicted probability)",
    "roc_by_population": "Per rule population: the model's ROC curve, the parameter's ROC curve "
    "and the rule's cut-off, all on the same cases",
    "decision_curves": "Decision curves: net benefit of the model, the rules, treat all, none",
    "shap_summary": "SHAP summary of the final model",
    "optuna_history": "Optuna search history (final model)",
}
GROUP_NAMES = {
    "texture": "texture",
    "firstorder": "first-order & shape",
    "pet": "static PET",
    "dyn": "dynamic PET",
    "fdg": "FDG dual-phase",
    "mri": "MRI",
    "mrs": "MR spectroscopy",
    "clinical": "clinical",
}
COHORT_COLUMNS = ("tracer", "primary", "site")
LINEAGE_HIDDEN = ("features", "excluded_non_numeric")


def _number(value: object, digits: int = 3) -> str:
    """A number for the page: floats rounded, missing as a dash."""
    if (
        value is None
        or (isinstance(value, float) and value != value)
        or (not isinstance(value, str | int | float))
    ):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("radiomix.evaluation", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    environment.globals["num"] = _number
    return environment


def cohort_rows(predictions: pd.DataFrame) -> list[dict]:
    """Cases, patients and classes in all and per tracer, primary tumour and site."""

    def row(name: str, part: pd.DataFrame) -> dict:
        positive = int(part["y_true"].sum())
        return {
            "group": name,
            "cases": len(part),
            "patients": part["patient_id"].nunique(),
            "positive": positive,
            "negative": len(part) - positive,
        }

    rows = [row("all", predictions)]
    for column in COHORT_COLUMNS:
        if column in predictions.columns:
            rows += [
                row(f"{column} = {level}", part)
                for level, part in predictions.groupby(predictions[column].astype(str))
            ]
    return rows


def _item(item: str, done: bool | None, evidence: str) -> dict:
    """One checklist row: done True (provided), False (not in this run), None (authors)."""
    status, css = {
        True: ("provided", "yes"),
        False: ("not in this run", "no"),
        None: ("authors to report", "part"),
    }[done]
    return {"item": item, "status": status, "css": css, "evidence": evidence}


def checklist(metrics: dict, lineage: dict, kind: str, outer_cv: str | None) -> list[dict]:
    """TRIPOD+AI / CLAIM reporting items and whether this run provides them."""
    external = kind == "external"
    site_cv = outer_cv == "leave_one_site_out"
    return [
        _item(
            "Source of data, eligibility, outcome definition and reference standard "
            "(TRIPOD+AI, CLAIM)",
            None,
            "study design: not known to the software",
        ),
        _item(
            "Participants: numbers of cases and patients, outcome counts per subgroup "
            "(TRIPOD+AI participants; CLAIM data)",
            True,
            "Cohort table",
        ),
        _item(
            "Data partitions at the patient level, no leakage (CLAIM data partitions)",
            True,
            "external cases"
            if external
            else (
                "leave-one-site-out outer CV, patients within one site"
                if site_cv
                else "outer and inner folds grouped by patient_id"
            ),
        ),
        _item(
            "Model type, hyper-parameter tuning and internal validation (TRIPOD+AI "
            "analytical methods; CLAIM training)",
            not external or None,
            "nested CV with an optuna search inside each training fold; Outer folds"
            if not external
            else "see the training run's report",
        ),
        _item(
            "Performance with confidence intervals accounting for clustering "
            "(TRIPOD+AI performance measures; CLAIM statistical measures)",
            True,
            f"intervals clustered by {metrics.get('clustered_by')}",
        ),
        _item("Calibration (TRIPOD+AI)", True, "calibration slope, intercept, Brier; figure"),
        _item("Clinical utility: decision curve analysis (TRIPOD+AI)", True, "Decision curves"),
        _item(
            "Comparison with the current standard on the same cases, multiplicity "
            "controlled (CLAIM)",
            bool(metrics.get("rules")),
            "published rules on their own populations; Holm-adjusted p-values",
        ),
        _item(
            "Performance in subgroups: tracer, primary tumour, site (TRIPOD+AI fairness "
            "and heterogeneity)",
            bool(metrics.get("subgroups")),
            "Subgroups",
        ),
        _item(
            "External or internal-external validation (TRIPOD+AI; CLAIM external testing)",
            external or site_cv,
            "radiomix evaluate on new labelled cases"
            if external
            else (
                "leave-one-site-out"
                if site_cv
                else "run radiomix evaluate on new cases or outer_cv: leave_one_site_out"
            ),
        ),
        _item(
            "Explainability (CLAIM)",
            not external or None,
            "SHAP of the final model" if not external else "per-case SHAP in predictions",
        ),
        _item(
            "Software, versions and input hashes (TRIPOD+AI open science)",
            bool(lineage.get("radiomix_version")),
            "Lineage",
        ),
        _item(
            "Missing data handling (TRIPOD+AI)",
            None,
            "imputation is fitted inside each training fold; the amount missing per "
            "feature and its reason are for the authors",
        ),
        _item(
            "Ethics approval, funding, conflicts, registration (TRIPOD+AI)",
            None,
            "not known to the software",
        ),
    ]


def _figures(folder: Path) -> dict[str, str]:
    return {
        name: base64.b64encode((folder / f"{name}.png").read_bytes()).decode("ascii")
        for name in CAPTIONS
        if (folder / f"{name}.png").is_file()
    }


def _shap(folder: Path, top: int = 15) -> list[dict]:
    path = folder / "shap_mean_abs.csv"
    if not path.is_file():
        return []
    import pandas as pd

    table = pd.read_csv(path).head(top)
    return [{"feature": r.feature, "value": float(r.mean_abs_shap)} for r in table.itertuples()]


def lineage_rows(lineage: dict, params: dict) -> list[tuple[str, str]]:
    """Lineage first, then the run parameters it does not already hold; each key once."""
    rows = {key: value for key, value in lineage.items() if key not in LINEAGE_HIDDEN}
    if "features" in lineage:
        rows["n_features"] = len(lineage["features"])
    for key, value in sorted(params.items()):
        rows.setdefault(key, value)
    return [(key, "–" if value is None else str(value)) for key, value in rows.items()]


def render_page(
    folder: Path,
    predictions: pd.DataFrame,
    *,
    title: str,
    subtitle: str,
    kind: str,
    lineage: dict,
    params: dict | None = None,
    folds: list[dict] | None = None,
) -> str:
    """The HTML page of the metrics, figures and lineage in `folder`."""
    metrics = json.loads((folder / "metrics.json").read_text())
    params = params or {}
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            subtitle=subtitle,
            kind=kind,
            metrics=metrics,
            cohort=cohort_rows(predictions),
            figures=_figures(folder),
            captions=CAPTIONS,
            group_names=GROUP_NAMES,
            folds=folds or [],
            shap=_shap(folder),
            checklist=checklist(metrics, lineage, kind, params.get("outer_cv")),
            lineage=lineage_rows(lineage, params),
        )
    )


def _fold_rows(folds: pd.DataFrame) -> list[dict]:
    """Child runs by repeat, then fold, as template rows."""
    if folds.empty:
        return []
    keys = folds[["params.repeat", "params.fold"]].astype(int)
    ordered = folds.loc[keys.sort_values(["params.repeat", "params.fold"]).index]
    return [
        {
            "repeat": row["params.repeat"],
            "fold": row["params.fold"],
            "model": row.get("params.best_model"),
            "test_auc": row.get("metrics.test_auc"),
            "inner_auc": row.get("metrics.inner_auc"),
            "threshold": row.get("metrics.threshold"),
        }
        for _, row in ordered.iterrows()
    ]


def render_run(folder: Path, run: Run) -> str:
    """The page of the MLflow training run `run` whose artifacts are in `folder`."""
    import mlflow
    import pandas as pd

    from radiomix.errors import ConfigError

    if not (folder / "metrics.json").is_file():
        raise ConfigError(f"run {run.info.run_id} has no metrics.json: not an experiment run")
    folds = mlflow.search_runs(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'",
    )
    predictions = pd.read_csv(folder / "oof_predictions.csv")
    lineage = json.loads((folder / "lineage.json").read_text())
    lineage["radiomix_version"] = run.data.tags.get("radiomix.version")
    return render_page(
        folder,
        predictions[predictions["repeat"] == 0],
        title=run.info.run_name or run.info.run_id,
        subtitle=f"MLflow run {run.info.run_id}",
        kind="out-of-fold",
        lineage=lineage,
        params=run.data.params,
        folds=_fold_rows(folds),
    )


def write_run_report(run_id: str, folder: Path, out: Path) -> Path:
    """Write the page of the run `run_id` (tracking URI already set) from `folder`."""
    import mlflow

    out.write_text(render_run(folder, mlflow.get_run(run_id)), encoding="utf-8")
    return out


def build_report(run_id: str, out: str | Path, tracking_uri: str | None = None) -> Path:
    """Write the self-contained HTML report of the parent run `run_id` to `out`."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from radiomix.errors import ConfigError
    from radiomix.outputs import writable_file
    from radiomix.tracking import check_tracking_store, resolve_tracking_uri, using_tracking_uri

    out = writable_file(out, "report")
    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_store(uri)
    with using_tracking_uri(uri), tempfile.TemporaryDirectory() as tmp:
        try:
            run = mlflow.get_run(run_id)
            folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=tmp))
            page = render_run(folder, run)
        except MlflowException as error:
            raise ConfigError(f"cannot read MLflow run {run_id} at {uri}: {error}") from error
    out.write_text(page, encoding="utf-8")
    return out
