"""Synthetic multi-parametric cohort: brain phantom, PET kinetics, MRI maps, oracle.

``synthesize_cohort`` and ``ensure_demo_cohort`` are loaded on first use, so that the
command line can import ``radiomix.synth.command`` without the imaging libraries.
"""

from __future__ import annotations

from radiomix.lazy import lazy_getattr

_EXPORTS = {
    "synthesize_cohort": "radiomix.synth.cohort",
    "ensure_demo_cohort": "radiomix.synth.demo",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
