"""Where a result came from: package versions, git commit, input checksums."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

from ..datasets.sources import sha256_file
from ..paths import project_root, relative_to_root

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


def git_commit() -> str:
    """``<sha>`` of HEAD, with ``-dirty`` when source paths have uncommitted changes;
    ``unknown`` outside a git checkout."""
    root = project_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    status = subprocess.run(["git", "status", "--porcelain", "--", *SOURCE_PATHS], cwd=root,
                            capture_output=True, text=True, check=False).stdout.strip()
    return sha + ("-dirty" if status else "")


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
