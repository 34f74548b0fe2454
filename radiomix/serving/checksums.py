"""SHA-256 checksums of every file of an exported model, recorded and verified.

The checksum file uses the `sha256sum` format (``<hex>  <relative path>``), so a model folder
can also be checked by hand with ``sha256sum -c checksums.sha256`` from inside the folder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from radiomix.errors import ModelError
from radiomix.hashing import file_sha256

CHECKSUM_FILE = "checksums.sha256"
SIGNATURE_FILE = "checksums.sha256.hmac"
KEY_VARIABLE = "RADIOMIX_MODEL_KEY"
"""Environment variable holding the user's secret key that signs and verifies models."""
# Written by MLflow beside a model fetched from the registry; holds only its name and version.
MLFLOW_REGISTRY_FILE = "registered_model_meta"


def _model_files(folder: Path) -> list[str]:
    """Relative paths of every file of the model folder except the checksum file and the
    registry note MLflow adds at the top of a downloaded model."""
    names = (path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return sorted(
        name for name in names if name not in (CHECKSUM_FILE, SIGNATURE_FILE, MLFLOW_REGISTRY_FILE)
    )


def write_checksums(folder: Path) -> Path:
    """Record the SHA-256 of every file of `folder` in its checksum file, and sign that file
    with the key in $RADIOMIX_MODEL_KEY when it is set."""
    lines = [f"{file_sha256(folder / name)}  {name}" for name in _model_files(folder)]
    path = folder / CHECKSUM_FILE
    path.write_text("\n".join(lines) + "\n")
    key = os.environ.get(KEY_VARIABLE)
    if key:
        (folder / SIGNATURE_FILE).write_text(_signature(path, key) + "\n")
    return path


def _signature(checksums: Path, key: str) -> str:
    """HMAC-SHA256 of the checksum file under the user's key (RFC 2104)."""
    return hmac.new(key.encode(), checksums.read_bytes(), hashlib.sha256).hexdigest()


def verify_signature(folder: Path) -> None:
    """With $RADIOMIX_MODEL_KEY set, ModelError unless the checksum file carries a valid
    signature under that key: only the key's holder can then produce a loadable model."""
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        return
    signature = folder / SIGNATURE_FILE
    if not signature.is_file():
        raise ModelError(
            f"model {folder} is not signed ({SIGNATURE_FILE} is missing) and "
            f"{KEY_VARIABLE} is set; refusing to load it"
        )
    expected = _signature(folder / CHECKSUM_FILE, key)
    if not hmac.compare_digest(signature.read_text().strip(), expected):
        raise ModelError(
            f"model {folder}: signature does not match the key in {KEY_VARIABLE};"
            " the model was altered or signed with another key"
        )


def read_checksums(folder: Path) -> dict[str, str]:
    """Relative path -> recorded SHA-256; ModelError when the checksum file is absent."""
    path = folder / CHECKSUM_FILE
    if not path.is_file():
        raise ModelError(
            f"model {folder} has no {CHECKSUM_FILE}: it was not exported by "
            "radiomix or has been altered; refusing to load it"
        )
    recorded = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if not name:
            raise ModelError(f"{path}: malformed line {line!r}")
        recorded[name] = digest
    return recorded


def verify_checksums(folder: Path) -> None:
    """ModelError naming the file when a model file was changed, removed or added, or when
    the signature does not match (see `verify_signature`)."""
    recorded = read_checksums(folder)
    verify_signature(folder)
    present = set(_model_files(folder))
    missing = sorted(set(recorded) - present)
    if missing:
        raise ModelError(f"model {folder}: file(s) {missing} listed in {CHECKSUM_FILE} are missing")
    added = sorted(present - set(recorded))
    if added:
        raise ModelError(
            f"model {folder}: file(s) {added} are not listed in {CHECKSUM_FILE}; "
            "the model has been altered"
        )
    for name, digest in recorded.items():
        if file_sha256(folder / name) != digest:
            raise ModelError(
                f"model {folder}: checksum of {name} does not match "
                f"{CHECKSUM_FILE}; the file has been altered"
            )
