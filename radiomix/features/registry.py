"""The registry of extractor families.

A family is one function ``(case, config) -> dict[str, float]`` registered under a name,
with the manifest columns each of its outputs needs::

    @register("mrs", inputs={"mrs_cho_naa": ("mrs_cho_naa",), "mrs_cho_cr": ("mrs_cho_cr",)})
    def mrs(case, config):
        return {name: case.values[name] for name in ("mrs_cho_naa", "mrs_cho_cr") if case.has(name)}

``inputs`` maps an output to its required columns; an output is a feature name, or a name
prefix ending in ``_`` that stands for a group of features (e.g. ``pet_`` for the texture of
``pet``). The engine calls a family only when at least one output has all its inputs, sets the
others to NaN and records why. ``names`` lists every feature the family can return (defaults
to the keys of ``inputs``), so every row of a table has the same columns. Both may be
functions of the configuration. A family whose names are costly to list (``texture`` reads
them through pyradiomics) is registered with ``costly_names=True`` and asked last by
:func:`declares`.

A family may return :class:`Extracted` instead of a dict to hand back curves (a long table)
and per-part problems along with its features.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import TypeVar

import pandas as pd

from radiomix.data.manifest import Case
from radiomix.errors import ConfigError
from radiomix.features.config import ExtractionConfig

Inputs = Mapping[str, tuple[str, ...]]
FamilyFunction = Callable[[Case, ExtractionConfig], "dict[str, float] | Extracted"]
T = TypeVar("T")


@dataclass
class Extracted:
    """What a family computed on one case: features, optional curves and problems, and the
    outputs that do not apply to the case (e.g. another tracer's TBR window), left NaN
    without a problem."""

    features: dict[str, float]
    curves: pd.DataFrame | None = None
    problems: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Family:
    """A registered extractor family."""

    name: str
    function: FamilyFunction
    inputs: Callable[[ExtractionConfig], Inputs]
    names: Callable[[ExtractionConfig], Sequence[str]]
    costly_names: bool = False

    def run(self, case: Case, config: ExtractionConfig) -> Extracted:
        """Run the family on a case and return an :class:`Extracted`."""
        result = self.function(case, config)
        return result if isinstance(result, Extracted) else Extracted(dict(result))


FAMILIES: dict[str, Family] = {}
BUILTIN_MODULES = ("pet_static", "pet_dynamic", "fdg_dual_phase", "mri", "texture_family")
"""The modules of radiomix.features whose import registers the built-in families."""


def registered() -> dict[str, Family]:
    """Every registered family; the built-in ones are imported (registered) on first use, not
    with this module, which the family modules themselves import."""
    for module in BUILTIN_MODULES:
        import_module(f"radiomix.features.{module}")
    return FAMILIES


def _as_function(value: T | Callable[[ExtractionConfig], T]) -> Callable[[ExtractionConfig], T]:
    return value if callable(value) else (lambda config: value)


def register(
    name: str,
    inputs: Inputs | Callable[[ExtractionConfig], Inputs],
    names: Sequence[str] | Callable[[ExtractionConfig], Sequence[str]] | None = None,
    costly_names: bool = False,
) -> Callable[[FamilyFunction], FamilyFunction]:
    """Decorator registering an extractor family under ``name``."""

    def decorate(function: FamilyFunction) -> FamilyFunction:
        if name in FAMILIES:
            raise ValueError(f"extractor family {name!r} is already registered")
        inputs_of = _as_function(inputs)
        names_of = (
            _as_function(names) if names is not None else (lambda config: list(inputs_of(config)))
        )
        FAMILIES[name] = Family(name, function, inputs_of, names_of, costly_names)
        return function

    return decorate


def enabled_families(config: ExtractionConfig) -> list[Family]:
    """The families listed in the configuration, in its order; ConfigError for unknown ones."""
    families = registered()
    unknown = [name for name in config.families if name not in families]
    if unknown:
        raise ConfigError(
            f"unknown extractor famil{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(unknown)} (registered: {', '.join(sorted(families))})"
        )
    return [families[name] for name in config.families]


def feature_names(config: ExtractionConfig) -> list[str]:
    """Every feature column of a table made with this configuration, in a stable order."""
    names: list[str] = []
    for family in enabled_families(config):
        names += [name for name in family.names(config) if name not in names]
    return names


def declares(config: ExtractionConfig) -> Callable[[str], bool]:
    """A test of whether a registered family declares a feature name under this
    configuration's settings (windows, textured images, parameter sets), whether or not the
    configuration runs that family. The families are asked one at a time, those with costly
    names last, and only until the name is found: checking names that cheap families declare
    never lists the costly ones."""
    pending = iter(sorted(registered().values(), key=lambda family: family.costly_names))
    known: set[str] = set()

    def declared(name: str) -> bool:
        while name not in known:
            family = next(pending, None)
            if family is None:
                return False
            known.update(family.names(config))
        return True

    return declared
