"""Command-line verbs over the data layer: `radiomix validate`, `radiomix suv`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from radiomix.console import EXIT_ERROR, exit_on_error, print_error
from radiomix.errors import FrameTimingError, RadiomixError

EXIT_INVALID = EXIT_ERROR


def validate_command(
    manifest: Path = typer.Argument(..., help="The data_manifest.csv to check."),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="Extraction configuration whose grid settings apply (as in extract).",
        show_default="radiomix/configs/extraction.yaml",
    ),
) -> None:
    """Check a manifest and every file it names; exit 0 when valid, 2 when not."""
    from radiomix.data.manifest import read_manifest_table
    from radiomix.data.validate import validate_manifest
    from radiomix.features.config import load_config

    console = Console()
    try:
        grid = load_config(config).grid
        n_cases = len(read_manifest_table(manifest))
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("checking cases", total=n_cases)
            report = validate_manifest(manifest, lambda case: progress.advance(task), grid)
    except RadiomixError as error:
        print_error(error)
        raise typer.Exit(EXIT_INVALID) from None
    for problem in report.problems:
        console.print(f"[red]problem[/red] {problem}", highlight=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False, soft_wrap=True)
    print_frame_timing(manifest, console)
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


def dynamic_timings(manifest: Path) -> dict[tuple, list[str]]:
    """The readable frame timings of the manifest's ``pet_dynamic`` images (sidecars only;
    unreadable ones are already problems of the report), grouped: (starts, durations,
    flags) -> case ids."""
    from radiomix.data.manifest import read_manifest_table
    from radiomix.data.timing import read_frame_timing, timing_flags

    table = read_manifest_table(manifest)
    groups: dict[tuple, list[str]] = {}
    if "pet_dynamic" not in table.columns:
        return groups
    for case_id, file in zip(table["case_id"], table["pet_dynamic"], strict=True):
        if not file:
            continue
        try:
            timing = read_frame_timing(Path(manifest).parent / file)
        except FrameTimingError:
            continue
        key = (tuple(timing.start_s), tuple(timing.duration_s), tuple(timing_flags(timing)))
        groups.setdefault(key, []).append(case_id)
    return groups


def print_frame_timing(manifest: Path, console: Console) -> None:
    """One table of frames (minutes from the injection) per distinct timing, with its cases
    and flags: frames before the injection, gaps, no InjectionStart, ScanStart mismatch."""
    from radiomix.data.timing import FrameTiming, frame_table

    for (starts, durations, flags), case_ids in dynamic_timings(manifest).items():
        shown = ", ".join(case_ids[:5]) + (
            f" and {len(case_ids) - 5} more" if len(case_ids) > 5 else ""
        )
        table = Table(title=f"pet_dynamic frames from the injection: {shown}")
        for column in ("frame", "start (min)", "end (min)", "mid (min)"):
            table.add_column(column)
        for row in frame_table(FrameTiming(starts, durations)):
            table.add_row(
                str(row["frame"]),
                f"{row['start_min']:.2f}",
                f"{row['end_min']:.2f}",
                f"{row['mid_min']:.2f}",
            )
        console.print(table)
        for flag in flags:
            console.print(
                f"[yellow]timing[/yellow] {shown}: {flag}", highlight=False, soft_wrap=True
            )


def suv_command(
    dicom_dir: Path = typer.Argument(..., help="Folder holding one DICOM PET series."),
    out: Path = typer.Option(..., "--out", "-o", help="SUV image to write, e.g. pet.nii.gz."),
) -> None:
    """Convert a DICOM PET series (Bq/mL) to a body-weight SUV image (QIBA recipe); a dynamic
    series becomes a 4D image with its BIDS-PET sidecar (frame timing from the injection)."""
    import SimpleITK as sitk
    from rich.markup import escape

    from radiomix.data.suv import (
        is_4d,
        parameter_rows,
        pet_frames,
        suv_factor,
        suv_image,
        suv_parameters,
        write_dynamic_suv,
    )

    console = Console()
    with exit_on_error():
        frames = pet_frames(dicom_dir)
        slices = [ds for frame in frames for ds in frame]
        factors = {round(suv_factor(ds), 12) for ds in slices}
        try:
            if is_4d(frames):
                write_dynamic_suv(dicom_dir, out)
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                sitk.WriteImage(suv_image(slices, dicom_dir), str(out))
        except (OSError, RuntimeError) as error:
            raise RadiomixError(f"cannot write the SUV image {out}: {error}") from error
    table = Table(title=escape(f"SUV conversion of {dicom_dir}"))
    table.add_column("quantity")
    table.add_column("value")
    for name, value in parameter_rows(suv_parameters(slices[0]), len(factors)):
        table.add_row(escape(name), escape(value))
    console.print(table)
    console.print(
        f"[green]wrote[/green] {escape(str(out))} ({len(frames)} frame(s) of "
        f"{len(frames[0])} slices)"
    )
