"""What every command-line verb shares: how a radiomix error reaches the user."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from radiomix.errors import RadiomixError

EXIT_ERROR = 2
"""Exit code of a verb stopped by bad input (any radiomix error)."""


def print_error(error: Exception) -> None:
    """One red line on standard error, never a traceback."""
    Console(stderr=True).print(
        f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True
    )


def print_warning(message: str) -> None:
    """One yellow line on standard error."""
    Console(stderr=True).print(
        f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True
    )


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn a radiomix error raised in the block into one line and exit code 2."""
    try:
        yield
    except RadiomixError as error:
        print_error(error)
        raise typer.Exit(EXIT_ERROR) from None


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the verbs that train show progress bars instead."""
    import logging

    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
