"""Command-line verbs of the evaluation layer: `radiomix train` and `radiomix report`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from radiomix.tracking import SHOWN_DEFAULT_URI

if TYPE_CHECKING:
    from rich.progress import TaskID


def report_command(
    run_id: str = typer.Argument(..., help="MLflow id of the experiment's parent run."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI.", show_default=SHOWN_DEFAULT_URI
    ),
) -> None:
    """Write one self-contained HTML page with the tables and figures of an experiment run."""
    from radiomix.console import exit_on_error
    from radiomix.evaluation.report import build_report

    with exit_on_error():
        path = build_report(run_id, out, tracking_uri)
    typer.echo(f"report written to {path}")


def train_command(
    experiment: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Experiment YAML (see experiments/README.md)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output folder.", show_default="runs/<experiment name>"
    ),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI.", show_default=SHOWN_DEFAULT_URI
    ),
    table: Path | None = typer.Option(
        None, "--table", help="Feature table to use instead of the experiment's input."
    ),
    permutations: int = typer.Option(
        0,
        "--permutations",
        min=0,
        help="Rerun the nested CV on N patient-grouped label permutations and report the "
        "permutation p-value of the AUC (0: no test).",
    ),
    drop_bad_data: bool = typer.Option(
        False,
        "--drop-bad-data",
        help="Drop repeated ids, number columns holding text and empty feature columns "
        "(listed) instead of refusing the table.",
    ),
) -> None:
    """Nested cross-validation with optuna, final model, metrics, SHAP; tracked in MLflow."""
    import json

    from radiomix.console import exit_on_error, quiet_optuna
    from radiomix.evaluation.experiment import run_experiment
    from radiomix.modeling.config import load_experiment

    quiet_optuna()
    with exit_on_error(), _progress_bars() as progress:
        config = load_experiment(experiment)
        if table is not None:
            config.input.table = table.resolve()
        config.input.drop_bad_data |= drop_bad_data
        result = run_experiment(
            config, out or Path("runs") / config.name, tracking_uri, permutations, progress
        )
    headline = result.metrics["headline"]
    summary = {
        "run_id": result.run_id,
        "auc": headline["auc"],
        "auc_sd": headline["auc_sd"],
        "auc_pooled_ci": headline["auc_pooled_ci"],
        "brier": headline["brier"],
        "brier_prevalence": headline["brier_prevalence"],
        "baseline_auc": result.metrics["baseline"]["auc"],
        "out": str(result.out_dir),
    }
    if "permutation" in result.metrics:
        summary["permutation_p"] = result.metrics["permutation"]["p_value"]
    typer.echo(json.dumps(summary, indent=2))


@contextmanager
def _progress_bars() -> Iterator[Callable[[str, int, int], None]]:
    """Rich progress bars, one per stage, driven by the runner's progress callback."""
    from rich.progress import Progress

    tasks: dict[str, TaskID] = {}
    with Progress(transient=True) as bars:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update
