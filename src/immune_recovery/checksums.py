"""sha256 checksums of files, folders and source trees (data verification, provenance and
the report pipeline's staleness test)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

BLOCK = 1 << 20


@lru_cache(maxsize=None)
def _sha256(path: Path, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (remembered for a file of unchanged time and size)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _sha256(path, stat.st_mtime_ns, stat.st_size)


def files_under(path: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """The file itself, or every file below a folder (sorted; hidden files and
    ``__pycache__`` left out; only ``suffixes`` when given)."""
    if not path.is_dir():
        return [path] if path.is_file() else []
    out = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).parts
        if not p.is_file() or any(part.startswith(".") or part == "__pycache__" for part in rel):
            continue
        if suffixes is None or p.suffix in suffixes:
            out.append(p)
    return out


def tree_sha256(paths: Iterable[Path], root: Path) -> str:
    """One sha256 over files: each file's path relative to ``root`` and its own sha256, in
    path order, so that renaming, adding, removing or editing a file changes it."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def folder_sha256(path: Path, root: Path | None = None) -> str:
    """The one folder hash: :func:`tree_sha256` of every file under ``path`` (or of the file
    itself; hidden files and ``__pycache__`` left out), paths relative to ``root`` (default:
    ``path`` itself, so that a folder's hash does not depend on where it lies)."""
    path = Path(path)
    root = root or (path if path.is_dir() else path.parent)
    return tree_sha256(files_under(path), root)
