"""``immune-recovery pool BUNDLE... --out DIR``: the consortium's pooled report as a site.

The bundles are read and checked first (a damaged bundle, or bundles whose schema or
definitions differ, stop the run with a message naming each bundle); then the consortium report
(``notebooks/consortium.ipynb``) is built through the same papermill pipeline as every report,
into ``DIR/consortium-<name>/``, with ``DIR/index.html`` and ``DIR/manifest.json``; the output
checker reads every file of the site and writes ``DIR/disclosure.json``. Parameter files and
staging live in the work folder beside the site (``DIR.work``), removed after the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from ..checksums import sha256_file
from ..disclosure import DEFAULT_MIN_CELL, DisclosureError, check_min_cell
from ..exceptions import ParameterError
from ..paths import notebooks_dir, write_if_changed
from ..reporting.cohort_site import NAME, SiteResult, run_reports, work_folder
from ..reporting.outputcheck import check_site
from ..reporting.site import build_site
from ..reporting.stale import source_sha256
from ..staleness import key_of
from .bundle import read_bundle
from .pool import check_compatible

NOTEBOOK = "consortium"
QUESTION = ("Pooled across the consortium's cohorts, how often does non-response occur, who "
            "fails to respond, does it matter clinically, and do early non-responders respond "
            "later? How much do the cohorts differ?")


def build_consortium_site(bundle_paths: list[str | Path], out: str | Path,
                          name: str = "consortium", min_cell: int = DEFAULT_MIN_CELL,
                          progress: bool = True, keep_work: bool = False) -> SiteResult:
    """Pool the bundles into the consortium site ``out`` (see the module docstring)."""
    if not NAME.match(name):
        raise ParameterError(f"--name {name!r}: use lower-case letters, digits and dashes")
    check_min_cell(min_cell)
    paths = [Path(p).resolve() for p in bundle_paths]
    bundles = [read_bundle(p) for p in paths]
    check_compatible(bundles)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = work_folder(out)
    try:
        return _build(paths, out, work, name, min_cell, progress)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)


def _build(paths: list[Path], out: Path, work: Path, name: str, min_cell: int,
           progress: bool) -> SiteResult:
    report_id = f"consortium-{name}"
    title = f"Consortium {name}: {len(paths)} cohorts pooled"
    spec = {"notebook": NOTEBOOK, "title": title, "group": "consortium", "question": QUESTION,
            "data": "", "depends_on": "",
            "rerun": f"immune-recovery pool <{len(paths)} bundles> --name {name} "
                     f"--min-cell {min_cell}",
            "parameters": {"consortium": name, "bundles": [str(p) for p in paths],
                           "min_cell": min_cell}}
    params = work / "params" / f"{report_id}.yaml"
    params.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(params, yaml.safe_dump(spec, sort_keys=False))
    hashes = {"notebook": sha256_file(notebooks_dir() / f"{NOTEBOOK}.ipynb"),
              "params": sha256_file(params),
              "data": key_of({p.name: sha256_file(p) for p in paths}),
              "source": source_sha256(), "depends_on": {}}
    result = SiteResult(out=out)
    result.suite[report_id] = {"id": report_id, "title": title, "group": "consortium",
                               "question": QUESTION}
    run_reports([(str(params), str(out), hashes, str(work / "staging"), report_id)], 1,
                progress, result)
    build_site(out, intro=(
        "The consortium's pooled report, built by <code>immune-recovery pool</code> from the "
        "sites' bundles (aggregates only), with disclosure control (minimum cell "
        f"{min_cell}; see <a href=\"disclosure.json\">disclosure.json</a>)."),
        not_built=result.not_built())
    result.checked = check_site(out, min_cell)
    if result.checked.findings:
        shutil.rmtree(out / report_id, ignore_errors=True)
        found = "; ".join(f.describe(with_value=False) for f in result.checked.findings[:5])
        raise DisclosureError(f"the consortium report was withdrawn by the output checker: "
                              f"{found}")
    return result
