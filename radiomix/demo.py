"""The whole pipeline on the demo cohort: synth → validate → extract → baseline → train →
report → export. `radiomix demo` (radiomix/commands.py) draws its steps."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from radiomix.paths import EXPERIMENTS_DIR

LOG = logging.getLogger(__name__)

# The demo cohort and its results live in the current folder; the experiment ships inside
# the package.
DEMO_MANIFEST = Path("data_manifest.csv")
DEMO_EXPERIMENT = EXPERIMENTS_DIR / "demo_all.yaml"
DEMO_OUT = Path("runs") / "demo"
STEPS = 7

Progress = Callable[[str, int, int], None]
"""Progress callback: (title of the step starting, steps done, steps in total); the title is
"done" once every step has run."""


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
    progress: Progress | None = None,
    manifest: Path = DEMO_MANIFEST,
    experiment: Path = DEMO_EXPERIMENT,
) -> DemoResult:
    """Run the whole pipeline on the embedded synthetic cohort and write its report.

    ``manifest`` and ``experiment`` default to the demo cohort and the packaged ``demo_all.yaml``;
    the experiment's input table is replaced by the features extracted here.
    """
    from threadpoolctl import threadpool_limits

    # Each step runs its parallel work in processes, one per core (synthesis, validation,
    # extraction, outer folds): BLAS threads in this process would only compete with them
    # (the export's novelty detector took 18 times the CPU with two OpenBLAS threads on a busy
    # machine). The synthetic images are the same bits either way.
    with threadpool_limits(limits=1):
        return _pipeline(out, workers, tracking_uri, progress, manifest, experiment)


def _pipeline(
    out: Path,
    workers: int | None,
    tracking_uri: str | None,
    progress: Progress | None,
    manifest: Path,
    experiment: Path,
) -> DemoResult:
    """The steps of ``run_demo``."""
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

    out.mkdir(parents=True, exist_ok=True)
    step = _Steps(progress)

    step(f"synthetic cohort, texture scenario '{demo_scenario()}' (generated once, then reused)")
    ensure_demo_cohort(manifest, workers=workers)
    step("validate the manifest and its files")
    # The extraction checks the plausibility of every case's values before its features.
    report = validate_manifest(manifest, plausibility=False, workers=workers)
    if not report.valid:
        raise ManifestError(f"{manifest} is invalid:\n" + "\n".join(map(str, report.problems)))
    step("extract features")
    features = out / "features.parquet"
    extraction = extract_features(manifest, features, workers=workers, errors=out / "errors.csv")
    step("rule-based baseline")
    baseline = out / "baseline.csv"
    baseline_report(extraction.table, load_rules()).to_csv(baseline, index=False)
    parameter_report(extraction.table, load_rules()).to_csv(
        out / "baseline_parameters.csv", index=False
    )
    step("nested cross-validation")
    config = load_experiment(experiment)
    config.input.table = features
    result = run_experiment(config, out / config.name, tracking_uri=tracking_uri)
    step("report")
    page = build_report(result.run_id, out / "report.html", tracking_uri=result.tracking_uri)
    step("export the final model")
    model = out / "model"
    shutil.rmtree(model, ignore_errors=True)
    export_model(result.run_id, model, tracking_uri=result.tracking_uri)
    step.finish()
    return DemoResult(features, baseline, result.run_id, page, model, result.metrics)


class _Steps:
    """Logs each step as it starts and reports it to the progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0

    def __call__(self, title: str) -> None:
        LOG.info("demo step %d/%d: %s", self.done + 1, STEPS, title)
        self._report(title)
        self.done += 1

    def finish(self) -> None:
        LOG.info("demo done")
        self._report("done")

    def _report(self, title: str) -> None:
        if self.progress:
            self.progress(title, self.done, STEPS)
