"""Names a package exports but imports only on first use, so the command line starts fast."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from radiomix.extras import missing_extra


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            module = import_module(exports[name])
        except ModuleNotFoundError as error:
            raise (missing_extra(error) or error) from error
        return getattr(module, name)

    return __getattr__
