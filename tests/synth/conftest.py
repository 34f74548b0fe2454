"""Fixtures shared by the simulator tests."""

from __future__ import annotations

import pytest

from radiomix.synth.config import SynthConfig, load_config


@pytest.fixture(scope="module")
def config() -> SynthConfig:
    """The packaged default simulator configuration."""
    return load_config()
