"""Command-line verb over the evaluation layer: `radiomix report`."""

from __future__ import annotations

from pathlib import Path

import typer

from radiomix.tracking import SHOWN_DEFAULT_URI


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
