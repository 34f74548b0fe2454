"""Command-line verbs over the features layer: `radiomix extract`, `radiomix ibsi-check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def extract_command(
    manifest: Path = typer.Argument(..., help="The data_manifest.csv of the cohort."),
    out: Path = typer.Option(..., "--out", help="The feature table to write (parquet)."),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="Extraction configuration.",
        show_default="radiomix/configs/extraction.yaml",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Local worker processes; 1 runs serially.",
        show_default="number of cores",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Address of a running Dask scheduler (e.g. tcp://host:8786) to run the cases on "
        "instead; its workers must see the manifest's files at the same paths.",
    ),
    errors: Path | None = typer.Option(
        None, "--errors", help="Error report CSV.", show_default="<out stem>_errors.csv"
    ),
) -> None:
    """Extract static/dynamic PET, MRI and texture features, one row per case.

    Results are cached per case (content-keyed), so a re-run only computes new or changed
    cases. A case that fails is listed in the error report and the others complete; the exit
    code is then 2.
    """
    from radiomix.console import EXIT_ERROR, exit_on_error, print_error, progress_bar
    from radiomix.features.engine import extract_features, sibling

    console = Console()
    with exit_on_error(), progress_bar("extracting features", console) as progress:
        result = extract_features(
            manifest,
            out,
            config=config,
            workers=workers,
            scheduler=scheduler,
            errors=errors,
            progress=progress,
        )
    failures = result.errors[result.errors["kind"] == "error"]
    console.print(
        f"{len(result.table)} cases ({result.n_computed} computed, "
        f"{result.n_cached} from cache) -> {out}"
    )
    console.print(
        f"{len(result.errors)} report line(s), {len(failures)} failure(s) in "
        f"{errors or sibling(out, '_errors.csv')}"
    )
    if len(result.curves) and result.table["label"].notna().any():
        from radiomix.features.figures import curves_plot

        figure = curves_plot(result.curves, result.table, sibling(out, "_curves.png"))
        console.print(f"time-activity curves per class: {figure}")
    if len(failures):
        failed = failures["case_id"].unique()
        print_error(
            RuntimeError(
                f"{len(failed)} case(s) failed in part: {', '.join(failed)}; "
                f"see {errors or sibling(out, '_errors.csv')}"
            )
        )
        raise typer.Exit(EXIT_ERROR)


def ibsi_check_command(
    out: Annotated[Path, typer.Option(help="CSV file for the per-feature report.")] = Path(
        "ibsi_report.csv"
    ),
    shared: Annotated[
        Path | None,
        typer.Option(help="Folder of the external reference data (holding ibsi/)."),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset",
            "-d",
            help="Data set to check, repeatable: 'phantom' (digital phantom) or a CT phantom "
            "configuration A, B, C, D, E. Default: all six.",
        ),
    ] = None,
) -> None:
    """Check radiomix' features against the IBSI digital phantom and CT phantom (configs A–E)."""
    from rich.console import Console
    from rich.table import Table

    from radiomix.console import progress_bar
    from radiomix.features.ibsi import DATASETS, DEFAULT_SHARED, ibsi_check, summarise

    datasets = [name.strip() for name in dataset] if dataset else list(DATASETS)
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise typer.BadParameter(f"unknown data set(s) {unknown}; choose from {list(DATASETS)}")
    with progress_bar("IBSI data sets") as progress:
        report = ibsi_check(shared or DEFAULT_SHARED, datasets, progress=progress)
    report.to_csv(out, index=False)
    table = Table(title="IBSI conformance: matched / mapped / unmapped per family")
    for column in ("configuration", "family", "matched", "mapped", "unmapped"):
        table.add_column(column)
    for (configuration, family), counts in summarise(report).iterrows():
        table.add_row(
            str(configuration),
            str(family),
            *(str(counts[c]) for c in ("matched", "mapped", "unmapped")),
        )
    console = Console()
    console.print(table)
    console.print(f"report written to {out}")
