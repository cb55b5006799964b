"""Is this output current? One recipe for every built thing: the project reports, the cohort
site's reports, the coverage product and the data sets.

1. **Inputs to a key**: each input is hashed (:func:`~immune_recovery.checksums.sha256_file`
   for a file, :func:`~immune_recovery.checksums.folder_sha256` for a folder: the one folder
   hash), and the hashes, a JSON object, become one key (:func:`key_of`).
2. **Is current**: the key recorded beside the output (a JSON file: ``report.json``,
   ``settings.json``, a data set's ``.stamp``) equals the key computed now, and the output's
   files are there (:func:`is_current`).
3. **Record**: the key is written into that JSON file with the output (:func:`record`).
4. **Publish staged**: the output is built in a staging folder and replaces the old one by
   renames, so a failed build never leaves half an output (:func:`publish_staged`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path


def key_of(inputs: dict) -> str:
    """The one sha256 that stands for a JSON object of input hashes (and settings)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded_key(path: Path, field: str = "key") -> str | None:
    """The key recorded in the JSON file ``path`` (None if absent or unreadable)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8")).get(field)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def is_current(path: Path, key: str, outputs: Iterable[Path] = (), field: str = "key") -> bool:
    """True when ``path`` records ``key`` and every file of ``outputs`` exists."""
    return recorded_key(path, field) == key and all(Path(p).is_file() for p in outputs)


def record(path: Path, key: str, fields: dict | None = None, field: str = "key") -> dict:
    """Write ``fields`` with the key (under ``field``, last) as indented JSON into ``path``;
    returns what was written."""
    content = {**(fields or {}), field: key}
    Path(path).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return content


def publish_staged(staged: Path, target: Path) -> None:
    """Replace ``target`` by the folder ``staged`` with renames (same file system); the old
    version is removed only once the new one is in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staged.rename(target)
    shutil.rmtree(old, ignore_errors=True)
