"""Feature extraction: extractor families in a registry, run by a cached, parallel engine.

Importing this package registers the built-in families (``pet_static``, ``pet_dynamic``,
``fdg_dual_phase``, ``mri``, ``mrs``, ``texture``).
"""

from radiomix.features import fdg_dual_phase, mri, pet_dynamic, pet_static, texture_family
from radiomix.features.config import ExtractionConfig, load_config
from radiomix.features.engine import (
    CaseProblem,
    CaseResult,
    ExtractionResult,
    extract_case,
    extract_features,
    read_provenance,
)
from radiomix.features.registry import FAMILIES, Extracted, feature_names, register

__all__ = [
    "FAMILIES",
    "CaseProblem",
    "CaseResult",
    "Extracted",
    "ExtractionConfig",
    "ExtractionResult",
    "extract_case",
    "extract_features",
    "fdg_dual_phase",
    "feature_names",
    "load_config",
    "mri",
    "pet_dynamic",
    "pet_static",
    "read_provenance",
    "register",
    "texture_family",
]
