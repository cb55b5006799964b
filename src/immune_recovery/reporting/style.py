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
text-align:left;vertical-align:top}
table.dataframe th{background:#f6f6f6}
table.dataframe .num{text-align:right;font-variant-numeric:tabular-nums}
table.dataframe caption{caption-side:top;text-align:left;font-size:.9rem;color:#333;
padding:.2rem 0}
.jp-RenderedMarkdown table{border-collapse:collapse;font-size:.85rem}
.jp-RenderedMarkdown th,.jp-RenderedMarkdown td{border-bottom:1px solid #e3e3e3;
padding:.2rem .5rem;vertical-align:top}
blockquote{border-left:3px solid #ccc;margin:.5rem 0;padding:.1rem .8rem;color:#444}
figure.ir-figure{margin:1rem 0} figure.ir-figure figcaption{color:#444;font-size:.9rem}
section.ir-answer{background:#f3f7fb;border-left:4px solid #2b6cb0;padding:.1rem .9rem;
margin:1rem 0}
section.ir-params{margin-top:2rem;border-top:1px solid #ddd}
table.ir-parameters{border-collapse:collapse;font-size:.8rem}
table.ir-parameters td,table.ir-parameters th{border-bottom:1px solid #eee;padding:.1rem .4rem;
text-align:left;vertical-align:top}
.jp-OutputArea-output pre{white-space:pre-wrap;font-size:.8rem}
img{max-width:100%;height:auto}
a.anchor-link{visibility:hidden;text-decoration:none;margin-left:.3rem}
h1:hover a.anchor-link,h2:hover a.anchor-link,h3:hover a.anchor-link{visibility:visible}
"""

#: Printing (the PDF): no navigation, wide tables set smaller and wrapped instead of cut (a
#: word is broken only in tables of many columns, where whole words cannot fit the page),
#: table headers repeated on every page, rows and figures never split across pages.
PRINT_CSS = """
@media print{
body{max-width:none;padding:0;font-size:10pt}
nav.ir-nav{display:none}
main table,main table.dataframe{max-width:100%;table-layout:auto;font-size:7pt;
page-break-inside:auto}
main table.dataframe{width:100%}
main table th,main table td,main table.dataframe th,main table.dataframe td{
padding:.05rem .2rem}
main table td,main table td code{overflow-wrap:anywhere;word-break:break-word}
main table.dataframe:not(.dense) td{overflow-wrap:break-word;word-break:normal}
main table th{overflow-wrap:break-word}
main table.dataframe.wide{font-size:5.5pt}
main table.dataframe.wide th,main table.dataframe.wide td{padding:0 .08rem}
main table.dataframe.wide thead th{writing-mode:vertical-rl;transform:rotate(180deg);
white-space:nowrap;vertical-align:bottom;text-align:left}
thead{display:table-header-group} tfoot{display:table-row-group}
tr,figure.ir-figure,img{break-inside:avoid;page-break-inside:avoid}
h1,h2,h3{break-after:avoid;page-break-after:avoid}
pre,.jp-OutputArea-output pre{white-space:pre-wrap;overflow-wrap:anywhere}
a{color:inherit;text-decoration:none}
}
"""

#: The index of all reports.
INDEX_CSS = BASE_CSS + """
body{max-width:60rem;margin-top:2rem;padding-bottom:0}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.report{margin:1rem 0 1.4rem} .report h3{margin:.2rem 0} .question{margin:.2rem 0}
.meta{color:#555;font-size:.9rem;margin:.2rem 0} .links{font-size:.9rem;margin:.2rem 0}
.summary{background:#f3f7fb;border-left:4px solid #2b6cb0;padding:.5rem .8rem;margin:.4rem 0}
"""
