"""Rule-based baseline: published decision rules read from `configs/rules.yaml`.

`load_rules` reads and validates the rules file, `evaluate_rules` applies the rules to a
feature table, `baseline_report` compares them with their papers. The names are imported
lazily so that the command line starts without loading pandas.
"""

from __future__ import annotations

from radiomix.lazy import lazy_getattr

_EXPORTS = {
    "Rule": "radiomix.rules.config",
    "load_rules": "radiomix.rules.config",
    "evaluate_rules": "radiomix.rules.apply",
    "baseline_report": "radiomix.rules.baseline",
    "parameter_report": "radiomix.rules.baseline",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
