"""Where a result came from: package versions, git commit, input checksums."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
from pathlib import Path

from ..checksums import sha256_file
from ..paths import checkout_root, project_root, relative_to_root

#: Packages whose versions every report records.
KEY_PACKAGES = (
    "immune-recovery", "numpy", "pandas", "scipy", "statsmodels", "lifelines", "matplotlib",
    "tableone", "pandera", "papermill", "nbconvert",
)

#: Paths whose uncommitted changes make a build "dirty" (reports themselves do not).
SOURCE_PATHS = ("src", "notebooks", "params", "data/manifest", "Makefile", "pyproject.toml")


def package_versions(packages: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """The sha of HEAD when the source paths have no uncommitted changes, so that checking it
    out gives exactly the code that ran; ``None`` otherwise (uncommitted changes, or no git
    checkout). The source-tree hash (:func:`~immune_recovery.reporting.stale.source_sha256`)
    identifies the code either way."""
    root = checkout_root()
    if root is None:  # installed from a wheel: the package version and source hash say it
        return None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", *SOURCE_PATHS],
                                cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return None if status.stdout.strip() else sha


def code_identity(commit: str | None, source: str) -> str:
    """How a page names the code that built it: the commit when the tree was clean, else the
    source-tree hash."""
    return f"commit {commit[:12]}" if commit else f"source tree sha256 {source[:12]}"


def input_checksums(paths: list[str | Path]) -> list[dict[str, str]]:
    """sha256 of every file under the given inputs (files or folders), project-relative."""
    rows = []
    for entry in paths:
        path = Path(entry)
        path = path if path.is_absolute() else project_root() / path
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")) \
            if path.is_dir() else [path]
        for file in files:
            rows.append({"path": relative_to_root(file), "sha256": sha256_file(file)})
    return rows


#: How a published parameter shows an absolute path (a researcher's own folder).
LOCAL_PATH = "<local path>"


def public_value(value: object) -> object:
    """A parameter as a published page or record shows it: absolute paths (a researcher's
    own folders, often named after a clinic or a country) replaced by :data:`LOCAL_PATH`, in
    nested lists and mappings too; the content hashes in ``report.json`` identify the data."""
    if isinstance(value, str):
        return LOCAL_PATH if os.path.isabs(value) or re.match(r"^[A-Za-z]:[\\/]", value) \
            else value
    if isinstance(value, dict):
        return {k: public_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_value(v) for v in value]
    return value
