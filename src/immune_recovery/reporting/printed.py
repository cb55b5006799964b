"""A report page printed: PDF (Chromium's print, through Playwright) and Word (pandoc).

Both are made from the page itself, after it is rendered, so they say exactly what it says:

* **PDF** — A4, the page's print stylesheet (:data:`~.style.PRINT_CSS`: navigation hidden,
  wide tables set smaller and wrapped, never cut; table headers repeated on each page;
  figures kept whole), the report's title at the head and "page n of N" at the foot of every
  page. Chromium is Debian's (``make reports`` installs it); Playwright drives it (no browser
  download). Without either the PDF is not made and :func:`print_report` says why.
* **Word** — pandoc (``pypandoc-binary``, pandoc as a wheel) from the same HTML: headings,
  numbered and captioned tables and figures, editable; the figures embedded.
  ``SOURCE_DATE_EPOCH`` fixes the document's dates, so the file depends only on the page.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from functools import cache
from html import escape
from pathlib import Path

from .localserver import connect, receive, send

#: The environment variable naming the run's print server, for the builders it serves.
PRINT_SERVER_ENV = "IMMUNE_RECOVERY_PRINT_SERVER"
#: How long a builder waits for the print server to print its page (s; a queue included).
PRINT_TIMEOUT_SECONDS = 600
#: How pages and the index name each printed version.
PRINTED_NAMES = {"pdf": "PDF", "docx": "Word", "pdf_with_sources": "PDF with its sources"}
#: Page set-up of the PDF.
PDF_FORMAT = "A4"
PDF_MARGIN = {"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"}
#: Script that turns every link not to the web into plain text (its target would be printed
#: as an absolute file address).
UNLINK_LOCAL = """() => document.querySelectorAll('a[href]').forEach(a => {
    if (!/^https?:/i.test(a.getAttribute('href'))) a.removeAttribute('href'); })"""
#: What the Word file leaves out of the page: the navigation bar (links between pages), the
#: heading anchors ("¶", hidden on the page) and the document title (pandoc would print it
#: above the page's own first heading).
NOT_IN_WORD = re.compile(r'<nav class="ir-nav">.*?</nav>|<a class="anchor-link"[^>]*>.*?</a>'
                         r"|<title>.*?</title>", re.DOTALL)
#: Word's type size of table text, half-points (pandoc's "Compact" style; 8 pt, as the PDF's
#: tables are set smaller than the text so that whole words fit their columns).
WORD_TABLE_HALF_POINTS = 16
#: The dates written into a Word file (the epoch of the first report of this project).
SOURCE_DATE_EPOCH = "1767225600"  # 2026-01-01T00:00:00Z


@dataclass
class Printed:
    """What :func:`print_report` wrote (file names in the report folder) and what it did
    not write, with the reason."""

    files: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def chromium_path() -> str | None:
    """Debian's Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_pdf(html: Path, pdf: Path, title: str, css_page_size: bool = False) -> None:
    """``html`` printed to ``pdf`` by headless Chromium (see the module docstring);
    ``css_page_size``: the page's own ``@page`` sizes (e.g. landscape pages) instead of
    :data:`PDF_FORMAT` everywhere. Printed by the run's print server if there is one
    (:mod:`~immune_recovery.reporting.printserver`), else here."""
    if not print_on_server(html, pdf, title, css_page_size):
        from playwright.sync_api import sync_playwright  # optional: only the PDF needs it

        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                print_page(browser, html, pdf, title, css_page_size)
            finally:
                browser.close()
    pdf.write_bytes(PDF_DATE.sub(rb"\g<1>" + _pdf_date().encode(), pdf.read_bytes()))


def print_on_server(html: Path, pdf: Path, title: str, css_page_size: bool) -> bool:
    """Have the run's print server (:data:`PRINT_SERVER_ENV`) print ``html`` to
    ``pdf``; ``False`` if there is none or it failed."""
    address = os.environ.get(PRINT_SERVER_ENV)
    if not address:
        return False
    try:
        with connect(address, PRINT_TIMEOUT_SECONDS) as connection:
            send(connection, {"html": str(html.resolve()), "pdf": str(pdf.resolve()),
                              "title": title, "css_page_size": css_page_size})
            return bool(receive(connection).get("ok"))
    except (OSError, ValueError):
        return False


def launch_chromium(playwright):
    """Debian's Chromium, headless, through ``playwright`` (a started Playwright)."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                      args=["--no-sandbox", "--disable-gpu"])


def print_page(browser, html: Path, pdf: Path, title: str, css_page_size: bool) -> None:
    """``html`` printed to ``pdf`` in a fresh page of ``browser`` (:func:`render_pdf`)."""
    head = (f'<div style="font-size:7pt;color:#666;width:100%;padding:0 14mm">'
            f"{escape(title)}</div>")
    foot = ('<div style="font-size:7pt;color:#666;width:100%;text-align:center">page '
            '<span class="pageNumber"></span> of <span class="totalPages"></span></div>')
    page = browser.new_page()
    try:
        page.goto(html.resolve().as_uri(), wait_until="load")
        # a relative link would become a file:// address of this machine in the PDF
        page.evaluate(UNLINK_LOCAL)
        page.emulate_media(media="print")
        page.pdf(path=str(pdf), format=PDF_FORMAT, margin=PDF_MARGIN,
                 print_background=True, display_header_footer=True,
                 header_template=head, footer_template=foot,
                 tagged=True, outline=True, prefer_css_page_size=css_page_size)
    finally:
        page.close()


#: The creation and modification dates Chromium writes into a PDF (D:YYYYMMDDHHmmSS).
PDF_DATE = re.compile(rb"(/(?:CreationDate|ModDate) ?\(D:)\d{14}")


def _pdf_date() -> str:
    """:data:`SOURCE_DATE_EPOCH` as a PDF date's 14 digits (the same length: the file's
    cross-reference offsets stay valid)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(int(SOURCE_DATE_EPOCH)))


def render_docx(html: Path, docx: Path) -> None:
    """``html`` converted to ``docx`` by pandoc (the page without its navigation, heading
    anchors and title element; table text in :data:`WORD_TABLE_HALF_POINTS`), figures found
    beside the page."""
    import pypandoc  # optional: only the Word file needs it

    page = NOT_IN_WORD.sub("", html.read_text(encoding="utf-8"))
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
    try:
        pypandoc.convert_text(page, "docx", format="html", outputfile=str(docx),
                              extra_args=[f"--resource-path={html.parent}",
                                          f"--reference-doc={_reference_docx()}"])
    finally:
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


@cache
def _reference_docx() -> Path:
    """Pandoc's own reference document with table text set in
    :data:`WORD_TABLE_HALF_POINTS` (pandoc's "Compact" paragraph style). Kept in one file of
    the temporary folder per pandoc and size, shared by every process and written atomically
    (nothing binary is kept in the repository, and no folder is left per process)."""
    import pypandoc

    pandoc = pypandoc.get_pandoc_path()
    version = subprocess.run([pandoc, "--version"], capture_output=True, text=True,
                             check=True).stdout.split("\n", 1)[0]
    key = hashlib.sha256(f"{version} {WORD_TABLE_HALF_POINTS}".encode()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / f"immune-recovery-reference-{key}.docx"
    if out.is_file():
        return out
    default = subprocess.run([pandoc, "--print-default-data-file", "reference.docx"],
                             capture_output=True, check=True).stdout
    size = f'<w:rPr><w:sz w:val="{WORD_TABLE_HALF_POINTS}" /></w:rPr>'
    partial = out.with_suffix(f".{os.getpid()}.part")
    with zipfile.ZipFile(io.BytesIO(default)) as source, zipfile.ZipFile(partial, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/styles.xml":
                text = data.decode("utf-8")
                compact = re.search(r'<w:style [^>]*w:styleId="Compact".*?</w:style>', text,
                                    re.DOTALL)
                if compact:
                    styled = compact.group(0).replace("</w:pPr>", "</w:pPr>" + size, 1)
                    text = text.replace(compact.group(0), styled)
                data = text.encode("utf-8")
            target.writestr(item, data)
    os.replace(partial, out)
    return out


def available_formats() -> Printed:
    """What this machine can print: ``files`` holds the formats it can make (file names
    still empty), ``skipped`` why it cannot make the others."""
    can = Printed()
    if not chromium_path():
        can.skipped["pdf"] = "Chromium is not installed (make reports installs it)"
    elif shutil.which("pdftotext") is None:
        can.skipped["pdf"] = ("poppler-utils is not installed (its pdftotext lets the output "
                              "checker read the PDF; make reports installs it)")
    elif importlib.util.find_spec("playwright") is None:
        can.skipped["pdf"] = "Playwright is not installed (pip install playwright)"
    else:
        can.files["pdf"] = ""
    if importlib.util.find_spec("pypandoc") is None:
        can.skipped["docx"] = "pandoc is not installed (pip install pypandoc-binary)"
    else:
        can.files["docx"] = ""
    return can


def print_report(html: Path, title: str, can: Printed | None = None) -> Printed:
    """The PDF and Word versions of the page ``html``, beside it (same stem), as far as this
    machine can make them (``can``, default :func:`available_formats`)."""
    can = available_formats() if can is None else can
    done = Printed(skipped=dict(can.skipped))
    if "pdf" in can.files:
        render_pdf(html, html.with_suffix(".pdf"), title)
        done.files["pdf"] = html.with_suffix(".pdf").name
    if "docx" in can.files:
        render_docx(html, html.with_suffix(".docx"))
        done.files["docx"] = html.with_suffix(".docx").name
    return done
