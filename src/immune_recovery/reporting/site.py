"""``reports/manifest.json`` and ``reports/index.html``, generated from each report's
``report.json``.

Usage: ``python -m immune_recovery.reporting.site``.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

from ..paths import reports_dir, write_if_changed
from .printed import PRINTED_NAMES
from .provenance import code_identity
from .spec import GROUPS
from .style import INDEX_CSS

GROUP_TITLES = {
    "evidence": "Evidence: the background's claims, checked",
    "consortium": "Cohorts pooled: the consortium",
    "cohorts": "The data: cohort overviews",
    "frequency": "How often does non-response occur?",
    "risk-factors": "Who fails to respond?",
    "outcomes": "Does non-response matter clinically?",
    "trajectories": "CD4 trajectories, plateaus and late responders",
    "therapy": "Immune-based therapy",
    "simulation": "Simulation checks",
    "data-quality": "Data quality",
}


def collect(root: Path | None = None) -> list[dict]:
    """Every ``reports/*/report.json``, ordered by index group, then report id."""
    root = root or reports_dir()
    records = [json.loads(p.read_text(encoding="utf-8"))
               for p in sorted(root.glob("*/report.json"))]
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(records, key=lambda r: (order.get(r.get("group"), len(order)), r["id"]))


def write_manifest(records: list[dict], root: Path, not_built: list[dict] | None = None
                   ) -> Path:
    path = root / "manifest.json"
    manifest = {
        "description": "Every report of immune-recovery: id, title, notebook, parameters, "
                       "outputs, input checksums, package versions and git commit.",
        "reports": records,
    }
    if not_built:
        manifest["not_built"] = not_built
    write_if_changed(path, json.dumps(manifest, indent=2) + "\n")
    return path


def _links(record: dict) -> str:
    rid = record["id"]
    out = record["outputs"]
    links = [f'<a href="{rid}/{out["html"]}">report</a>']
    links += [f'<a href="{rid}/{out[f]}">{name}</a>' for f, name in PRINTED_NAMES.items()
              if out.get(f)]
    links += [f'<a href="{rid}/{out["notebook"]}">notebook</a>']
    links += [f'<a href="{rid}/{t}">{html.escape(Path(t).name)}</a>' for t in out["tables"]]
    return " · ".join(links)


def _summary_html(record: dict, root: Path) -> str:
    """The report's own one-paragraph summary (``summary.md``), if it wrote one."""
    path = root / record["id"] / "summary.md"
    if not path.is_file():
        return ""
    return f'<p class="summary">{html.escape(path.read_text(encoding="utf-8").strip())}</p>'


def _report_html(record: dict, root: Path) -> str:
    params = ", ".join(f"<code>{html.escape(str(k))}={html.escape(json.dumps(v))}</code>"
                       for k, v in record["parameters"].items() if not isinstance(v, dict)
                       and not (isinstance(v, str) and len(v) > 60))
    inputs = sorted({Path(i["path"]).parent.as_posix() for i in record["inputs"]})
    code = code_identity(record.get("git_commit"), record.get("source_sha256", ""))
    return (
        f'<article class="report" id="{record["id"]}">'
        f'<h3><a href="{record["id"]}/{record["outputs"]["html"]}">'
        f'{html.escape(record["title"])}</a></h3>'
        f'<p class="question">{html.escape(record["question"])}</p>'
        f"{_summary_html(record, root)}"
        f'<p class="meta">Data: {html.escape(", ".join(inputs) or "none")} · '
        f'Parameters: {params or "none"} · Built {html.escape(record["built_at"][:10])} '
        f'from <code>{html.escape(code)}</code> · '
        f'Rerun: <code>{html.escape(record["make_target"])}</code></p>'
        f'<p class="links">{_links(record)}</p></article>'
    )




DEFAULT_INTRO = ("Immunologic non-response to antiretroviral therapy: how often it occurs, who "
                 "it affects, whether it matters, and what immune-based therapy achieved. "
                 "Every number below is computed by the <code>immune_recovery</code> package "
                 "from the data named in each report; <code>make reports</code> rebuilds "
                 "them all.")


def _not_built_html(record: dict) -> str:
    """A report of the suite that is not on the site, with its status and the reason."""
    return (f'<article class="report not-built" id="{html.escape(record["id"])}">'
            f'<h3>{html.escape(record["title"])}</h3>'
            f'<p class="question">{html.escape(record["question"])}</p>'
            f'<p class="status"><strong>{html.escape(record["status"].capitalize())}:</strong> '
            f'{html.escape(record["reason"])}</p></article>')


def write_index(records: list[dict], root: Path, intro: str = DEFAULT_INTRO,
                not_built: list[dict] | None = None) -> Path:
    """The index page: every built report by group, and every report of the suite that was
    not built (``not_built``: id, title, group, question, status, reason) with its status."""
    sections = []
    records = [*records, *[{**r, "_not_built": True} for r in not_built or []]]
    grouped = [(g, [r for r in records if r.get("group") == g]) for g in GROUPS]
    grouped.append(("other", [r for r in records if r.get("group") not in GROUPS]))
    for group, members in grouped:
        if not members:
            continue
        title = GROUP_TITLES.get(group, "Other reports")
        sections.append(f'<section id="group-{group}"><h2>{html.escape(title)}</h2>'
                        + "".join(_not_built_html(r) if r.get("_not_built")
                                  else _report_html(r, root) for r in members)
                        + "</section>")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\"><title>immune-recovery reports</title>"
        f"<style>{INDEX_CSS}</style></head><body>"
        "<h1>immune-recovery</h1>"
        f"<p>{intro}</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
    path = root / "index.html"
    write_if_changed(path, page)
    return path


def build_site(root: Path | None = None, intro: str = DEFAULT_INTRO,
               not_built: list[dict] | None = None) -> tuple[Path, Path]:
    root = root or reports_dir()
    records = collect(root)
    return (write_manifest(records, root, not_built),
            write_index(records, root, intro, not_built))


def main() -> int:
    manifest, index = build_site()
    print(f"{manifest.name} and {index.name}: {len(collect())} reports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
