"""Command-line entry point of the modelling stage (`radiomix train`)."""

from __future__ import annotations

from pathlib import Path

import typer


def train_command(
    experiment: Path = typer.Argument(..., exists=True, dir_okay=False,
                                      help="Experiment YAML (see experiments/README.md)."),
    out: Path | None = typer.Option(None, "--out",
                                    help="Output folder [default: runs/<experiment name>]."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri",
        help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI, else sqlite:///~/.radiomix/mlflow.db]."),
    table: Path | None = typer.Option(
        None, "--table", help="Feature table to use instead of the experiment's input."),
    permute_labels: bool = typer.Option(
        False, "--permute-labels",
        help="Shuffle the labels first (leakage check: the AUC should be near 0.5)."),
) -> None:
    """Nested cross-validation with optuna, final model, metrics, SHAP; tracked in MLflow."""
    import json

    from radiomix.console import exit_on_error
    from radiomix.modeling.config import load_experiment
    from radiomix.modeling.experiment import run_experiment

    with exit_on_error():
        config = load_experiment(experiment)
        if table is not None:
            config.input.table = table.resolve()
        result = run_experiment(config, out or Path("runs") / config.name, tracking_uri,
                                permute_labels)
    model = result.metrics["model"]
    typer.echo(json.dumps({"run_id": result.run_id, "auc": model["auc"],
                           "auc_ci": model["auc_ci"], "out": str(result.out_dir)}, indent=2))
