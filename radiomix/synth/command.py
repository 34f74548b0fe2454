"""`radiomix synth`: the command-line entry of the simulator."""

from __future__ import annotations

from pathlib import Path

import typer

# Default cohort size: enough cases in every published rule's population for its Se/Sp to
# fall inside the published interval in most single cohorts (docs/synth.md, calibration)
DEFAULT_PATIENTS = 600


def synth_command(
    n_patients: int = typer.Option(
        DEFAULT_PATIENTS,
        "--n-patients",
        min=1,
        help="Number of patients (the default gives every published rule's population enough "
        "cases to measure its Se/Sp).",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same files."),
    out: Path = typer.Option(..., "--out", help="Output folder for images, manifest and truth."),
    config: Path | None = typer.Option(
        None, "--config", help="Simulator YAML.", show_default="radiomix/configs/synth/default.yaml"
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes.", show_default="number of cores"
    ),
    scenario: str | None = typer.Option(
        None,
        "--scenario",
        help="Texture scenario: null (texture carries no class "
        "information beyond the rule parameters) or informative (default: the config's).",
    ),
) -> None:
    """Generate a synthetic multi-parametric PET/MRI cohort with its manifest and truth."""
    from radiomix.console import exit_on_error, progress_bar
    from radiomix.outputs import writable_folder
    from radiomix.synth.cohort import synthesize_cohort

    with exit_on_error(), progress_bar("synthesising patients") as progress:
        manifest = synthesize_cohort(
            writable_folder(out), n_patients, seed, config, workers, scenario, progress
        )
    typer.echo(f"wrote {manifest} and {manifest.parent / 'truth.csv'}")
