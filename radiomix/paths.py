"""Where radiomix's own files are: the configurations shipped inside the package.

The configurations are package data, so an installed wheel reads the same defaults as a
checkout; a missing default file is an error, never a silent fallback.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CONFIG_DIR = Path(str(resources.files("radiomix").joinpath("configs")))
EXPERIMENTS_DIR = CONFIG_DIR / "experiments"
