"""Command-line verb over the extraction engine: `radiomix extract`."""

from __future__ import annotations

from pathlib import Path

import typer


def extract_command(
    manifest: Path = typer.Argument(..., help="The data_manifest.csv of the cohort."),
    out: Path = typer.Option(..., "--out", help="The feature table to write (parquet)."),
    config: Path | None = typer.Option(
        None, "--config", help="Extraction configuration.",
        show_default="radiomix/configs/extraction.yaml"),
    workers: int | None = typer.Option(
        None, "--workers", min=1,
        help="Dask worker processes; 1 runs serially.", show_default="number of cores"),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of a running Dask scheduler to use instead."),
    errors: Path | None = typer.Option(
        None, "--errors", help="Error report CSV.", show_default="<out stem>_errors.csv"),
) -> None:
    """Extract static/dynamic PET, MRI and texture features, one row per case.

    Results are cached per case (content-keyed), so a re-run only computes new or changed
    cases. A case that fails is listed in the error report and the others complete.
    """
    from rich.console import Console

    from radiomix.console import exit_on_error
    from radiomix.features.engine import extract_features, sibling

    console = Console()
    with exit_on_error():
        result = extract_features(manifest, out, config=config, workers=workers,
                                  scheduler=scheduler, errors=errors)
    failures = result.errors[result.errors["kind"] == "error"]
    console.print(f"{len(result.table)} cases ({result.n_computed} computed, "
                  f"{result.n_cached} from cache) -> {out}")
    console.print(f"{len(result.errors)} report line(s), {len(failures)} failure(s) in "
                  f"{errors or sibling(out, '_errors.csv')}")
    if len(result.curves) and result.table["label"].notna().any():
        from radiomix.evaluation.plots import curves_plot

        figure = curves_plot(result.curves, result.table, sibling(out, "_curves.png"))
        console.print(f"time-activity curves per class: {figure}")
