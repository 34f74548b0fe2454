"""What every command-line verb shares: how a radiomix error, a warning the library logs and
its progress reach the user."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
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


class _WarningLines(logging.Handler):
    """Shows each warning the radiomix library logs as one `warning:` line."""

    def emit(self, record: logging.LogRecord) -> None:
        print_warning(record.getMessage())


def show_library_warnings() -> None:
    """Show the warnings of the radiomix loggers on standard error (once per process)."""
    logger = logging.getLogger("radiomix")
    if not any(isinstance(handler, _WarningLines) for handler in logger.handlers):
        logger.addHandler(_WarningLines(logging.WARNING))


@contextmanager
def progress_bar(
    description: str, console: Console | None = None
) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` drawing a transient bar, redrawn on each call (no
    refresh thread, so worker processes fork from a single-threaded process)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def draw(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, refresh=True)

        yield draw


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
