"""The report site in a real browser: Debian's Chromium driven by Playwright.

Opens ``reports/index.html`` and every report page over a local HTTP server and fails on a
broken image or link, a console error, a failed request, a traceback or a raw object repr in
the page, or code shown by default. Screenshots of the index and of the evidence report go to
``$SCREENSHOT_DIR`` (default ``build/screenshots``; ``make screenshots`` writes the README's).
"""

from __future__ import annotations

import functools
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

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
MAX_REPORTS_BYTES = 50 * 1024 * 1024

#: Text that must never be visible on a page.
FORBIDDEN_TEXT = [
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"\bobject at 0x[0-9a-fA-F]+"),
    re.compile(r"<(?:matplotlib|pandas|statsmodels|lifelines)\.[A-Za-z_.]+"),
    re.compile(r"\b[A-Z][A-Za-z]*Error: "),
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
            shown = page.evaluate("() => document.querySelectorAll('details.ir-code[open]')"
                                  ".length")
            folded = page.evaluate("() => document.querySelectorAll('details.ir-code').length")
            if shown or not folded:
                problems.append(f"code must be folded away by default ({folded} code cells, "
                                f"{shown} open)")
            if not page.query_selector("footer.ir-footer"):
                problems.append("no provenance footer")
            captions = page.evaluate("() => Array.from(document.querySelectorAll('figure'))"
                                     ".filter(f => !f.querySelector('figcaption')).length")
            if captions:
                problems.append(f"{captions} figure(s) without a caption")
    finally:
        page.close()
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


def test_code_can_be_shown(server, browser):
    problems: list[str] = []
    page = _open(browser, urljoin(server, "evidence/evidence.html"), problems)
    cell = page.locator("details.ir-code", has_text="from immune_recovery import").first
    assert not cell.locator("pre").first.is_visible()
    cell.locator("summary").click()
    assert cell.get_attribute("open") is not None
    assert cell.locator("pre").first.is_visible()
    assert "from immune_recovery import evidence" in cell.inner_text()
    page.close()
    assert not problems


def test_index_opens_on_the_evidence_summary(server, browser):
    problems: list[str] = []
    page = _open(browser, urljoin(server, "index.html"), problems)
    first_link = page.locator("section a").first.get_attribute("href")
    assert first_link == "evidence/evidence.html"
    assert page.locator("section").first.locator(".summary").inner_text().startswith(
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
