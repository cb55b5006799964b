"""One Chromium for every PDF of a run.

Printing a report to PDF (:func:`~.printed.render_pdf`) starts Playwright's driver and a
headless Chromium, about 0.6 s, for about as long again of printing. The **print server**
(:class:`PrintServer`, a :class:`~.localserver.LocalServer` started at the beginning of an
``immune-recovery report`` run) starts them once; each report's builder sends it the page to
print (``{"html", "pdf", "title", "css_page_size"}``) and waits for ``{"ok"}`` or
``{"error"}``. The page is printed by the same function with the same Chromium and options, in
a fresh page, so the PDF says what the builder's own would say. (Not byte for byte: the
element numbers of a tagged PDF follow Chromium's count of page nodes, which differs from one
print to the next in a fresh browser too.) Without the server, or if it fails, the builder
prints the page itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .localserver import LocalServer, end_with_parent, listen, receive, send
from .printed import launch_chromium, print_page


class PrintServer(LocalServer):
    """The print server of one run (``env``: added to its environment)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(__name__, [], env)


def serve(address: str) -> None:
    """Start Chromium, listen on ``address`` and print each request's page, one at a time,
    until SIGTERM or the end of the run (:func:`~.localserver.end_with_parent`)."""
    from playwright.sync_api import sync_playwright  # optional: only the PDF needs it

    end_with_parent(address)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            listener = listen(address)
            while True:
                connection, _ = listener.accept()
                with connection:
                    _answer(connection, browser)
        finally:
            browser.close()


def _answer(connection, browser) -> None:
    try:
        request = receive(connection)
        print_page(browser, Path(request["html"]), Path(request["pdf"]), request["title"],
                   bool(request["css_page_size"]))
        send(connection, {"ok": True})
    except Exception as err:  # noqa: BLE001 - the builder prints the page itself
        try:
            send(connection, {"error": str(err)})
        except OSError:
            pass


if __name__ == "__main__":
    serve(sys.argv[1])
