"""The demo cohort: the root ``data_manifest.csv`` and its images, regenerated on demand."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from radiomix.data.timing import sidecar_path
from radiomix.errors import RadiomixError
from radiomix.schema import IMAGE_COLUMNS, MASK_COLUMNS
from radiomix.synth.cohort import synthesize_cohort
from radiomix.synth.config import DEFAULT_CONFIG
from radiomix.yaml_io import load_yaml_model

DEMO_SETTINGS = DEFAULT_CONFIG.parent / "demo.yaml"
PATH_COLUMNS = IMAGE_COLUMNS + MASK_COLUMNS


class DemoSettings(BaseModel):
    """Size, seed and folder of the demo cohort."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    n_patients: int
    seed: int
    folder: str
    config: str


def load_demo_settings(path: Path = DEMO_SETTINGS) -> DemoSettings:
    """Read the demo settings YAML; ConfigError when it is missing or invalid."""
    return load_yaml_model(DemoSettings, path, "demo cohort settings")


def referenced_files(manifest: Path) -> list[Path]:
    """Every file a manifest names (images, masks and dynamic sidecars)."""
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    files = [
        manifest.parent / cell
        for column in PATH_COLUMNS
        if column in table
        for cell in table[column]
        if cell
    ]
    dynamic = table.get("pet_dynamic", [])
    files += [sidecar_path(manifest.parent / cell) for cell in dynamic if cell]
    return files


def prefixed_manifest(generated: Path, folder: str) -> str:
    """The text of ``generated`` with its paths made relative to the folder above it."""
    table = pd.read_csv(generated, dtype=str, keep_default_na=False)
    for column in PATH_COLUMNS:
        table[column] = [f"{folder}/{cell}" if cell else "" for cell in table[column]]
    return table.to_csv(index=False, lineterminator="\n")


def ensure_demo_cohort(
    manifest: Path, settings_path: Path = DEMO_SETTINGS, workers: int | None = None
) -> None:
    """Generate the demo images beside ``manifest`` (on ``workers`` processes, default one per
    core) when any file it names is missing.

    Writes the manifest when it does not exist; otherwise checks that the regenerated
    manifest equals it (RadiomixError when the simulator no longer reproduces it).
    """
    manifest = Path(manifest)
    if manifest.is_file() and all(path.is_file() for path in referenced_files(manifest)):
        return
    settings = load_demo_settings(settings_path)
    out_dir = manifest.parent / settings.folder
    generated = synthesize_cohort(
        out_dir,
        settings.n_patients,
        settings.seed,
        Path(settings_path).parent / settings.config,
        workers,
    )
    text = prefixed_manifest(generated, settings.folder)
    if not manifest.is_file():
        manifest.write_text(text, encoding="utf-8")
        return
    if manifest.read_text(encoding="utf-8") != text:
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
            handle.write(text)
        raise RadiomixError(
            f"{manifest}: the regenerated demo cohort differs from this manifest "
            f"(regenerated manifest written to {handle.name})"
        )


def demo_scenario(settings_path: Path = DEMO_SETTINGS) -> str:
    """The texture scenario (``null`` or ``informative``) the demo cohort is simulated under."""
    from radiomix.synth.config import load_config

    settings = load_demo_settings(settings_path)
    return load_config(Path(settings_path).parent / settings.config).texture.scenario
