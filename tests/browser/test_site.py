"""The report site in a real browser: Debian's Chromium driven by Playwright.

Opens ``reports/index.html`` and every report page over a local HTTP server and fails on a
broken image or link, a console error, a failed request, a traceback or a raw object repr in
the page, or code shown by default. Screenshots of the index and of the evidence report go to
``$SCREENSHOT_DIR`` (default ``build/screenshots``; ``make screenshots`` writes the README's).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

from immune_recovery.reporting.outputcheck import printed_text

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
MAX_REPORTS_BYTES = 50 * 1024 * 1024

#: Text that must never be visible on a page.
FORBIDDEN_TEXT = [
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"\bobject at 0x[0-9a-fA-F]+"),
    re.compile(r"<(?:matplotlib|pandas|statsmodels|lifelines)\.[A-Za-z_.]+"),
    re.compile(r"\b[A-Z][A-Za-z]*Error: "),
    re.compile(r"\b[A-Z][A-Za-z]*Warning: "),
    re.compile(r"running over TCP without encryption"),
]

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed "
                                                          "(make test installs it)")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server():
    url, shutdown = serve(REPORTS)
    yield url
    shutdown()


def _pages(root: Path = REPORTS) -> list[str]:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    return ["index.html"] + [f"{r['id']}/{r['outputs']['html']}" for r in manifest["reports"]]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def _open(browser, url: str, problems: list[str]):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    return page


def page_problems(browser, server: str, path: str) -> list[str]:
    """Everything wrong with one page of a site served at ``server``."""
    problems: list[str] = []
    url = urljoin(server, path)
    page = _open(browser, url, problems)
    try:
        broken = page.evaluate("""() => Array.from(document.images)
            .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'))""")
        problems += [f"broken image: {src}" for src in broken]
        no_alt = page.evaluate("""() => Array.from(document.images)
            .filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.getAttribute('src'))""")
        problems += [f"image without alt text: {src}" for src in no_alt]
        text = page.inner_text("body")
        problems += [f"forbidden text {p.pattern!r}: ...{m.group(0)}..."
                     for p in FORBIDDEN_TEXT for m in [p.search(text)] if m]
        hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'))"
                              ".map(a => a.getAttribute('href'))")
        for href in sorted(set(hrefs)):
            target, _ = urldefrag(urljoin(url, href))
            if not target or urlparse(target).netloc != urlparse(server).netloc:
                continue
            status = _status(target)
            if status != 200:
                problems.append(f"broken link {href!r}: HTTP {status}")
        if path != "index.html":
            problems += _report_page_problems(page)
    finally:
        page.close()
    return problems


#: Python's and pandas' literals, which a reader should never see in a table cell.
PYTHON_LITERALS = {"None", "True", "False", "nan", "NaN", "NaT", "<NA>", "inf", "-inf"}
#: The printable width of an A4 page with the PDF's margins (210 - 2 x 14 mm, in CSS px).
PRINT_WIDTH_PX = 688


def _report_page_problems(page) -> list[str]:
    """A report page: no code, a provenance footer, every table and figure numbered and
    captioned, no Python literal in a cell, and nothing wider than the printed page."""
    problems = []
    code = page.evaluate("() => document.querySelectorAll("
                         "'.jp-CodeCell .jp-InputArea, details.ir-code').length")
    if code:
        problems.append(f"{code} code cell(s) on the page (the code is in the notebook)")
    if not page.query_selector("footer.ir-footer"):
        problems.append("no provenance footer")
    if not page.query_selector("header.ir-head + section.ir-answer"):
        problems.append("no answer right under the question")
    captions = page.evaluate("""() => ({
        tables: Array.from(document.querySelectorAll('table.dataframe'))
            .map(t => t.caption ? t.caption.innerText.trim() : ''),
        figures: Array.from(document.querySelectorAll('figure'))
            .map(f => f.querySelector('figcaption') ? f.querySelector('figcaption').innerText
                 .trim() : '')})""")
    for kind, label in (("tables", "Table"), ("figures", "Figure")):
        numbers = [re.match(rf"{label} (\d+)\.", c) for c in captions[kind]]
        if not all(numbers) or [int(m.group(1)) for m in numbers] != \
                list(range(1, len(numbers) + 1)):
            problems.append(f"{kind} not numbered {label} 1, 2, ... in order: "
                            f"{captions[kind][:6]}")
        bare = [c for c in captions[kind] if not re.match(rf"{label} \d+\. \w", c)]
        if bare:
            problems.append(f"{kind} numbered but not captioned: {bare[:6]}")
    literals = page.evaluate("() => Array.from(document.querySelectorAll('td'))"
                             ".map(c => c.innerText.trim())")
    shown = sorted(set(literals) & PYTHON_LITERALS)
    if shown:
        problems.append(f"Python literals in table cells: {shown}")
    page.emulate_media(media="print")
    page.set_viewport_size({"width": PRINT_WIDTH_PX, "height": 1000})
    wide = page.evaluate("""(w) => Array.from(document.querySelectorAll(
            'main table, main img, main pre, main figure'))
        .filter(e => e.getBoundingClientRect().right > w + 2)
        .map(e => e.tagName + ' ' + Math.round(e.getBoundingClientRect().right))""",
                         PRINT_WIDTH_PX)
    if wide:
        problems.append(f"wider than the printed page: {wide[:5]}")
    broken = page.evaluate(BROKEN_WORDS_JS)
    if broken:
        problems.append(f"words broken across lines in printed table cells: {broken}")
    return problems


#: Words of four letters or more in the text cells of printed tables that fall on two lines
#: ("sustaine d"); only tables of many columns (class ``dense``) may break a word.
BROKEN_WORDS_JS = """() => {
  const out = [];
  for (const td of document.querySelectorAll('main table.dataframe:not(.dense) td.text')) {
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const re = /[A-Za-z]{4,}/g;
      let m;
      while ((m = re.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        if (range.getClientRects().length > 1) {
          out.push(m[0]);
          if (out.length > 5) return out;
        }
      }
    }
  }
  return out;
}"""


def printed_problems(root: Path, record: dict) -> list[str]:
    """A report's PDF and Word file: there, and holding the page's numbered tables and
    figures, with the words of each table's first cell (text read back by pdftotext and from
    the Word XML, compared with the page's tables)."""
    folder = root / record["id"]
    page = (folder / record["outputs"]["html"]).read_text(encoding="utf-8") \
        .replace("<wbr>", "")
    labels = re.findall(r"<caption>((?:Table) \d+)\.", page) + \
        re.findall(r"<figcaption>((?:Figure) \d+)\.", page)
    cells = re.findall(r"<tbody><tr><td[^>]*>([^<]{3,40})</td>", page)
    problems = []
    for kind in ("pdf", "docx"):
        name = record["outputs"].get(kind)
        if not name or not (folder / name).is_file():
            problems.append(f"no {kind}")
            continue
        text = " ".join((printed_text(folder / name) or "").split())
        missing = [label for label in labels if f"{label}." not in text]
        # a cell may wrap onto lines (its words' parts then follow each other), and lines
        # that the PDF's reading order separates (its words then stand apart)
        joined = "".join(text.split())
        missing += [c for c in cells if any(w not in text and w not in joined
                                            for w in re.findall(r"\w{3,}", html.unescape(c)))]
        if missing:
            problems.append(f"{name} lacks {missing[:5]}")
    return problems


def serve(directory: Path):
    """A local HTTP server for ``directory``: (base url, shutdown function)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/", httpd.shutdown


@pytest.mark.parametrize("path", _pages())
def test_page_renders_cleanly(server, browser, path):
    problems = page_problems(browser, server, path)
    assert not problems, f"{path}:\n" + "\n".join(problems)


def test_the_code_is_in_the_executed_notebook_linked_from_the_page(server, browser):
    problems: list[str] = []
    page = _open(browser, urljoin(server, "evidence/evidence.html"), problems)
    assert "from immune_recovery import" not in page.inner_text("body")
    link = page.locator("nav a", has_text="Executed notebook").first.get_attribute("href")
    page.close()
    notebook = json.loads((REPORTS / "evidence" / link).read_text(encoding="utf-8"))
    assert any("from immune_recovery import" in "".join(c["source"])
               for c in notebook["cells"])
    assert not problems


def _records(root: Path = REPORTS) -> list[dict]:
    return json.loads((root / "manifest.json").read_text(encoding="utf-8"))["reports"]


@pytest.mark.parametrize("record", _records(), ids=lambda r: r["id"])
def test_every_report_has_a_pdf_and_a_word_file_that_say_what_the_page_says(record):
    problems = printed_problems(REPORTS, record)
    assert not problems, problems


def test_index_opens_on_the_evidence_summary(server, browser):
    problems: list[str] = []
    page = _open(browser, urljoin(server, "index.html"), problems)
    first_link = page.locator("section a").first.get_attribute("href")
    assert first_link == "evidence/evidence.html"
    assert page.locator("section").first.locator(".summary").first.inner_text().startswith(
        "Of the background's")
    page.close()
    assert not problems


def test_screenshots(server, browser):
    out = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "build" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    for name, path in (("index", "index.html"), ("evidence", "evidence/evidence.html")):
        page = _open(browser, urljoin(server, path), [])
        page.screenshot(path=str(out / f"{name}.png"))
        page.close()
        assert (out / f"{name}.png").stat().st_size > 10_000


def test_reports_folder_stays_small():
    size = sum(p.stat().st_size for p in REPORTS.rglob("*") if p.is_file())
    assert size < MAX_REPORTS_BYTES, f"reports/ is {size / 2**20:.1f} MiB (limit 50 MiB)"
