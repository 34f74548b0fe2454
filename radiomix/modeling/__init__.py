"""Modelling: experiment files, the leak-free pipeline, nested CV with optuna, MLflow tracking.

`load_experiment` reads `experiments/*.yaml` (`radiomix.evaluation.run_experiment` runs one),
`build_pipeline` makes the modelling pipeline, `feature_groups` splits feature names into
groups. The names are imported lazily so that the command line starts without loading
scikit-learn.
"""

from __future__ import annotations

from radiomix.lazy import lazy_getattr

_EXPORTS = {
    "ComBat": "radiomix.modeling.combat",
    "ExperimentConfig": "radiomix.modeling.config",
    "load_experiment": "radiomix.modeling.config",
    "build_pipeline": "radiomix.modeling.pipeline",
    "feature_groups": "radiomix.modeling.data",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
