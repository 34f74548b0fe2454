"""The package's layering, read from the import statements of its source files.

Layers, bottom to top: data → features → rules and modeling → evaluation → serving. The shared
modules at the top of the package (errors, schema, statistics, versions...) sit below every layer
and import none; the demo, which runs every stage, sits above all layers. The command modules (the
CLI) sit above everything and are the only ones that import typer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import radiomix

PACKAGE = Path(radiomix.__file__).parent
BELOW = {
    "data": set(),
    "features": {"data"},
    "rules": {"data", "features"},
    "modeling": {"data", "features", "rules"},
    "evaluation": {"data", "features", "rules", "modeling"},
    "serving": {"data", "features", "rules", "modeling", "evaluation"},
}
LAYERS = set(BELOW) | {"synth"}
ABOVE_ALL = {"demo.py"}
"""Library modules that run every stage (the demo): above all layers, below the commands."""


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` of the file names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def is_command_module(path: Path) -> bool:
    return path.name in {"cli.py", "console.py", "commands.py", "command.py"}


def library_files(layer: str) -> list[Path]:
    return [p for p in (PACKAGE / layer).rglob("*.py") if not is_command_module(p)]


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_no_layer_imports_one_above_it(layer):
    allowed = BELOW[layer] | {layer}
    upward = sorted(
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in library_files(layer)
        for name in imported_modules(path)
        if name.startswith("radiomix.") and name.split(".")[1] in LAYERS - allowed
    )
    assert upward == []


def test_shared_modules_import_no_layer():
    found = sorted(
        f"{path.name} imports {name}"
        for path in PACKAGE.glob("*.py")
        if not is_command_module(path) and path.name not in ABOVE_ALL
        for name in imported_modules(path)
        if name.startswith("radiomix.") and name.split(".")[1] in LAYERS
    )
    assert found == []


def library_modules() -> list[Path]:
    return [path for path in PACKAGE.rglob("*.py") if not is_command_module(path)]


@pytest.mark.parametrize("drawing", ["typer", "rich"])
def test_only_command_modules_import_typer_or_rich(drawing):
    found = sorted(
        str(path.relative_to(PACKAGE))
        for path in library_modules()
        if any(name.partition(".")[0] == drawing for name in imported_modules(path))
    )
    assert found == []


def test_no_library_module_prints():
    """The library logs through module loggers; only the commands print."""
    found = sorted(
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in library_modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    )
    assert found == []


def test_no_pyplot_in_the_library():
    """Figures are `matplotlib.figure.Figure`s: no backend choice, no global state."""
    found = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "matplotlib.pyplot" in imported_modules(path)
    )
    assert found == []
