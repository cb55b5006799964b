"""Build one report: execute its notebook with papermill, sanitize, render HTML, publish.

Everything is written into ``build/staging/<report-id>/`` first. Only when the notebook ran
without error, the HTML rendered and ``report.json`` was written is the folder moved into
``reports/<report-id>/`` (a rename, replacing the previous version). A failed build therefore
never leaves a report that looks up to date; the failed notebook, with papermill's error
banner, stays in the staging folder for debugging.

Usage: ``python -m immune_recovery.reporting.build params/<report-id>.yaml``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sys
import time
from html import escape as html_escape
from pathlib import Path

import nbformat

from ..exceptions import ImmuneRecoveryError
from ..paths import build_dir, checkout_root, project_root, relative_to_root, reports_dir
from ..staleness import key_of, publish_staged
from ..timing import Stopwatch
from .kernel import running_interpreter_kernel
from .printed import PRINTED_NAMES, Printed, available_formats, print_report
from .provenance import (
    LOCAL_PATH,
    code_identity,
    git_commit,
    input_checksums,
    package_versions,
    public_value,
)
from .sources import combined_pdf, sources_file
from .spec import ReportSpec, load_spec
from .stale import input_hashes
from .style import PRINT_CSS, REPORT_CSS
from .warmkernel import WarmKernelManager

CELL_TIMEOUT_SECONDS = 1800

#: Environment that makes kernels deterministic; the Makefile exports the same values.
DETERMINISTIC_ENV = {
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "Agg",
    "TZ": "UTC",
    "SM_FORMULA_ENGINE": "patsy",
    "PANDERA_VALIDATION_ENABLED": "True",
    "PANDERA_VALIDATION_DEPTH": "SCHEMA_AND_DATA",
    "DISABLE_PANDERA_IMPORT_WARNING": "True",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}

#: Text that must never reach a committed notebook: absolute paths of the building machine.
MACHINE_PATH = re.compile(r"/(?:tmp|home|root|work|Users)/")


class ReportBuildError(ImmuneRecoveryError):
    """The notebook failed, or produced output that must not be published."""


#: How many times a kernel that failed to start is started again before the report fails.
KERNEL_START_ATTEMPTS = 3

#: Messages of a kernel that did not start (jupyter_client): kernels started in parallel can
#: pick the same free TCP port, and the loser dies before it answers ``kernel_info``.
KERNEL_START_FAILURES = ("Address already in use", "Kernel died before replying",
                         "Kernel didn't respond")


def kernel_failed_to_start(err: BaseException) -> bool:
    """Whether ``err`` says the kernel never started (worth one more try), not that the
    notebook failed."""
    return isinstance(err, RuntimeError) and any(m in str(err) for m in KERNEL_START_FAILURES)


def start_with_retry(start, *args, **kwargs):
    """``start(*args, **kwargs)``, called again (up to :data:`KERNEL_START_ATTEMPTS` times)
    while it fails because its kernel never started; used by the report build and by the
    nbval run (``tests/nbval_kernel_retry.py``)."""
    for attempt in range(KERNEL_START_ATTEMPTS):
        try:
            return start(*args, **kwargs)
        except RuntimeError as err:
            if not kernel_failed_to_start(err):
                raise
            if attempt == KERNEL_START_ATTEMPTS - 1:
                raise ReportBuildError(f"the kernel failed to start {KERNEL_START_ATTEMPTS} "
                                       f"times: {err}") from None
            time.sleep(1 + 2 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _execute(spec: ReportSpec, output: Path) -> None:
    # start-up time: imported only when a report is executed or rendered
    import papermill

    try:
        start_with_retry(
            papermill.execute_notebook,
            str(spec.notebook_path),
            str(output),
            parameters={"report_id": spec.id, **spec.parameters},
            kernel_name=running_interpreter_kernel(),
            progress_bar=False,
            log_output=False,
            cwd=str(project_root()),
            execution_timeout=CELL_TIMEOUT_SECONDS,
            record_timing=True,  # read by cell_timing, then dropped by sanitize_notebook
            kernel_manager_class=WarmKernelManager,  # forked when a kernel server runs
        )
    except papermill.PapermillExecutionError as err:
        shown = relative_to_root(output)
        where = shown if shown != output.name else (
            f"{output.name} in the work folder, kept with --keep-work")
        raise ReportBuildError(
            f"{spec.id}: notebook {spec.notebook} failed in cell {err.exec_count}: "
            f"{err.ename}: {err.evalue} (see {where})"
        ) from None
    except ReportBuildError as err:
        raise ReportBuildError(f"{spec.id}: {err}") from None


#: A quoted absolute path in the injected parameters cell (POSIX or Windows).
QUOTED_ABSOLUTE_PATH = re.compile(r"""(["'])(?:/|[A-Za-z]:[\\/])[^"'\n]*\1""")


def cell_timing(path: Path) -> list[dict]:
    """Each code cell of an executed notebook: its index, first line and duration (s), as
    papermill recorded them (benchmarks; never part of a report)."""
    nb = nbformat.read(path, as_version=4)
    return [{"cell": index, "first_line": cell.source.strip().split("\n", 1)[0][:80],
             "source": cell.source, "seconds": cell.metadata.get("papermill", {}).get("duration")}
            for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def sanitize_notebook(path: Path) -> None:
    """Drop volatile metadata (timings), fix the injected cell's id and write the absolute
    paths it was given as ``<local path>`` (a researcher's folders are not published);
    refuse machine paths in outputs."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"
            cell["source"] = QUOTED_ABSOLUTE_PATH.sub(f'"{LOCAL_PATH}"', cell["source"])
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            hit = MACHINE_PATH.search(json.dumps(out))
            if hit:
                raise ReportBuildError(
                    f"{path.name}: cell {index} prints a machine path ({hit.group(0)}...); "
                    "reports must not contain paths of the machine that built them"
                )
    nbformat.write(nb, path)


TEMPLATES = Path(__file__).parent / "templates"



def _page(spec: ReportSpec, body: str, code: str, built_at: str,
          formats: tuple[str, ...] = ()) -> str:
    """A report page: navigation (with the printed versions ``formats``), the notebook body,
    and a provenance footer."""
    esc = html_escape
    inputs = ", ".join(esc(p) for p in spec.data) or "none"
    printed = "".join(f'<a href="{esc(spec.id)}.{f}">{PRINTED_NAMES[f]}</a> · '
                      for f in formats)
    if spec.with_sources and "pdf" in formats:
        printed += (f'<a href="{esc(sources_file(spec))}">'
                    f'{PRINTED_NAMES["pdf_with_sources"]}</a> · ')
    # a cohort's site (rerun by its command) holds no parameter file
    params = "" if spec.rerun else f" with <code>{esc(spec.params_file)}</code>"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>{esc(spec.title)}</title><style>{REPORT_CSS}{PRINT_CSS}</style></head><body>"
        f'<nav class="ir-nav"><a href="../index.html">All reports</a> · {printed}'
        f'<a href="{esc(spec.id)}.ipynb">Executed notebook (with the code)</a> · '
        f'<a href="report.json">Provenance (report.json)</a> · Rerun: '
        f"<code>{esc(spec.make_target)}</code></nav>"
        f"<main>{body}</main>"
        f'<footer class="ir-footer">Report <code>{esc(spec.id)}</code> · notebook '
        f"<code>notebooks/{esc(spec.notebook)}.ipynb</code>{params} · data: {inputs} · "
        f"built {esc(built_at)} from "
        f"<code>{esc(code)}</code> · input checksums and package versions in "
        f'<a href="report.json">report.json</a> · rebuild with <code>{esc(spec.make_target)}'
        "</code></footer></body></html>\n"
    )


#: The report's answer and its parameters, as :class:`~.notebook.Report` writes them.
ANSWER = re.compile(r'<section class="ir-answer">.*?</section>', re.DOTALL)
PARAMETERS = re.compile(r'<section class="ir-params">.*?</section>', re.DOTALL)


def arrange(body: str) -> str:
    """A page in a paper's order: title and question, the answer (wherever the notebook
    computed it), the rest as the notebook runs, the parameters (with the rerun command) at
    the end."""
    answer, parameters = ANSWER.search(body), PARAMETERS.search(body)
    if answer and "</header>" in body:
        body = ANSWER.sub("", body, count=1)
        body = body.replace("</header>", "</header>" + answer.group(0), 1)
    if parameters:
        body = PARAMETERS.sub("", body, count=1) + parameters.group(0)
    return body


def render_html(notebook: Path, html: Path, spec: ReportSpec, code: str, built_at: str,
                formats: tuple[str, ...] = ()) -> None:
    """HTML for reviewers: no prompts, no code (it is in the executed notebook), no scripts;
    header and footer."""
    # start-up time: imported only when a report is executed or rendered
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_template_basedirs=[str(TEMPLATES)],
                            template_name="immune_recovery")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_input = True
    nb = nbformat.read(notebook, as_version=4)
    body, _resources = exporter.from_notebook_node(nb, resources={"metadata": {"name": spec.title}})
    html.write_text(_page(spec, arrange(body), code, built_at, formats), encoding="utf-8")


def _outputs(folder: Path) -> dict[str, list[str] | str]:
    def listing(sub: str) -> list[str]:
        return sorted(p.relative_to(folder).as_posix() for p in (folder / sub).glob("*")
                      if p.is_file()) if (folder / sub).is_dir() else []

    return {"tables": listing("tables"), "figures": listing("figures")}


def write_report_json(spec: ReportSpec, folder: Path, commit: str | None, built_at: str,
                      hashes: dict, printed: Printed | None = None) -> Path:
    printed = printed or Printed()
    outputs = {"notebook": f"{spec.id}.ipynb", "html": f"{spec.id}.html", **printed.files,
               **_outputs(folder)}
    if printed.skipped:
        outputs["not_printed"] = dict(printed.skipped)
    record = {
        "id": spec.id,
        "title": spec.title,
        "group": spec.group,
        "question": spec.question,
        "notebook": f"notebooks/{spec.notebook}.ipynb",
        "params_file": spec.params_file,
        "parameters": public_value(spec.effective_parameters),
        "depends_on": list(spec.depends_on),
        "make_target": spec.make_target,
        "outputs": outputs,
        "inputs": input_checksums(list(spec.data)),
        "packages": package_versions(),
        "hashes": hashes,
        "build_key": key_of(hashes),
        "source_sha256": hashes["source"],
        "git_commit": commit,
        "built_at": built_at,
    }
    path = folder / "report.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def build_report(params_file: str | Path) -> Path:
    """Execute, render and publish one report; returns its folder under ``reports/``."""
    spec = load_spec(params_file)
    return build_spec(spec, reports_dir(), input_hashes(spec))


def build_spec(spec: ReportSpec, final_root: Path, hashes: dict,
               staging_root: Path | None = None) -> Path:
    """Execute, render and publish ``spec`` into ``final_root/<id>`` (staged first in
    ``staging_root``, default ``build/staging``, which also receives ``<id>.cells.json``,
    the time of each cell); ``hashes`` make its build key."""
    staging_root = staging_root or build_dir() / "staging"
    staged = staging_root / spec.id
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    os.environ.update(DETERMINISTIC_ENV)
    os.environ["IMMUNE_RECOVERY_REPORTS_DIR"] = str(staging_root)
    if checkout_root() is not None:
        os.environ["IMMUNE_RECOVERY_ROOT"] = str(checkout_root())
    try:
        notebook = staged / f"{spec.id}.ipynb"
        _execute(spec, notebook)
        (staging_root / f"{spec.id}.cells.json").write_text(
            json.dumps(cell_timing(notebook), indent=1) + "\n", encoding="utf-8")
        sanitize_notebook(notebook)
        commit = git_commit()
        built_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        can = available_formats()
        page = staged / f"{spec.id}.html"
        render_html(notebook, page, spec, code_identity(commit, hashes["source"]), built_at,
                    tuple(can.files))
        printed = print_report(page, spec.title, can)
        if spec.with_sources and "pdf" in printed.files:
            printed.files["pdf_with_sources"] = combined_pdf(spec, staged, final_root)
        write_report_json(spec, staged, commit, built_at, hashes, printed)
    finally:
        os.environ.pop("IMMUNE_RECOVERY_REPORTS_DIR", None)
    target = final_root / spec.id
    publish_staged(staged, target)
    return target


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m immune_recovery.reporting.build params/<report-id>.yaml",
              file=sys.stderr)
        return 2
    watch = Stopwatch()
    try:
        target = build_report(argv[0])
    except ImmuneRecoveryError as err:
        print(f"report build failed: {err}", file=sys.stderr)
        return 1
    print(f"{target.relative_to(project_root()).as_posix()}: built in "
          f"{watch.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
