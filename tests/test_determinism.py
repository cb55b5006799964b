"""Rebuilding a report twice gives byte-identical tables and figures."""

from __future__ import annotations

import pytest

from immune_recovery.paths import project_root
from immune_recovery.reporting.build import build_report

from .conftest import require_dataset


@pytest.mark.slow
@pytest.mark.parametrize("report_id", ["il2-evidence", "data-quality-messy"])
def test_rebuilding_a_report_is_byte_identical(report_id, tmp_path, monkeypatch):
    require_dataset("messy")
    folders = []
    for run in ("first", "second"):
        monkeypatch.setenv("IMMUNE_RECOVERY_REPORTS_DIR", str(tmp_path / run))
        folders.append(build_report(project_root() / "params" / f"{report_id}.yaml"))
    first, second = folders
    files = sorted(p.relative_to(first) for p in first.rglob("*")
                   if p.is_file() and p.parent.name in ("tables", "figures"))
    assert files, "the report wrote tables and figures"
    assert files == sorted(p.relative_to(second) for p in second.rglob("*")
                           if p.is_file() and p.parent.name in ("tables", "figures"))
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
