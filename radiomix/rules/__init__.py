"""Rule-based baseline: published decision rules read from `configs/rules.yaml`.

`load_rules` reads and validates the rules file, `evaluate_rules` applies the rules to a
feature table, `baseline_report` compares them with their papers. The names are imported
lazily so that the command line starts without loading pandas.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "Rule": "radiomix.rules.config",
    "load_rules": "radiomix.rules.config",
    "evaluate_rules": "radiomix.rules.apply",
    "baseline_report": "radiomix.rules.baseline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'radiomix.rules' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
