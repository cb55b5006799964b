"""Issue 33: the evidence report with its sources, in one PDF a reviewer can take away."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from immune_recovery.paths import project_root, reference_dir, reports_dir
from immune_recovery.reporting.outputcheck import Secrets, _check_printed, printed_text
from immune_recovery.reporting.sources import SOURCE_TABLES, appendix, combined_pdf
from immune_recovery.reporting.spec import load_spec

SPEC = load_spec(project_root() / "params" / "evidence.yaml")


def _pages(pdf) -> list[str]:
    """Each page's size as pdfinfo prints it ("595.92 x 842.88")."""
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "9999", str(pdf)], capture_output=True,
                          text=True, check=True).stdout
    return re.findall(r"Page +\d+ size: +([\d.]+ x [\d.]+)", info)


def test_the_appendix_holds_every_cited_report_and_every_reference_row():
    text = appendix(SPEC, reports_dir())
    assert SPEC.with_sources and len(SPEC.depends_on) >= 10
    for rid in SPEC.depends_on:
        record = json.loads((reports_dir() / rid / "report.json").read_text())
        summary = (reports_dir() / rid / "summary.md")
        assert html.escape(record["title"]) in text, rid
        if summary.is_file():
            assert html.escape(summary.read_text().strip()) in text, rid
    for number, table in enumerate(SOURCE_TABLES, start=1):
        rows = len(pd.read_csv(reference_dir() / f"{table}.csv", dtype=str))
        assert f"Table B{number}. <code>data/reference/{table}.csv</code>: {rows} rows" in text


@pytest.mark.slow
def test_the_combined_pdf_is_the_report_then_its_sources_on_landscape_pages(tmp_path):
    folder = tmp_path / "evidence"
    shutil.copytree(reports_dir() / "evidence", folder)
    name = combined_pdf(SPEC, folder, reports_dir())
    report, combined = _pages(folder / "evidence.pdf"), _pages(folder / name)
    assert combined[:len(report)] == report and len(combined) > len(report)
    appendix_pages = combined[len(report):]
    assert all(float(w) > float(h) for w, _, h in (p.split() for p in appendix_pages))
    text = printed_text(folder / name)
    assert "Appendix: the sources of this report" in text and "Table B11." in text
    # the output checker reads it against its published page: every word is on it
    assert (folder / name.replace(".pdf", ".html")).is_file()
    assert _check_printed(folder / name, name, Secrets()) == []
    assert not (folder / ".sources").exists()


def test_the_published_evidence_report_links_its_combined_pdf():
    record = json.loads((reports_dir() / "evidence" / "report.json").read_text())
    name = record["outputs"]["pdf_with_sources"]
    assert (reports_dir() / "evidence" / name).is_file()
    assert f'evidence/{name}">PDF with its sources' in (reports_dir() / "index.html").read_text()
    assert f'href="{name}">PDF with its sources' in (
        reports_dir() / "evidence" / "evidence.html").read_text()
