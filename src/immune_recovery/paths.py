"""Where things live. No side effects on import.

Every path the package uses is built here from the project root, so that notebooks,
the command line and the Makefile agree. Two environment variables may override the
defaults (both are set explicitly by the Makefile, never implicitly):

``IMMUNE_RECOVERY_ROOT``
    The project root (the folder holding ``pyproject.toml``).
``IMMUNE_RECOVERY_REPORTS_DIR``
    Where report outputs are written. The report build points it at a staging folder
    and moves the finished report into ``reports/`` only when everything succeeded;
    ``make test`` points it at ``build/nbval`` so re-executing the committed notebooks
    never overwrites them.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The installed package's folder.
PACKAGE = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The source checkout the package runs from (the folder holding ``pyproject.toml`` and
    ``src/immune_recovery``; ``IMMUNE_RECOVERY_ROOT`` when set), or ``None`` when the package
    was installed from a wheel (``pip install .``)."""
    env = os.environ.get("IMMUNE_RECOVERY_ROOT")
    if env:
        return Path(env).resolve()
    for parent in PACKAGE.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "immune_recovery").is_dir():
            return parent
    return None


def project_root() -> Path:
    """Return the project root folder: the checkout, or the current folder when the package
    was installed from a wheel."""
    return checkout_root() or Path.cwd().resolve()


def _project_files(*parts: str) -> Path:
    """A folder of project files: in the checkout, else as shipped inside the package
    (``immune_recovery/project/...``, see pyproject's package-dir)."""
    root = checkout_root()
    if root is not None and root.joinpath(*parts).is_dir():
        return root.joinpath(*parts)
    return PACKAGE / "project" / parts[-1]


def notebooks_dir() -> Path:
    """The report notebooks."""
    return _project_files("notebooks")


def data_dir() -> Path:
    return project_root() / "data"


def raw_data_dir() -> Path:
    """Immutable source files fetched by ``make data`` (never edited)."""
    return data_dir() / "raw"


def hicdep_dir() -> Path:
    """Data sets converted to HICDEP tables, one folder per data set."""
    return data_dir() / "hicdep"


def reference_dir() -> Path:
    """Published figures with their citations (committed; shipped in the package)."""
    return _project_files("data", "reference")


def data_manifest_path() -> Path:
    return data_dir() / "manifest"


def reports_dir() -> Path:
    env = os.environ.get("IMMUNE_RECOVERY_REPORTS_DIR")
    if env:
        return Path(env).resolve()
    return project_root() / "reports"


def build_dir() -> Path:
    return project_root() / "build"


def resolve(path: str | os.PathLike[str]) -> Path:
    """Resolve a project-relative path (as written in parameter files) to an absolute one."""
    p = Path(path)
    return p if p.is_absolute() else project_root() / p


def relative_to_root(path: str | os.PathLike[str]) -> str:
    """A path as written in reports: relative to the project root, with forward slashes."""
    p = Path(path).resolve()
    try:
        return p.relative_to(project_root()).as_posix()
    except ValueError:
        return p.name


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` only when it differs from what is there (file times then
    change only with content); True when written."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
