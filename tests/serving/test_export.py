"""Which extraction configuration an export stores, from a run folder laid out like a run's
artifacts: the training table's provenance when the table is unchanged, else the
experiment's configuration file, else none."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from radiomix.features import load_config
from radiomix.features.engine import write_parquet
from radiomix.hashing import file_sha256
from radiomix.serving.export import extraction_config


def _run_folder(
    tmp_path: Path, table: Path | None, config: Path | None, table_sha256: str | None
) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    input_section = {
        "table": str(table) if table else None,
        "extraction_config": str(config) if config else None,
    }
    (run / "experiment.yaml").write_text(yaml.safe_dump({"input": input_section}))
    (run / "lineage.json").write_text(json.dumps({"table_sha256": table_sha256}))
    return run


def _table_with_provenance(tmp_path: Path, families: list[str]) -> Path:
    table = tmp_path / "features.parquet"
    config = {"families": families, "cache_dir": ".radiomix_cache"}
    write_parquet(
        pd.DataFrame({"case_id": ["a"], "pet_SUVmax": [3.0]}), table, {"config": json.dumps(config)}
    )
    return table


def test_unchanged_table_provenance_wins(tmp_path):
    table = _table_with_provenance(tmp_path, ["pet_static"])
    config_file = tmp_path / "extraction.yaml"
    config_file.write_text("families: [mri]\n")
    run = _run_folder(tmp_path, table, config_file, file_sha256(table))
    assert extraction_config(run)["families"] == ["pet_static"]


def test_changed_table_falls_back_to_the_configuration_file(tmp_path):
    table = _table_with_provenance(tmp_path, ["pet_static"])
    config_file = tmp_path / "extraction.yaml"
    config_file.write_text("families: [mri, mrs]\nbtv: {threshold: 1.8}\n")
    run = _run_folder(tmp_path, table, config_file, "0" * 64)
    stored = extraction_config(run)
    assert stored == load_config(config_file).model_dump(mode="json")
    assert stored["families"] == ["mri", "mrs"]
    assert stored["btv"]["threshold"] == 1.8


def test_no_source_stores_nothing(tmp_path):
    run = _run_folder(tmp_path, tmp_path / "gone.parquet", None, None)
    assert extraction_config(run) is None


@pytest.mark.parametrize("name", ["features.csv", "features.table"])
def test_table_of_any_format_and_name_never_breaks_the_export(tmp_path, name):
    # a CSV table (or a parquet without the .parquet suffix) at an absolute path
    config_file = tmp_path / "extraction.yaml"
    config_file.write_text("families: [mri]\n")
    if name.endswith(".csv"):
        table = tmp_path / name
        pd.DataFrame({"case_id": ["a"], "pet_SUVmax": [3.0]}).to_csv(table, index=False)
        expected = ["mri"]  # a CSV stores no provenance: the configuration file is used
    else:
        table = _table_with_provenance(tmp_path, ["pet_static"]).rename(tmp_path / name)
        expected = ["pet_static"]
    run = _run_folder(tmp_path, table.resolve(), config_file, file_sha256(table))
    assert extraction_config(run)["families"] == expected
