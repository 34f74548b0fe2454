"""The `radiomix` command line."""

from __future__ import annotations

import typer

from radiomix import __version__
from radiomix.data.commands import validate_command
from radiomix.data.suv import suv_command

app = typer.Typer(help="Radiomics and machine learning for recurrence vs radionecrosis.",
                  no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"radiomix {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """Radiomics and machine learning for recurrence vs radionecrosis."""


app.command("validate")(validate_command)
app.command("suv")(suv_command)
