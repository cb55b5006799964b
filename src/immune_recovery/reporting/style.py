"""The CSS of the report pages and of the index, written once (no external assets)."""

from __future__ import annotations

#: Shared by every page: typography and inline code.
BASE_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
padding:0 1rem 2rem;color:#222;line-height:1.45}
code{background:#f4f4f4;padding:0 .2rem;border-radius:3px}
"""

#: A report page (notebook body with navigation and provenance footer).
REPORT_CSS = BASE_CSS + """
body{max-width:68rem}
nav.ir-nav{padding:.6rem 0;border-bottom:1px solid #ddd;margin-bottom:1rem;font-size:.9rem}
footer.ir-footer{margin-top:2.5rem;padding-top:.6rem;border-top:1px solid #ddd;color:#555;
font-size:.85rem}
table.dataframe{border-collapse:collapse;font-size:.85rem;margin:.6rem 0}
table.dataframe th,table.dataframe td{border-bottom:1px solid #e3e3e3;padding:.2rem .5rem;
text-align:right;vertical-align:top}
table.dataframe th{background:#f6f6f6}
table.dataframe td:first-child,table.dataframe th:first-child{text-align:left}
.jp-RenderedMarkdown table{border-collapse:collapse;font-size:.85rem}
.jp-RenderedMarkdown th,.jp-RenderedMarkdown td{border-bottom:1px solid #e3e3e3;
padding:.2rem .5rem;vertical-align:top}
blockquote{border-left:3px solid #ccc;margin:.5rem 0;padding:.1rem .8rem;color:#444}
details.ir-code{margin:.3rem 0}
details.ir-code summary{cursor:pointer;color:#666;font-size:.8rem}
details.ir-code pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;font-size:.8rem}
figure.ir-figure{margin:1rem 0} figure.ir-figure figcaption{color:#444;font-size:.9rem}
.jp-OutputArea-output pre{white-space:pre-wrap;font-size:.8rem}
img{max-width:100%;height:auto}
a.anchor-link{visibility:hidden;text-decoration:none;margin-left:.3rem}
h1:hover a.anchor-link,h2:hover a.anchor-link,h3:hover a.anchor-link{visibility:visible}
"""

#: The index of all reports.
INDEX_CSS = BASE_CSS + """
body{max-width:60rem;margin-top:2rem;padding-bottom:0}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.report{margin:1rem 0 1.4rem} .report h3{margin:.2rem 0} .question{margin:.2rem 0}
.meta{color:#555;font-size:.9rem;margin:.2rem 0} .links{font-size:.9rem;margin:.2rem 0}
.summary{background:#f3f7fb;border-left:4px solid #2b6cb0;padding:.5rem .8rem;margin:.4rem 0}
"""
