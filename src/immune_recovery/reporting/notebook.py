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
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from .. import disclosure
from ..exceptions import ConvergenceWarning
from ..formatting import readable
from ..paths import project_root, reports_dir
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
    return readable(shown).to_html(max_rows=80, na_rep="")


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

    def _repr_html_(self) -> str:
        return (
            f'<figure class="ir-figure"><img src="{html.escape(self.path)}" '
            f'alt="{html.escape(self.alt)}" style="max-width:100%">'
            f"<figcaption>{html.escape(self.caption)}</figcaption></figure>"
        )

    def __repr__(self) -> str:
        return f"Figure ({self.path}): {self.caption}"


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

    def header(self) -> Markdown:
        """Title, question, how to rerun, and the effective parameters (the notebook's defaults
        updated by ``params/<id>.yaml``)."""
        if self.spec is None:
            return Markdown(f"# {self.id}")
        spec = self.spec
        lines = [f"# {spec.title}", "", f"**Question.** {spec.question}", "",
                 f"**Rerun:** `{spec.make_target}` (parameters in `{spec.params_file}`, "
                 f"notebook `notebooks/{spec.notebook}.ipynb`).", "",
                 "| parameter | value |", "|---|---|"]
        lines += [f"| `{k}` | `{_table_text(public_value(v))}` |"
                  for k, v in spec.effective_parameters.items() if k != "notes"]
        if disclosure.rules().on:
            lines += ["", disclosure.legend()]
        return Markdown("\n".join(lines))

    def note(self, text: str) -> Markdown:
        """A paragraph of narrative given as a parameter (shown as Markdown)."""
        return Markdown(text)

    def summary(self, text: str) -> Markdown:
        """The report's one-paragraph summary: shown here and on the index page
        (``summary.md`` in the report folder)."""
        (self.folder / "summary.md").write_text(text.strip() + "\n", encoding="utf-8")
        return Markdown("## Summary\n\n" + text)

    def table(self, df: pd.DataFrame, name: str, index: bool = False) -> pd.DataFrame:
        """Write ``df`` to ``tables/<name>.csv`` as it may be published (under disclosure
        control small cells and what reveals them are suppressed; identifiers or dates stop
        the report) and return ``df`` itself, unchanged, for the analysis to go on with (its
        display is protected again by the notebook's formatters)."""
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
        return pd.DataFrame(rows)


def _table_text(value: object) -> str:
    """A parameter value on one Markdown table line (long text shortened)."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= 100 else text[:97] + "..."
