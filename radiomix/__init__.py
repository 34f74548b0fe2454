"""radiomix: radiomics and machine learning for recurrence vs radionecrosis.

The Python API mirrors the command line; names are imported on first use so that
``import radiomix`` stays fast.
"""

from __future__ import annotations

from radiomix.lazy import lazy_getattr

__version__ = "0.1.0"

_API = {
    "load_manifest": "radiomix.data.manifest",
    "validate_manifest": "radiomix.data.validate",
    "read_dicom_pet_suv": "radiomix.data.suv",
    "read_frame_timing": "radiomix.data.timing",
    "synthesize_cohort": "radiomix.synth",
    "extract_features": "radiomix.features",
    "ibsi_check": "radiomix.features.ibsi",
    "load_rules": "radiomix.rules",
    "evaluate_rules": "radiomix.rules",
    "baseline_report": "radiomix.rules",
    "load_experiment": "radiomix.modeling.config",
    "run_experiment": "radiomix.evaluation.experiment",
    "build_report": "radiomix.evaluation.report",
    "export_model": "radiomix.serving.export",
    "load_model": "radiomix.serving.model",
    "predict": "radiomix.serving.predict",
    "evaluate": "radiomix.serving.evaluate",
    "run_demo": "radiomix.demo",
}

__all__ = ["__version__", *_API]

__getattr__ = lazy_getattr(__name__, _API)
