"""The evidence report with its sources, in one PDF: the one file a reviewer needs.

:func:`combined_pdf` writes ``<id>-with-sources.pdf`` beside a report's PDF: the report,
then an appendix (:func:`appendix`) holding

* **A.** every project report it cites (``depends_on``): title, question and its computed
  answer, with the name of its own PDF;
* **B.** every published-figure table of ``data/reference/`` the evidence is computed from
  (:data:`SOURCE_TABLES`), row by row with its citation and verification grade, captioned with
  its file, row count and sha256.

The page with its appendix is published beside the report's page
(``<id>-with-sources.html``: the output checker reads every printed file against its page) and
printed apart from the report, on landscape pages (Chromium's print with
``prefer_css_page_size``, :func:`~.printed.render_pdf`), and joined to the report's own PDF by
``pdfunite`` (poppler). A parameter file asks for it with ``with_sources: true``
(``params/evidence.yaml``).
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from ..checksums import sha256_file
from ..paths import reference_dir
from ..reference import STUDY_TABLES
from .printed import render_pdf
from .spec import ReportSpec

#: The reference tables the evidence is computed from: the claims, the study-level
#: published figures, the harmonization of their scales and the study groups that share
#: patients.
SOURCE_TABLES = ("claims", *STUDY_TABLES, "harmonization", "study_groups")
#: Tables this wide print in the dense style (:data:`~.style.PRINT_CSS`).
DENSE_COLUMNS = 12
#: Columns left out of the printed tables (links and extraction notes: in the CSV files).
NOT_PRINTED = ("pmid_doi_or_url", "doi_or_pmid", "source_url", "note", "seed_excerpt",
               "cd4_dispersion_note")
#: The appendix prints on landscape pages (:func:`combined_pdf`), its tables in small type.
APPENDIX_CSS = """
@page { size: A4 landscape; }
.ir-sources table { font-size: 6.5pt; }
"""


def sources_file(spec: ReportSpec) -> str:
    """The combined PDF's file name."""
    return f"{spec.id}-with-sources.pdf"


def _cited(spec: ReportSpec, reports: Path) -> str:
    items = []
    for rid in spec.depends_on:
        record = json.loads((reports / rid / "report.json").read_text(encoding="utf-8"))
        summary = reports / rid / "summary.md"
        answer = summary.read_text(encoding="utf-8").strip() if summary.is_file() else (
            "(this report states no one-paragraph answer; see its tables)")
        items.append(f"<h3>{html.escape(record['title'])}</h3>"
                     f"<p><em>{html.escape(record['question'])}</em></p>"
                     f"<p>{html.escape(answer)}</p>"
                     f"<p>Full report: <code>reports/{html.escape(rid)}/"
                     f"{html.escape(record['outputs'].get('pdf', record['outputs']['html']))}"
                     "</code></p>")
    return "".join(items)


def _tables() -> str:
    parts = []
    for number, table in enumerate(SOURCE_TABLES, start=1):
        path = reference_dir() / f"{table}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        left_out = [c for c in NOT_PRINTED if c in frame]
        frame = frame.drop(columns=left_out)
        dense = ' class="dense"' if frame.shape[1] >= DENSE_COLUMNS else ""
        caption = (f"Table B{number}. <code>data/reference/{path.name}</code>: {len(frame)} "
                   f"rows, sha256 <code>{sha256_file(path)[:16]}</code>…"
                   + (f" (not printed here: {', '.join(left_out)})" if left_out else ""))
        body = frame.to_html(index=False, escape=True, border=0)
        parts.append(body.replace("<table", f"<table{dense}", 1).replace(
            "<thead>", f"<caption>{caption}</caption><thead>", 1))
    return "".join(parts)


def appendix(spec: ReportSpec, reports: Path) -> str:
    """The appendix as HTML sections (``reports``: the folder of the cited reports)."""
    return ('<section class="ir-sources"><h2>Appendix: the sources of this report</h2>'
            "<p>What the report above is computed from. A: the project's reports it cites, "
            "each with its own computed answer. B: the published figures it pools, as "
            "extracted with their citation and verification (V read in the original, V2 in a "
            "secondary copy), every row.</p>"
            "<h2>A. The project's reports it cites</h2>"
            f"{_cited(spec, reports)}"
            "<h2>B. The published figures (data/reference)</h2>"
            f"{_tables()}</section>")


def combined_pdf(spec: ReportSpec, folder: Path, reports: Path) -> str:
    """Write ``folder/<id>-with-sources.html`` (the report's page, ``folder/<id>.html``, with
    the :func:`appendix` before its footer) and ``<id>-with-sources.pdf``: the report's PDF
    (``folder/<id>.pdf``) followed by the appendix printed on landscape pages (one Chromium
    layout has one page width, so the two parts are printed apart and joined by poppler's
    ``pdfunite``); returns the PDF's file name. Scratch files stay in ``folder/.sources``,
    removed afterwards."""
    page = (folder / f"{spec.id}.html").read_text(encoding="utf-8")
    sections = appendix(spec, reports)
    html_path = folder / sources_file(spec).replace(".pdf", ".html")
    html_path.write_text(page.replace("</main>", sections + "</main>", 1), encoding="utf-8")
    scratch = folder / ".sources"
    scratch.mkdir(exist_ok=True)
    try:
        alone = scratch / "appendix.html"
        alone.write_text(page.replace("<main>", "<main>" + sections + "<!--", 1).replace(
            "</main>", "--></main>", 1).replace("</style>", APPENDIX_CSS + "</style>", 1),
            encoding="utf-8")
        render_pdf(alone, scratch / "appendix.pdf", f"Sources of: {spec.title}",
                   css_page_size=True)
        subprocess.run(["pdfunite", str(folder / f"{spec.id}.pdf"),
                        str(scratch / "appendix.pdf"), str(html_path.with_suffix(".pdf"))],
                       check=True, capture_output=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return html_path.with_suffix(".pdf").name
