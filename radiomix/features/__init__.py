"""Feature extraction: extractor families in a registry, run by a cached, parallel engine.

The built-in families (``pet_static``, ``pet_dynamic``, ``fdg_dual_phase``, ``mri``, ``mrs``,
``texture``) are registered on the registry's first use. The names below are loaded on
first use, so that the command line can import ``radiomix.features.commands`` without the
imaging libraries and pyradiomics.
"""

from __future__ import annotations

from radiomix.lazy import lazy_getattr

_EXPORTS = {
    "Extracted": "radiomix.features.registry",
    "feature_names": "radiomix.features.registry",
    "register": "radiomix.features.registry",
    "ExtractionConfig": "radiomix.features.config",
    "load_config": "radiomix.features.config",
    "CaseProblem": "radiomix.features.engine",
    "CaseResult": "radiomix.features.engine",
    "ExtractionResult": "radiomix.features.engine",
    "extract_case": "radiomix.features.engine",
    "extract_features": "radiomix.features.engine",
    "read_provenance": "radiomix.features.engine",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
