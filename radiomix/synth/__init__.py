"""Synthetic multi-parametric cohort: brain phantom, PET kinetics, MRI maps, oracle.

``synthesize_cohort`` and ``ensure_demo_cohort`` are loaded on first use, so that the
command line can import ``radiomix.synth.command`` without the imaging libraries.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {"synthesize_cohort": "radiomix.synth.cohort",
            "ensure_demo_cohort": "radiomix.synth.demo"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
