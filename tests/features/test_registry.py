"""The built-in extractor families are registered whatever module a process imports first
(the command line imports none of them; the simulator imports a family module directly)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from radiomix.features.registry import BUILTIN_MODULES

BUILTIN_FAMILIES = ["fdg_dual_phase", "mri", "mrs", "pet_dynamic", "pet_static", "texture"]


@pytest.mark.parametrize(
    "first", [f"radiomix.features.{m}" for m in BUILTIN_MODULES] + ["radiomix.synth.sampler"]
)
def test_every_family_is_registered_whatever_is_imported_first(first):
    code = (
        f"import {first}\n"
        "from radiomix.features.registry import registered\n"
        "print(sorted(registered()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(BUILTIN_FAMILIES)


def test_the_command_line_imports_no_family():
    code = "import sys, radiomix.cli; print(sorted(m for m in sys.modules if 'features.' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "['radiomix.features.commands']", done.stderr[-2000:]
