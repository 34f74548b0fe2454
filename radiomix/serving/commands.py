"""Command-line entry points of the serving stage (`radiomix export`, `predict`, `evaluate`)."""

from __future__ import annotations

from pathlib import Path

import typer

from radiomix.serving import MAX_MISSING
from radiomix.tracking import SHOWN_DEFAULT_URI


def export_command(
    run_id: str = typer.Argument(..., help="MLflow run id of a `radiomix train` parent run."),
    out: Path = typer.Option(..., "--out", help="Model folder to create, e.g. models/NAME."),
    register: str | None = typer.Option(
        None, "--register", help="Also register the model under this name in the registry."
    ),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI.", show_default=SHOWN_DEFAULT_URI
    ),
) -> None:
    """Export a trained model as an MLflow pyfunc model with checksums and a model card.

    With $RADIOMIX_MODEL_KEY set, the checksums are signed with that key.
    """
    from radiomix.console import exit_on_error
    from radiomix.serving.export import export_model

    with exit_on_error():
        path = export_model(run_id, out, tracking_uri, register)
    typer.echo(f"model written to {path}" + (f", registered as {register}" if register else ""))


def predict_command(
    model: str = typer.Option(
        ..., "--model", help="Exported model folder or MLflow URI (models:/NAME/1)."
    ),
    input: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Feature table (parquet/CSV) or data manifest (CSV)."
    ),
    out: Path = typer.Option(Path("predictions.csv"), "--out", help="Predictions CSV."),
    top: int = typer.Option(3, "--top", min=0, help="Top SHAP features listed per case."),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Fail on unused columns and on values beyond the training "
        "range instead of ignoring and reporting them.",
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow store of a models:/ or runs:/ URI.",
        show_default=SHOWN_DEFAULT_URI,
    ),
    max_missing: float = typer.Option(
        MAX_MISSING,
        "--max-missing",
        min=0.0,
        max=1.0,
        help="Largest fraction of missing (imputed) inputs a case may have and still get a "
        "decision.",
    ),
) -> None:
    """Probability of recurrence, decision, top SHAP features and novelty flag per case.

    A case missing more than --max-missing of the model's inputs, or whose extraction failed,
    gets no decision (column `refused`); the exit code is then 2, after every other case is
    written. With $RADIOMIX_MODEL_KEY set, the model must be signed with that key.
    """
    from radiomix.console import EXIT_ERROR, exit_on_error, print_error
    from radiomix.outputs import writable_file
    from radiomix.serving.predict import predict

    with exit_on_error():
        writable_file(out, "predictions file")
        predictions = predict(
            model, input, top=top, strict=strict, tracking_uri=tracking_uri, max_missing=max_missing
        )
    predictions.to_csv(out, index=False, float_format="%.17g")
    novel = int(predictions["novel"].sum())
    typer.echo(f"{len(predictions)} case(s) scored, {novel} flagged as novel: {out}")
    refused = predictions["refused"] != ""
    if refused.any():
        ids = predictions.get("case_id", predictions.index)
        print_error(
            RuntimeError(
                f"{refused.sum()} case(s) refused (inputs mostly missing or "
                f"extraction failed): {', '.join(map(str, ids[refused]))}; "
                f"see {out}"
            )
        )
        raise typer.Exit(EXIT_ERROR)


def evaluate_command(
    input: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help="Labelled feature table (parquet/CSV) or data manifest.",
    ),
    model: str = typer.Option(
        ..., "--model", help="Exported model folder or MLflow URI (models:/NAME/1)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Folder for metrics.json, predictions.csv, figures and report.html."
    ),
    rules: Path | None = typer.Option(
        None, "--rules", help="Rules file.", show_default="radiomix/configs/rules.yaml"
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow store of a models:/ or runs:/ URI.",
        show_default=SHOWN_DEFAULT_URI,
    ),
) -> None:
    """Evaluate an exported model on new labelled cases: AUC with CI, calibration, decision
    curves, confusion matrix at the exported threshold, the rules on the same cases.

    Model files run code when loaded: use only models from a trusted source.
    """
    from radiomix.console import exit_on_error
    from radiomix.serving.evaluate import evaluate

    with exit_on_error():
        result = evaluate(model, input, out, tracking_uri, rules)
    model_metrics = result.metrics["model"]
    low, high = model_metrics["auc_ci"]
    interval = "" if low is None else f" (95 % CI {low:.3f}-{high:.3f})"
    typer.echo(
        f"AUC {model_metrics['auc']:.3f}{interval} on {result.metrics['n_cases']} "
        f"case(s) of {result.metrics['n_patients']} patient(s): "
        f"{result.paths['report']}"
    )


def serve_command(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Exported model folder."),
    port: int = typer.Option(5001, "--port", help="Port of the REST server."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (loopback unless told otherwise)."
    ),
) -> None:
    """Verify the model's checksums (and signature, with $RADIOMIX_MODEL_KEY set), then serve
    it over REST with `mlflow models serve` in this environment.

    Nothing of the model folder is read by MLflow before the verification passes; sign models
    with $RADIOMIX_MODEL_KEY so that a folder edited together with its checksums is refused.
    """
    import os
    import shutil
    import sys

    from radiomix.console import exit_on_error
    from radiomix.serving.checksums import verify_checksums

    with exit_on_error():
        verify_checksums(model)
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    os.execv(
        mlflow,
        [
            mlflow,
            "models",
            "serve",
            "-m",
            str(model),
            "--env-manager",
            "local",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
    )
