"""The one reader of radiomix's YAML files, with one wording for every way they can be wrong.

Every configuration (extraction, texture parameters, rules, experiments, simulator, demo,
IBSI settings) is read by ``read_yaml`` and validated by ``validated``, so a user meets the
same messages whatever the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from radiomix.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


def read_yaml(path: str | Path, what: str) -> dict[str, Any]:
    """The mapping held by YAML file ``path`` (empty for an empty file).

    ConfigError naming ``what`` (e.g. "rules file") and the path when the file cannot be read,
    is not valid YAML (only plain YAML is read: ``yaml.safe_load``) or holds no mapping.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"cannot read {what} {path}: not found") from None
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror or error}") from None
    try:
        loaded = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise ConfigError(f"{what} {path} is not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"{what} {path} must be a mapping (key: value), not a {type(loaded).__name__}"
        )
    return loaded


def validated(model: type[Model], raw: dict[str, Any], path: str | Path, what: str) -> Model:
    """``raw`` validated as ``model``; ConfigError listing every invalid field otherwise."""
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{what} {path} is invalid:\n{error}") from None


def load_yaml_model(model: type[Model], path: str | Path, what: str) -> Model:
    """Read and validate one YAML file as ``model``."""
    return validated(model, read_yaml(path, what), path, what)
