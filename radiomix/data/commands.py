"""Command-line verbs over the data layer: `radiomix validate`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from radiomix.console import EXIT_ERROR, print_error
from radiomix.data.manifest import read_manifest_table
from radiomix.data.validate import validate_manifest
from radiomix.errors import RadiomixError

EXIT_INVALID = EXIT_ERROR


def validate_command(
    manifest: Path = typer.Argument(..., help="The data_manifest.csv to check."),
) -> None:
    """Check a manifest and every file it names; exit 0 when valid, 2 when not."""
    console = Console()
    try:
        n_cases = len(read_manifest_table(manifest))
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("checking cases", total=n_cases)
            report = validate_manifest(manifest, lambda case: progress.advance(task))
    except RadiomixError as error:
        print_error(error)
        raise typer.Exit(EXIT_INVALID) from None
    for problem in report.problems:
        console.print(f"[red]problem[/red] {problem}", highlight=False, soft_wrap=True)
    for name, counts in report.summary.items():
        table = Table(title=f"cases per {name}" if name != "modalities" else "modalities")
        for column in counts.columns:
            table.add_column(str(column))
        for row in counts.itertuples(index=False):
            table.add_row(*(str(value) for value in row))
        console.print(table)
    if not report.valid:
        console.print(f"[red]{len(report.problems)} problem(s)[/red] in {report.manifest}")
        raise typer.Exit(EXIT_INVALID)
    console.print(f"[green]valid[/green]: {n_cases} cases in {report.manifest}")
