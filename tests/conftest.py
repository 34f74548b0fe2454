"""Shared fixtures: the external reference data beside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of external reference data; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"external reference data not found at {SHARED_DATA}")
    return SHARED_DATA
