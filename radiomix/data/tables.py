"""Reading feature tables: parquet, or CSV (optionally gzipped), one row per case."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radiomix.errors import RadiomixError


def read_feature_table(path: str | Path) -> pd.DataFrame:
    """Read a parquet or CSV feature table; a RadiomixError names the file when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise RadiomixError(f"feature table {path} does not exist")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as error:  # pandas and pyarrow raise many types for unreadable files
        raise RadiomixError(f"cannot read feature table {path}: {error}") from error
