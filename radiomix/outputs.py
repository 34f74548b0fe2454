"""Output locations checked before any work, so a long run never ends on an unwritable path."""

from __future__ import annotations

import os
from pathlib import Path

from radiomix.errors import RadiomixError


def writable_folder(folder: Path | str, what: str = "output folder") -> Path:
    """``folder``, created when absent; RadiomixError naming it when it cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RadiomixError(f"{what} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RadiomixError(f"cannot create {what} {folder}: {error.strerror}") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RadiomixError(f"{what} {folder} is not writable")
    return folder


def writable_file(path: Path | str, what: str = "output file") -> Path:
    """``path``, its folder created; RadiomixError when the file cannot be written there."""
    path = Path(path)
    if path.is_dir():
        raise RadiomixError(f"{what} {path} is a folder, not a file")
    writable_folder(path.parent, f"folder of {what} {path}")
    if path.exists() and not os.access(path, os.W_OK):
        raise RadiomixError(f"{what} {path} is not writable")
    return path
