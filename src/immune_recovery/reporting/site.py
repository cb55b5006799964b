"""``reports/manifest.json`` and ``reports/index.html``, generated from each report's
``report.json``.

Usage: ``python -m immune_recovery.reporting.site``.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

from ..paths import reports_dir
from .spec import GROUPS

GROUP_TITLES = {
    "evidence": "Evidence: the background's claims, checked",
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


def write_manifest(records: list[dict], root: Path) -> Path:
    path = root / "manifest.json"
    manifest = {
        "description": "Every report of immune-recovery: id, title, notebook, parameters, "
                       "outputs, input checksums, package versions and git commit.",
        "reports": records,
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def _links(record: dict) -> str:
    rid = record["id"]
    out = record["outputs"]
    links = [f'<a href="{rid}/{out["html"]}">report</a>',
             f'<a href="{rid}/{out["notebook"]}">notebook</a>']
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
    return (
        f'<article class="report" id="{record["id"]}">'
        f'<h3><a href="{record["id"]}/{record["outputs"]["html"]}">'
        f'{html.escape(record["title"])}</a></h3>'
        f'<p class="question">{html.escape(record["question"])}</p>'
        f"{_summary_html(record, root)}"
        f'<p class="meta">Data: {html.escape(", ".join(inputs) or "none")} · '
        f'Parameters: {params or "none"} · Built {html.escape(record["built_at"][:10])} '
        f'from commit <code>{html.escape(record["git_commit"][:12])}</code> · '
        f'Rerun: <code>{html.escape(record["make_target"])}</code></p>'
        f'<p class="links">{_links(record)}</p></article>'
    )


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;
margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.report{margin:1rem 0 1.4rem} .report h3{margin:.2rem 0} .question{margin:.2rem 0}
.meta{color:#555;font-size:.9rem;margin:.2rem 0} .links{font-size:.9rem;margin:.2rem 0}
code{background:#f4f4f4;padding:0 .2rem;border-radius:3px}
.summary{background:#f3f7fb;border-left:4px solid #2b6cb0;padding:.5rem .8rem;margin:.4rem 0}
"""


def write_index(records: list[dict], root: Path) -> Path:
    sections = []
    grouped = [(g, [r for r in records if r.get("group") == g]) for g in GROUPS]
    grouped.append(("other", [r for r in records if r.get("group") not in GROUPS]))
    for group, members in grouped:
        if not members:
            continue
        title = GROUP_TITLES.get(group, "Other reports")
        sections.append(f'<section id="group-{group}"><h2>{html.escape(title)}</h2>'
                        + "".join(_report_html(r, root) for r in members) + "</section>")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\"><title>immune-recovery reports</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>immune-recovery</h1>"
        "<p>Immunologic non-response to antiretroviral therapy: how often it occurs, who it "
        "affects, whether it matters, and what immune-based therapy achieved. Every number "
        "below is computed by the <code>immune_recovery</code> package from the data named "
        "in each report; <code>make reports</code> rebuilds them all.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
    path = root / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def build_site(root: Path | None = None) -> tuple[Path, Path]:
    root = root or reports_dir()
    records = collect(root)
    return write_manifest(records, root), write_index(records, root)


def main() -> int:
    manifest, index = build_site()
    print(f"{manifest.name} and {index.name}: {len(collect())} reports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
