"""What report notebooks call: output folder, tidy tables, figures with captions, provenance.

A notebook creates one :class:`Report` from its ``report_id`` parameter, then writes each key
table with :meth:`Report.table` (CSV under ``tables/``) and each figure with
:meth:`Report.figure` (PNG under ``figures/``, shown with its caption and alt text). Outputs
are deterministic: CSV floats are written with 10 significant digits, PNGs without a
timestamp, and the figure shown in the notebook is an ``<img>`` pointing at the PNG file
(so the executed notebook does not embed image bytes).
"""

from __future__ import annotations

import html
import json
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from .. import disclosure
from ..definitions import readable_name
from ..exceptions import ConvergenceWarning
from ..formatting import CAPTION, captioned, display_frame
from ..paths import project_root, reports_dir
from .glossary import column_header, table_caption
from .outputcheck import figure_text
from .provenance import git_commit, input_checksums, package_versions, public_value
from .spec import ReportSpec, load_spec
from .stale import source_sha256

CSV_FLOAT_FORMAT = "%.10g"

#: Matplotlib settings shared by every report figure (fixed size and resolution).
MPL_STYLE = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "immune-recovery",
}


def setup(min_cell: int = 0) -> None:
    """Notebook-wide settings: plotting style, pandas display, warnings from dependencies;
    ``min_cell`` >= 2 turns on disclosure control (:mod:`immune_recovery.disclosure`) for a
    researcher's cohort."""
    disclosure.set_min_cell(min_cell)
    _numbers.clear()
    _figure_numbers.clear()
    matplotlib.use("Agg")
    matplotlib.rcParams.update(MPL_STYLE)
    pd.set_option("display.max_rows", 80)
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 140)
    pd.set_option("display.precision", 3)
    # Dependency deprecation noise would make executed notebooks differ between versions;
    # the package's own warnings (immune_recovery.exceptions) stay visible.
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    # a model that did not converge must not reach a report
    warnings.simplefilter("error", ConvergenceWarning)
    # a dependency's warning is shown without the path of the file that raised it
    warnings.formatwarning = _short_warning
    _register_readable_tables()


def _short_warning(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {message}\n"


def _register_readable_tables() -> None:
    """Show DataFrames in HTML with estimates and CIs together (``0.50 (0.33–0.76)``), both
    the HTML and the plain-text view under disclosure control."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebook stack
        return
    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, _html)
    formatters["text/plain"].for_type(pd.DataFrame, _plain)


def _html(df: pd.DataFrame) -> str:
    try:
        shown = disclosure.protect(df)
    except disclosure.DisclosureError as err:
        return f"<p>Table withheld (disclosure control): {html.escape(str(err))}</p>"
    return table_html(shown, _caption_of(df))


def table_html(df: pd.DataFrame, caption: str = "") -> str:
    """A table as every report shows it (:func:`~immune_recovery.formatting.display_frame`):
    numbered ("Table n.") and captioned above, headers from the glossary (with units), text
    left and numbers right, definitions by their readable names (ids in the footnote), at
    most :data:`MAX_ROWS` rows (the rest named in the footnote)."""
    _numbers["table"] += 1
    text, numeric = display_frame(df)
    text = text.head(MAX_ROWS)
    esc = _breakable
    klass = ["num" if n else "text" for n in numeric]
    head = "".join(f'<th class="{k}">{esc(column_header(str(c)))}</th>'
                   for c, k in zip(text.columns, klass, strict=True))
    cells = text.map(esc)
    ids = _definition_ids(text)
    if ids:
        cells["definition"] = [f"{html.escape(readable_name(v))}<sup>{ids[v]}</sup>"
                               if v in ids else cells.at[i, "definition"]
                               for i, v in text["definition"].items()]
    rows = "".join("<tr>" + "".join(f'<td class="{k}">{v}</td>'
                                    for v, k in zip(row, klass, strict=True)) + "</tr>"
                   for row in cells.itertuples(index=False))
    notes = []
    if ids:
        notes.append("Definition ids: " + "; ".join(f"{n} = {esc(i)}" for i, n in ids.items()))
    more = len(df) - MAX_ROWS
    if more > 0:
        notes.append(f"{more} more rows in the table's CSV file")
    foot = ("<tfoot>" + "".join(f'<tr><td colspan="{len(klass)}">{n}</td></tr>'
                                for n in notes) + "</tfoot>") if notes else ""
    title = f"Table {_numbers['table']}." + (f" {html.escape(caption)}" if caption else "")
    wide = " wide" if len(klass) > WIDE_COLUMNS else ""
    dense = " dense" if len(klass) >= WIDE_COLUMNS else ""
    return (f'<table class="dataframe ir-table{wide}{dense}"><caption>{title}</caption><thead>'
            f"<tr>{head}</tr></thead><tbody>{rows}</tbody>{foot}</table>")


def _definition_ids(text: pd.DataFrame) -> dict[str, int]:
    """The definition ids of a ``definition`` column, numbered by first appearance (values
    that are no known definition are left out)."""
    if "definition" not in text.columns:
        return {}
    known = [v for v in dict.fromkeys(text["definition"]) if readable_name(str(v))]
    return {v: n for n, v in enumerate(known, 1)}


#: Columns from which a table is printed in small type with its headers turned upright.
WIDE_COLUMNS = 12


def _breakable(text: str) -> str:
    """Text escaped for HTML, with line-break opportunities after ``_``, ``=`` and ``/``
    (identifiers such as ``seed_gain_le100_m6_12`` wrap there, never mid-word)."""
    out = html.escape(text)
    for mark in ("_", "=", "/"):
        out = out.replace(mark, mark + "<wbr>")
    return out


#: Rows shown of a table (all of them are in its CSV file).
MAX_ROWS = 80
#: Tables and figures shown so far in this kernel (one report per kernel).
_numbers: Counter = Counter()
#: Each figure's number, by its file, in the order first shown.
_figure_numbers: dict[str, int] = {}
def _caption_of(df: pd.DataFrame) -> str:
    return str(df.attrs.get(CAPTION, ""))


def _plain(df: pd.DataFrame, printer, cycle: bool) -> None:
    try:
        printer.text(repr(disclosure.protect(df)))
    except disclosure.DisclosureError as err:
        printer.text(f"Table withheld (disclosure control): {err}")


@dataclass(frozen=True)
class FigureOutput:
    """A saved figure as shown in the notebook and the HTML report."""

    path: str
    caption: str
    alt: str

    @property
    def numbered(self) -> str:
        """"Figure n. caption", n counted in the order figures are first shown (a figure
        saved and not shown takes no number)."""
        number = _figure_numbers.setdefault(self.path, len(_figure_numbers) + 1)
        return f"Figure {number}. {self.caption}"

    def _repr_html_(self) -> str:
        return (
            f'<figure class="ir-figure"><img src="{html.escape(self.path)}" '
            f'alt="{html.escape(self.alt)}" style="max-width:100%">'
            f"<figcaption>{html.escape(self.numbered)}</figcaption></figure>"
        )

    def __repr__(self) -> str:
        return f"{self.numbered} ({self.path})"


@dataclass(frozen=True)
class Html:
    """HTML shown as such in notebooks and pages (``plain`` elsewhere)."""

    markup: str
    plain: str

    def _repr_html_(self) -> str:
        return self.markup

    def __repr__(self) -> str:
        return self.plain


def inline_markdown(text: str) -> str:
    """Markdown's inline marks as HTML (``**bold**``, ``*italic*``, `` `code` ``), the rest
    escaped; enough for the package's own sentences."""
    out = html.escape(" ".join(text.split()), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)


@dataclass(frozen=True)
class Markdown:
    """Markdown shown as such in notebooks and HTML (plain text elsewhere)."""

    text: str

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


class Report:
    """The output folder of one report and the helpers that write into it."""

    def __init__(self, report_id: str):
        self.id = report_id
        self.folder = reports_dir() / report_id
        (self.folder / "tables").mkdir(parents=True, exist_ok=True)
        (self.folder / "figures").mkdir(parents=True, exist_ok=True)
        params = Path(os.environ.get("IMMUNE_RECOVERY_PARAMS_DIR")
                      or project_root() / "params") / f"{report_id}.yaml"
        self.spec: ReportSpec | None = load_spec(params) if params.is_file() else None

    def header(self) -> Html:
        """Title and question (and, under disclosure control, what its markers mean); the
        rerun command and the effective parameters (the notebook's defaults updated by
        ``params/<id>.yaml``) follow, and the page puts them at its end
        (:func:`~immune_recovery.reporting.build.arrange`)."""
        if self.spec is None:
            return Html(f"<h1>{html.escape(self.id)}</h1>", self.id)
        spec = self.spec
        head = (f'<header class="ir-head"><h1>{html.escape(spec.title)}</h1>'
                f"<p><strong>Question.</strong> {html.escape(spec.question)}</p>")
        if disclosure.rules().on:
            head += f"<p>{inline_markdown(disclosure.legend())}</p>"
        rows = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td><code>"
                       f"{_breakable(_table_text(json.dumps(public_value(v))))}</code></td>"
                       "</tr>"
                       for k, v in spec.effective_parameters.items() if k != "notes")
        where = "" if spec.rerun else (  # a cohort's site holds neither file
            f" (parameters in <code>{html.escape(spec.params_file)}</code>, notebook "
            f"<code>notebooks/{html.escape(spec.notebook)}.ipynb</code>)")
        params = (f'<section class="ir-params"><h2>Parameters</h2><p><strong>Rerun:</strong> '
                  f"<code>{html.escape(spec.make_target)}</code>{where}.</p>"
                  f'<table class="ir-parameters"><thead><tr><th>parameter</th><th>value</th>'
                  f"</tr></thead><tbody>{rows}</tbody></table></section>")
        return Html(head + "</header>" + params,
                    f"{spec.title}\n\nQuestion. {spec.question}")

    def note(self, text: str) -> Markdown:
        """A paragraph of narrative given as a parameter (shown as Markdown)."""
        return Markdown(text)

    def summary(self, text: str) -> Html:
        """The report's answer in a paragraph (Markdown): on the index page (``summary.md``
        in the report folder) and, on the page, right under the question
        (:func:`~immune_recovery.reporting.build.arrange`)."""
        (self.folder / "summary.md").write_text(text.strip() + "\n", encoding="utf-8")
        paragraphs = "".join(f"<p>{inline_markdown(p)}</p>"
                             for p in text.strip().split("\n\n"))
        return Html(f'<section class="ir-answer"><h2>Answer</h2>{paragraphs}</section>',
                    "Answer\n\n" + text)

    def table(self, df: pd.DataFrame, name: str, index: bool = False, caption: str = ""
              ) -> pd.DataFrame:
        """Write ``df`` to ``tables/<name>.csv`` as it may be published (under disclosure
        control small cells and what reveals them are suppressed; identifiers or dates stop
        the report) and return ``df`` itself, unchanged, for the analysis to go on with (its
        display is protected again by the notebook's formatters, numbered and captioned by
        ``caption``, default the glossary's caption of ``name``, and its file)."""
        captioned(df, f"{caption or table_caption(name)} (tables/{name}.csv)")
        published, suppressed = disclosure.publish(df, name)
        published.to_csv(self.folder / "tables" / f"{name}.csv", index=index,
                         float_format=CSV_FLOAT_FORMAT, lineterminator="\n")
        if disclosure.rules().on:
            self._record_suppressed(name, suppressed)
        return df

    def _record_suppressed(self, name: str, suppressed: Counter) -> None:
        """Cells suppressed per table and marker (``suppressed.json``, read by the site's
        output checker)."""
        path = self.folder / "suppressed.json"
        record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        record[f"tables/{name}.csv"] = dict(sorted(suppressed.items()))
        path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    def figure(self, fig: plt.Figure, name: str, caption: str, alt: str) -> FigureOutput:
        """Save ``fig`` to ``figures/<name>.png``, close it, and return its display object."""
        path = self.folder / "figures" / f"{name}.png"
        fig.savefig(path, bbox_inches="tight",
                    metadata={"Software": None, "Description": figure_text(fig)})
        plt.close(fig)
        return FigureOutput(path=f"figures/{name}.png", caption=caption, alt=alt)

    def provenance(self, inputs: list[str]) -> pd.DataFrame:
        """Source-tree hash, git commit (when the tree is clean), package versions and the
        sha256 of every input file, as one table."""
        commit = git_commit()
        rows = [{"item": "source tree sha256", "value": source_sha256()},
                {"item": "git commit", "value": commit or "none (uncommitted source changes)"}]
        rows += [{"item": f"version: {k}", "value": v} for k, v in package_versions().items()]
        rows += [{"item": f"sha256: {r['path']}", "value": r["sha256"]}
                 for r in input_checksums(inputs)]
        return captioned(pd.DataFrame(rows), "Provenance: source-tree hash, package versions "
                         "and the checksum of every input")


def _table_text(value: object) -> str:
    """A parameter value on one Markdown table line (long text shortened)."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= 100 else text[:97] + "..."
