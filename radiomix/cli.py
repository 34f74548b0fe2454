"""The `radiomix` command line: one verb per stage of the pipeline."""

from __future__ import annotations

import os
import sys

import typer

from radiomix import __version__
from radiomix.commands import demo_command
from radiomix.console import EXIT_ERROR, print_error, show_library_warnings
from radiomix.data.commands import suv_command, validate_command
from radiomix.errors import RadiomixError
from radiomix.evaluation.commands import report_command, train_command
from radiomix.extras import missing_extra
from radiomix.features.commands import extract_command, ibsi_check_command
from radiomix.rules.commands import baseline_command
from radiomix.serving.commands import (
    evaluate_command,
    export_command,
    predict_command,
    serve_command,
)
from radiomix.synth.command import synth_command

app = typer.Typer(
    help="Radiomics and machine learning for recurrence vs radionecrosis.", no_args_is_help=True
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"radiomix {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Radiomics and machine learning for recurrence vs radionecrosis."""


for verb, command in (
    ("demo", demo_command),
    ("synth", synth_command),
    ("validate", validate_command),
    ("suv", suv_command),
    ("extract", extract_command),
    ("ibsi-check", ibsi_check_command),
    ("baseline", baseline_command),
    ("train", train_command),
    ("report", report_command),
    ("export", export_command),
    ("predict", predict_command),
    ("evaluate", evaluate_command),
    ("serve", serve_command),
):
    app.command(verb)(command)


def run() -> None:
    """Entry point: every radiomix error ends as one clear line and exit code 2."""
    # MLflow's per-file download bars would interleave with radiomix's own progress.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    show_library_warnings()
    try:
        app(prog_name="radiomix")
    except RadiomixError as error:
        print_error(error)
        sys.exit(EXIT_ERROR)
    except ModuleNotFoundError as error:
        extra = missing_extra(error)
        if extra is None:
            raise
        print_error(extra)
        sys.exit(EXIT_ERROR)
