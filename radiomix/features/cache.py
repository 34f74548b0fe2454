"""A content-keyed cache of per-case extraction results.

The key of a case is a sha256 of the radiomix version, the configuration digest and the bytes
of every input the case has (image and mask files, the files directly in a DICOM folder, the
frame-timing sidecar or PMOD acqtimes of ``pet_dynamic``) plus its numeric values, so a re-run
recomputes only new or changed cases. Paths are not part of the key: moving the data keeps the
cache valid.

An entry is one JSON file, written to a temporary file in the same folder and moved into place
with ``os.replace``, so a killed run never leaves a partial entry; an unreadable entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from radiomix import __version__
from radiomix.data.images import split_roi
from radiomix.data.manifest import Case
from radiomix.data.timing import timing_files

CHUNK_BYTES = 1 << 20


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    """Add the bytes of a file; an unreadable file adds a marker (the extraction reports it)."""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    except OSError as error:
        digest.update(f"<unreadable {error.errno}>".encode())


def _hash_path(digest: hashlib._Hash, path: Path) -> None:
    """Add the bytes of a file, or of every file directly in a folder (by name), to a digest.

    Only the top level of a folder is read, as the DICOM readers do: a folder given by
    mistake (a whole disk) is not walked.
    """
    if path.is_dir():
        try:
            files = sorted(item for item in path.iterdir() if item.is_file())
        except OSError as error:
            digest.update(f"<unreadable {error.errno}>".encode())
            return
        for file in files:
            digest.update(file.name.encode())
            _hash_file(digest, file)
    elif path.is_file():
        _hash_file(digest, path)
    else:
        digest.update(b"<missing>")


def case_key(case: Case, config_digest: str) -> str:
    """The cache key of a case under a configuration (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(f"radiomix {__version__}\nconfig {config_digest}\ncase {case.case_id}\n".encode())
    for column in sorted(case.paths):
        file, roi = split_roi(case.paths[column])
        digest.update(f"\n{column}#{roi}\n".encode())
        _hash_path(digest, file)
        if column == "pet_dynamic":
            for timing_file in timing_files(file):
                digest.update(f"\ntiming {timing_file.suffix}\n".encode())
                _hash_path(digest, timing_file)
    for column in sorted(case.values):
        digest.update(f"\n{column}={case.values[column]!r}".encode())
    return digest.hexdigest()


class FeatureCache:
    """JSON entries under ``folder``, one per key."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _entry(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored entry of ``key``, or None when absent or unreadable."""
        try:
            return json.loads(self._entry(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def store(self, key: str, entry: dict[str, Any]) -> None:
        """Write an entry atomically (temporary file, then ``os.replace``)."""
        target = self._entry(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(entry, stream)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
