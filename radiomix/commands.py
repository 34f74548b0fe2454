"""Command-line verb spanning every stage: `radiomix demo`."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from radiomix.demo import DEMO_OUT, run_demo
from radiomix.tracking import SHOWN_DEFAULT_URI


def demo_command(
    out: Path = typer.Option(DEMO_OUT, "--out", help="Folder for the demo's results."),
    workers: int = typer.Option(
        None,
        "--workers",
        help="Worker processes of the synthesis, validation and extraction.",
        show_default="number of cores",
    ),
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI.", show_default=SHOWN_DEFAULT_URI
    ),
) -> None:
    """Run synth → validate → extract → baseline → train → report → export on the demo cohort."""
    from radiomix.console import quiet_optuna

    console = Console()
    quiet_optuna()
    result = run_demo(out, workers, tracking_uri, _StepRules(console))
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


class _StepRules:
    """Draws each demo step as a rule with the time since the start."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.start = time.perf_counter()

    def __call__(self, title: str, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        if done < total:
            self.console.rule(f"[bold]{done + 1}/{total} {title}[/bold] ({elapsed:.0f} s)")
        else:
            self.console.rule(f"done in {elapsed:.0f} s")


def _best_rule(rules: dict) -> tuple[str, dict] | None:
    scored = [
        (rule, values)
        for rule, values in rules.items()
        if values.get("auc") is not None and values["auc"] == values["auc"]
    ]
    return max(scored, key=lambda item: item[1]["auc"], default=None)
