"""`radiomix demo`: synth → validate → extract → baseline → train → report → export."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

from radiomix.paths import EXPERIMENTS_DIR
from radiomix.tracking import SHOWN_DEFAULT_URI

# The demo cohort and its results live in the current folder; the experiment ships inside
# the package.
DEMO_MANIFEST = Path("data_manifest.csv")
DEMO_EXPERIMENT = EXPERIMENTS_DIR / "demo_all.yaml"
DEMO_OUT = Path("runs") / "demo"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its results."""

    features: Path
    baseline: Path
    run_id: str
    report: Path
    model: Path
    metrics: dict


def run_demo(
    out: Path = DEMO_OUT,
    workers: int | None = None,
    tracking_uri: str | None = None,
    console: Console | None = None,
    manifest: Path = DEMO_MANIFEST,
    experiment: Path = DEMO_EXPERIMENT,
) -> DemoResult:
    """Run the whole pipeline on the embedded synthetic cohort and write its report.

    ``manifest`` and ``experiment`` default to the demo cohort and the packaged ``demo_all.yaml``;
    the experiment's input table is replaced by the features extracted here.
    """
    from radiomix.data.validate import validate_manifest
    from radiomix.errors import ManifestError
    from radiomix.evaluation.experiment import run_experiment
    from radiomix.evaluation.report import build_report
    from radiomix.features import extract_features
    from radiomix.modeling.config import load_experiment
    from radiomix.rules import baseline_report, load_rules, parameter_report
    from radiomix.serving.export import export_model
    from radiomix.synth import ensure_demo_cohort
    from radiomix.synth.demo import demo_scenario

    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)
    step = _Steps(console)

    step(
        f"1/7 synthetic cohort, texture scenario '{demo_scenario()}' (generated once, then reused)"
    )
    ensure_demo_cohort(manifest)
    step("2/7 validate the manifest")
    report = validate_manifest(manifest)
    if not report.valid:
        raise ManifestError(f"{manifest} is invalid:\n" + "\n".join(map(str, report.problems)))
    step("3/7 extract features")
    features = out / "features.parquet"
    extraction = extract_features(manifest, features, workers=workers, errors=out / "errors.csv")
    step("4/7 rule-based baseline")
    baseline = out / "baseline.csv"
    baseline_report(extraction.table, load_rules()).to_csv(baseline, index=False)
    parameter_report(extraction.table, load_rules()).to_csv(
        out / "baseline_parameters.csv", index=False
    )
    step("5/7 nested cross-validation")
    config = load_experiment(experiment)
    config.input.table = features
    result = run_experiment(config, out / config.name, tracking_uri=tracking_uri)
    step("6/7 report")
    page = build_report(result.run_id, out / "report.html", tracking_uri=result.tracking_uri)
    step("7/7 export the final model")
    model = out / "model"
    shutil.rmtree(model, ignore_errors=True)
    export_model(result.run_id, model, tracking_uri=result.tracking_uri)
    step.done()
    return DemoResult(features, baseline, result.run_id, page, model, result.metrics)


class _Steps:
    """Prints each step with the time since the start."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.start = time.perf_counter()

    def __call__(self, title: str) -> None:
        elapsed = time.perf_counter() - self.start
        self.console.rule(f"[bold]{title}[/bold] ({elapsed:.0f} s)")

    def done(self) -> None:
        self.console.rule(f"done in {time.perf_counter() - self.start:.0f} s")


def demo_command(
    out: Path = typer.Option(DEMO_OUT, "--out", help="Folder for the demo's results."),
    workers: int = typer.Option(
        None, "--workers", help="Extraction workers.", show_default="number of cores"
    ),
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI.", show_default=SHOWN_DEFAULT_URI
    ),
) -> None:
    """Run synth → validate → extract → baseline → train → report → export on the demo cohort."""
    from radiomix.console import quiet_optuna

    console = Console()
    quiet_optuna()
    result = run_demo(out, workers, tracking_uri, console)
    headline = result.metrics["headline"]
    low, high = headline["auc_pooled_ci"]
    console.print(
        f"model AUC {headline['auc']:.3f} ± {headline['auc_sd']:.3f} over the outer "
        f"repeats (pooled 95 % CI {low:.3f}–{high:.3f}, patient-clustered)"
    )
    best = _best_rule(result.metrics["rules"])
    if best:
        rule, values = best
        console.print(
            f"best single rule {rule}: AUC {values['auc']:.3f} vs model "
            f"{values['model_auc_same_cases']:.3f} on the same {values['n']} cases, "
            f"clustered paired test p = {values['delong_p_vs_model']:.3g} "
            f"(Holm-adjusted over the rules {values['delong_p_holm_vs_model']:.3g})"
        )
    console.print(
        f"features {result.features}\nbaseline {result.baseline}\n"
        f"MLflow run {result.run_id}\nreport {result.report}\nmodel {result.model}"
        f" (score new cases: radiomix predict --model {result.model} INPUT --out "
        "predictions.csv)"
    )


def _best_rule(rules: dict) -> tuple[str, dict] | None:
    scored = [
        (rule, values)
        for rule, values in rules.items()
        if values.get("auc") is not None and values["auc"] == values["auc"]
    ]
    return max(scored, key=lambda item: item[1]["auc"], default=None)
