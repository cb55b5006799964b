"""Which reports are stale, decided by content rather than by file times.

A report's **build key** is the sha256 of its inputs' hashes (:func:`input_hashes`): its
notebook, its parameter file, every file of its data inputs, the package source tree, and the
build keys of the reports it reads (``depends_on``), so that a change anywhere upstream reaches
it. ``report.json`` records the hashes and the key it was built with; a report is current when
the recorded key equals the key computed now.

Make learns the verdict through one key file per report, ``build/keys/<id>.key``, written by
:func:`write_keys`: a current report's key file is dated 1970-01-01 (older than any
``report.json``), a stale one's now. The generated ``build/reports.mk`` holds one rule per
parameter file (read as YAML, so keys may span lines); the Makefile includes it.

Usage: ``python -m immune_recovery.reporting.stale`` (writes ``build/reports.mk`` and the key
files; prints the stale reports).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

from ..checksums import files_under, sha256_file, tree_sha256
from ..paths import PACKAGE, build_dir, checkout_root, project_root, write_if_changed
from .spec import ReportSpec, all_specs

#: The package source whose hash every report records (everything under it but caches).
SOURCE_ROOT = ("src", "immune_recovery")


@lru_cache(maxsize=None)
def _file_hash(path: Path, mtime_ns: int, size: int) -> str:
    return sha256_file(path)


def _hash(path: Path) -> str:
    stat = path.stat()
    return _file_hash(path, stat.st_mtime_ns, stat.st_size)


def source_sha256(root: Path | None = None) -> str:
    """sha256 of the package source tree (paths and contents; ``__pycache__`` ignored): of
    ``src/immune_recovery`` in a checkout, of the installed package otherwise."""
    root = root or checkout_root()
    if root is None:  # installed from a wheel
        return tree_sha256(files_under(PACKAGE), PACKAGE.parent)
    package = root.joinpath(*SOURCE_ROOT)
    return tree_sha256(files_under(package), root)


def data_sha256(paths: tuple[str, ...], root: Path | None = None) -> str:
    """sha256 over every file of the given data inputs (files or folders, hidden files such
    as Make's ``.stamp`` left out), with their project-relative paths."""
    root = root or project_root()
    digest = hashlib.sha256()
    for entry in paths:
        path = root / entry
        files = files_under(path)
        if not files:
            digest.update(f"{entry}\0missing\n".encode())
        for file in files:
            try:
                name = file.relative_to(root).as_posix()
            except ValueError:  # a researcher's cohort outside the project
                name = file.relative_to(path).as_posix()
            digest.update(f"{name}\0{_hash(file)}\n".encode())
    return digest.hexdigest()


def build_key(hashes: dict) -> str:
    """The one sha256 that stands for a report's input hashes."""
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def input_hashes(spec: ReportSpec, specs: dict[str, ReportSpec] | None = None,
                 root: Path | None = None, _keys: dict[str, str] | None = None) -> dict:
    """The hashes a report's build key is made of (see the module docstring)."""
    root = root or project_root()
    specs = specs if specs is not None else {s.id: s for s in all_specs()}
    keys = _keys if _keys is not None else {}
    upstream = {}
    for dep in spec.depends_on:
        if dep not in keys:
            if dep not in specs:
                upstream[dep] = "missing"
                continue
            keys[dep] = build_key(input_hashes(specs[dep], specs, root, keys))
        upstream[dep] = keys[dep]
    return {
        "notebook": _hash(spec.notebook_path),
        "params": _hash(root / spec.params_file),
        "data": data_sha256(spec.data, root),
        "source": source_sha256(root),
        "depends_on": upstream,
    }


def recorded_key(report_id: str, root: Path | None = None) -> str | None:
    """The build key ``reports/<id>/report.json`` was built with (None if absent)."""
    path = (root or project_root()) / "reports" / report_id / "report.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("build_key")
    except (OSError, ValueError, AttributeError):
        return None


def current_keys(root: Path | None = None) -> dict[str, str]:
    """Every report's build key as computed now."""
    specs = {s.id: s for s in all_specs()}
    keys: dict[str, str] = {}
    for report_id, spec in specs.items():
        if report_id not in keys:
            keys[report_id] = build_key(input_hashes(spec, specs, root, keys))
    return keys


def stale_reports(root: Path | None = None) -> list[str]:
    """Report ids whose recorded build key differs from the current one."""
    return sorted(rid for rid, key in current_keys(root).items()
                  if recorded_key(rid, root) != key)


def makefile_rules(specs: list[ReportSpec]) -> str:
    """``build/reports.mk``: one rule per report; upstream reports are order-only
    prerequisites (their change reaches the key), data sets need their ``.stamp``."""
    lines = ["# Generated by python -m immune_recovery.reporting.stale; do not edit.",
             f"REPORT_IDS := {' '.join(s.id for s in specs)}", ""]
    for spec in specs:
        data = " ".join(f"{d}/.stamp" if d.startswith("data/hicdep/") else d for d in spec.data)
        upstream = " ".join(f"reports/{d}/report.json" for d in spec.depends_on)
        refresh = "\t$(PY) -m immune_recovery.reporting.site\n" if spec.depends_on else ""
        lines += [
            f"reports/{spec.id}/report.json: build/keys/{spec.id}.key | $(VENV_STAMP) "
            f"{data} {upstream}".rstrip(),
            refresh + f"\t$(PY) -m immune_recovery.reporting.build {spec.params_file}",
            "",
            f".PHONY: report-{spec.id}",
            f"report-{spec.id}: reports/{spec.id}/report.json",
            "\t$(MAKE) --no-print-directory $(SITE)",
            "",
        ]
    return "\n".join(lines)


def write_keys(root: Path | None = None) -> list[str]:
    """Write ``build/reports.mk`` and ``build/keys/<id>.key`` (see the module docstring);
    return the stale report ids."""
    specs = all_specs()
    keys = current_keys(root)
    out = build_dir()
    (out / "keys").mkdir(parents=True, exist_ok=True)
    stale = []
    for spec in specs:
        path = out / "keys" / f"{spec.id}.key"
        write_if_changed(path, keys[spec.id] + "\n")
        if recorded_key(spec.id, root) == keys[spec.id]:
            os.utime(path, (0, 0))
        else:
            stale.append(spec.id)
            os.utime(path)
    for old in (out / "keys").glob("*.key"):
        if old.stem not in keys:
            old.unlink()
    write_if_changed(out / "reports.mk", makefile_rules(specs))
    return stale


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stale = write_keys()
    if "--quiet" not in argv:
        print(f"reports to rebuild: {', '.join(stale) if stale else 'none'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
