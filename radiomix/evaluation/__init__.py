"""Evaluation: the nested cross-validated experiment, its figures and its HTML report.

`run_experiment` runs an experiment file (nested CV, final model, metrics, figures, MLflow
tracking), `build_report` writes the report of a run. The names are imported lazily so that the
command line starts without loading scikit-learn.
"""

from __future__ import annotations

from radiomix.lazy import lazy_getattr

_EXPORTS = {
    "ExperimentResult": "radiomix.evaluation.experiment",
    "run_experiment": "radiomix.evaluation.experiment",
    "build_report": "radiomix.evaluation.report",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
