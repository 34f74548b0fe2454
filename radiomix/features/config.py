"""The extraction configuration (``configs/extraction.yaml``), validated with pydantic.

The texture parameter files named in the configuration are read when the configuration is
loaded, so a loaded :class:`ExtractionConfig` is self-contained: it travels to worker
processes as it is, and its hash covers the pyradiomics parameters as well.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from radiomix.data.reference_regions import RegionsConfig
from radiomix.data.resample import GridConfig
from radiomix.errors import ConfigError
from radiomix.paths import CONFIG_DIR
from radiomix.yaml_io import read_yaml, validated

DEFAULT_FAMILIES = ("pet_static", "pet_dynamic", "fdg_dual_phase", "mri", "mrs", "texture")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def number_tag(value: float) -> str:
    """A configured number as it appears in a feature name: ``1.8`` -> ``1p8``, ``20`` -> ``20``."""
    return f"{value:g}".replace(".", "p")


def _check_window(window: tuple[float, float], name: str) -> None:
    if not window[0] < window[1]:
        raise ValueError(f"{name} must be [start, end] with start < end, got {list(window)}")


class BtvConfig(_Section):
    """Biological tumour volume: voxels ≥ ``threshold`` × ``ref_background`` mean, looked for
    in the lesion mask grown by ``margin_mm`` (reference regions left out)."""

    threshold: float = Field(1.6, gt=0)
    margin_mm: float = Field(10.0, ge=0)


class PetStaticConfig(_Section):
    """Static PET: the SUVpeak sphere (PERCIST and IBSI: 1 cm³)."""

    suvpeak_volume_ml: float = Field(1.0, gt=0)


class MriConfig(_Section):
    """MRI: the voxel threshold of the rCBV fraction, in multiples of the ``ref_wm`` mean
    (Gasparetto 2009: 1.8 x normal-appearing white matter)."""

    rcbv_fraction_threshold: float = Field(1.8, gt=0)


class KineticsConfig(_Section):
    """Dynamic settings that may differ per tracer (minutes after injection): the TBR window
    (the summed image of the windowed TBRs and of the curve VOI) and the curve settings."""

    tbr_window_min: tuple[float, float] = (20.0, 40.0)
    slope_window_min: tuple[float, float] = (20.0, 50.0)
    early_peak_min: float = Field(20.0, gt=0)
    rising_slope_per_h: float = Field(0.1, ge=0)

    @model_validator(mode="after")
    def _windows(self) -> KineticsConfig:
        _check_window(self.tbr_window_min, "tbr_window_min")
        _check_window(self.slope_window_min, "slope_window_min")
        return self


class CurveVoiConfig(_Section):
    """The volume whose mean curve gives TTP, slope and pattern: a ``sphere`` of
    ``sphere_ml`` centred on the hottest voxel, the ``isocontour`` at ``isocontour_fraction``
    of that voxel, the ``btv`` or the whole lesion ``mask``."""

    kind: Literal["sphere", "isocontour", "btv", "mask"] = "sphere"
    sphere_ml: float = Field(2.0, gt=0)
    isocontour_fraction: float = Field(0.9, gt=0, lt=1)


class PetDynamicConfig(KineticsConfig):
    """Dynamic PET: the curve VOI, and the TBR window and kinetics settings with per-tracer
    overrides (``tracers: {FDOPA: {tbr_window_min: [10, 30], slope_window_min: [10, 30]}}``);
    a tracer without overrides (or no tracer) takes the defaults."""

    curve_voi: CurveVoiConfig = CurveVoiConfig()
    tracers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tracer_settings(self) -> PetDynamicConfig:
        for tracer in self.tracers:
            self.for_tracer(tracer)
        return self

    def for_tracer(self, tracer: str | None) -> KineticsConfig:
        """The settings of a tracer: the defaults with its overrides."""
        defaults = {name: getattr(self, name) for name in KineticsConfig.model_fields}
        overrides = {key.upper(): value for key, value in self.tracers.items()}
        own = overrides.get(tracer.upper(), {}) if tracer else {}
        return KineticsConfig.model_validate({**defaults, **own})

    def tbr_windows(self) -> list[tuple[float, float]]:
        """Every TBR window of the configuration, the default's first, without repeats."""
        windows = [self.for_tracer(tracer).tbr_window_min for tracer in (None, *self.tracers)]
        return list(dict.fromkeys(windows))


class DynamicMapConfig(_Section):
    """A per-voxel parametric map of the dynamic series, textured as an image ``name``:
    ``sum`` (time-averaged SUV), ``ttp`` (time to peak, min) or ``slope`` (SUV/h), each over
    the frames whose mid-time lies in ``window_min``."""

    name: str = "dynsum"
    map: Literal["sum", "ttp", "slope"] = "sum"
    window_min: tuple[float, float] = (20.0, 40.0)
    params: str = "pet.yaml"

    @model_validator(mode="after")
    def _window(self) -> DynamicMapConfig:
        _check_window(self.window_min, f"dynamic_maps {self.name} window_min")
        return self


class TextureConfig(_Section):
    """Which images are textured, with which pyradiomics parameter file (relative paths are
    resolved against the configuration file's folder)."""

    images: dict[str, str] = Field(default_factory=dict)
    dynamic_maps: tuple[DynamicMapConfig, ...] = ()
    filters: bool | None = None
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ExtractionConfig(_Section):
    """Everything that decides the numbers of a feature table."""

    families: tuple[str, ...] = DEFAULT_FAMILIES
    cache_dir: str = ".radiomix_cache"
    btv: BtvConfig = BtvConfig()
    pet_static: PetStaticConfig = PetStaticConfig()
    pet_dynamic: PetDynamicConfig = PetDynamicConfig()
    mri: MriConfig = MriConfig()
    texture: TextureConfig = TextureConfig()
    grid: GridConfig = GridConfig()
    regions: RegionsConfig = RegionsConfig()

    def digest(self) -> str:
        """A sha256 of the configuration (texture parameter contents included)."""
        content = self.model_dump(mode="json", exclude={"cache_dir"})
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def textured_images(self) -> dict[str, str]:
        """Texture image name -> manifest column (dynamic maps read ``pet_dynamic``)."""
        images = {name: name for name in self.texture.images}
        return images | {spec.name: "pet_dynamic" for spec in self.texture.dynamic_maps}

    def dynamic_map(self, name: str) -> DynamicMapConfig:
        """The dynamic map textured as image ``name``."""
        return next(spec for spec in self.texture.dynamic_maps if spec.name == name)


def default_config_path() -> Path:
    """The packaged default ``configs/extraction.yaml``."""
    return CONFIG_DIR / "extraction.yaml"


def load_config(path: Path | str | None = None) -> ExtractionConfig:
    """Read and validate an extraction configuration; ``None`` reads the packaged default."""
    path = Path(path) if path is not None else default_config_path()
    raw = read_yaml(path, "extraction configuration")
    texture = raw.get("texture") or {}
    if not isinstance(texture, dict):
        raise ConfigError(f"{path}: texture must be a mapping")
    try:
        raw["texture"] = {**texture, "params": _texture_params(texture, path.parent)}
    except ValidationError as error:
        raise ConfigError(f"extraction configuration {path} is invalid:\n{error}") from None
    return validated(ExtractionConfig, raw, path, "extraction configuration")


def _texture_params(texture: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The pyradiomics parameter dict of every textured image, read from its file."""
    files = dict(texture.get("images") or {})
    for spec in texture.get("dynamic_maps") or ():
        parsed = DynamicMapConfig.model_validate(spec)
        files[parsed.name] = parsed.params
    params = {}
    for image, file in files.items():
        loaded = read_yaml(folder / str(file), f"texture parameter file of image {image}:")
        if texture.get("filters") is not None:
            loaded = {
                **loaded,
                "radiomix": {**(loaded.get("radiomix") or {}), "filters": bool(texture["filters"])},
            }
        params[image] = loaded
    return params
