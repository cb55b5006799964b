"""A researcher's own cohort, one command: every analysis as a browsable site.

``immune-recovery report COHORT_DIR --name NAME [--out DIR]`` (and ``make cohort-report``)
runs, through the same papermill pipeline as the project's reports, data quality, cohort
overview, frequency, risk factors, outcomes and trajectories with late response for one
HICDEP folder, and writes ``DIR/index.html``, ``DIR/manifest.json`` and one folder per report
(HTML, executed notebook, tables, figures, ``report.json``).

* The export is read once, as :mod:`immune_recovery.hicdep.io` reads real exports (any case,
  encodings, separators, Stata/SAS...), unreadable values read as missing (the data-quality
  report lists every one), and validated once, in a process of its own, into the **work
  copy** (:mod:`immune_recovery.workcopy`: the validated tables as Parquet, the exclusion
  ledger, the patient table) in the **work folder** ``DIR.work``. Every report reads the work
  copy, only the tables it uses, without parsing or validating again; each report is built
  in a fresh process, whose time and peak memory ``SiteResult.timing`` records, its kernel
  forked from a kernel server that has done the imports every notebook does
  (:mod:`~immune_recovery.reporting.warmkernel`) and its PDF printed by one Chromium for the
  run (:mod:`~immune_recovery.reporting.printserver`). The work
  folder also holds the report parameter files and the staged notebooks; it lies beside the
  site, never inside it, and is removed after the run unless ``keep_work``
  (``--keep-work``).
* Reports adapt to what the cohort has: without ``tblLAB_RNA`` the viral-load rules are not
  applied (the definitions say so); without ``tblLTFU`` and ``tblDIS`` there are no outcomes,
  and the outcome report says why.
* Disclosure control (:mod:`immune_recovery.disclosure`) is on: no identifiers, dates or
  single-patient rows; counts below ``min_cell`` and what reveals them suppressed;
  ``show_examples`` writes the data-quality example rows to ``DIR/../<name>-examples.csv``,
  outside the site. After the build the output checker
  (:mod:`immune_recovery.reporting.outputcheck`) reads every file of the site and writes
  ``DIR/disclosure.json``; a report with a finding is withdrawn from the site and the run fails.
* A second run rebuilds only the reports whose build key (notebook, parameters, data, package
  source) changed; a failed report names itself and its error, and the others still build.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.forkserver
import os
import re
import resource
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from tqdm.auto import tqdm

from ..baseline import patient_table
from ..checksums import folder_sha256, sha256_file
from ..cohort import Cohort, iso_close_date, load_cohort
from ..disclosure import DEFAULT_MIN_CELL, check_min_cell
from ..exceptions import InputError, ParameterError
from ..hicdep import read_folder, unread_files, validate_read
from ..paths import notebooks_dir, write_if_changed
from ..staleness import is_current, key_of, record
from ..timing import Stopwatch
from ..workcopy import FORMAT as WORK_COPY_FORMAT
from ..workcopy import write_work_copy
from .build import DETERMINISTIC_ENV, build_spec
from .localserver import LocalServer
from .outputcheck import Secrets, SiteCheck, check_site
from .printed import PRINT_SERVER_ENV, available_formats
from .printserver import PrintServer
from .site import build_site
from .spec import load_spec
from .stale import source_sha256
from .warmkernel import ADDRESS_ENV, KernelServer, kernel_peaks_kib

NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: (report kind, notebook, index group) in build order.
KINDS = (("data-quality", "data_quality", "data-quality"),
         ("cohort-overview", "cohort_overview", "cohorts"),
         ("frequency", "frequency", "frequency"),
         ("risk-factors", "risk_factors", "risk-factors"),
         ("outcomes", "outcomes", "outcomes"),
         ("trajectories", "trajectories", "trajectories"),
         ("in-context", "cohort_in_context", "evidence"))
#: With ``--jobs`` above 1, the reports are started longest first (their times in
#: ``benchmarks/cohort_report.csv``), so that the last to finish is a short one.
LONGEST_FIRST = ("outcomes", "risk-factors", "trajectories", "frequency", "cohort-overview",
                 "in-context", "data-quality")
#: Definitions the reports lean on (catalogue ids): the background's and Grabar's.
EARLY_LEVEL, GAIN = ("seed_level_le200_m6_12", "seed_gain_le100_m6_12")


@dataclass
class SiteResult:
    out: Path
    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    checked: SiteCheck | None = None
    #: Reports of the suite that do not apply to this export, with the reason.
    not_applicable: dict[str, str] = field(default_factory=dict)
    #: Every report of the suite: id, title, group, question.
    suite: dict[str, dict] = field(default_factory=dict)
    #: Wall time (s) and peak memory (MiB) of each step run: reading and validating the
    #: export, then each report built (its process and kernel).
    timing: dict[str, dict] = field(default_factory=dict)

    def not_built(self) -> list[dict]:
        """The reports of the suite that are not on the site, with status and reason."""
        return [{**self.suite[rid], "status": status, "reason": reason}
                for status, reasons in (("failed", self.failed),
                                        ("not applicable", self.not_applicable))
                for rid, reason in sorted(reasons.items()) if rid in self.suite]


def _parameters(kind: str, cohort: str, present: set[str], definitions: str, close: str,
                min_cell: int, examples_file: str, export: tuple[str, str, str]) -> dict:
    """The notebook parameters of one report for a generic HICDEP cohort: only what differs
    from the notebook's own defaults (stated once, in its parameters cell; ``export``: the
    original folder, encoding and separator, which the data-quality report shows)."""
    common = {"cohort_path": cohort, "min_cell": min_cell, "close_date": close}
    if kind == "data-quality":  # how the export was read (into the work copy)
        return {**common, "encoding": export[1], "sep": export[2],
                "show_examples": bool(examples_file), "examples_file": examples_file}
    if kind == "cohort-overview":
        return {**common, "group": ""}  # a cohort has no randomized arms
    common |= {"dataset": "cohort", "definitions_file": definitions}
    if kind == "frequency":
        return {**common, "strata": ["baseline_cd4_band", "sex"],
                "grids": [{"rule": "level_lt", "label": "CD4 below",
                           "thresholds": [200, 350, 500], "months": [6, 12, 24],
                           "vl_rule": "sustained" if "tblLAB_RNA" in present else "none",
                           "vl_cutoff": 50, "vl_sustained_from_month": 6}],
                "ipcw_definitions": [GAIN, EARLY_LEVEL]}
    if kind == "risk-factors":
        return {**common, "covariates": ["cd4_per100", "log10_rna", "age10", "female",
                                         "prior_aids"], "references": {},
                "level_definition_id": EARLY_LEVEL,
                "across_covariates": ["cd4_per100", "age10", "female"]}
    if kind == "outcomes":
        events = bool({"tblLTFU", "tblDIS"} & present)
        return {**common, "time_varying": events,
                **({} if "tblLAB_RNA" in present else {"reference_group": "cd4_responder"}),
                **({} if events else {
                    "status_definition": "", "absent_reason": (
                        "This cohort has neither tblLTFU (deaths) nor tblDIS (AIDS-defining "
                        "events): there are no clinical outcomes to analyse.")})}
    return common


TITLES = {"data-quality": "Data quality", "cohort-overview": "Cohort overview",
          "frequency": "Frequency of non-response by definition",
          "risk-factors": "Who fails to respond? Risk factors",
          "outcomes": "Does non-response matter? Clinical outcomes",
          "trajectories": "CD4 trajectories, late response and plateaus",
          "in-context": "The cohort in the published evidence"}
QUESTIONS = {
    "data-quality": "Which rows did the loader exclude or flag, and by which HICDEP check?",
    "cohort-overview": "Who is in the cohort, how were they followed, how did CD4 evolve?",
    "frequency": "How often does immunologic non-response occur, under each definition?",
    "risk-factors": "Which baseline characteristics predict non-response?",
    "outcomes": "Do non-responders have more AIDS-defining events or deaths than "
                "responders?",
    "trajectories": "Do early non-responders respond later, and where do counts plateau?",
    "in-context": "Where does the cohort fall against what the published suppressed cohorts "
                  "predict for its definition, region and baseline CD4?"}


@dataclass
class Export:
    """The export as the site's reports read it: the work copy, the tables present, a
    digest of the files and reading options, and why the analyses cannot run ('' if they
    can)."""

    copy: Path
    present: set[str]
    digest: str
    blocked: str


def _prepare(cohort_dir: Path, out: Path, encoding: str | None, sep: str | None,
             close_date: str | None, date_format: str | None) -> Export:
    """Read the export once, reading on past unreadable values (the data-quality report
    lists them), validate it, write the work copy to ``out/cohort`` (``out``: the work
    folder; kept while the export and options are unchanged) and say whether the analyses
    can run (no critical problem: tblLAB_CD4 present with usable counts). Run in a process of
    its own (:func:`prepare`), so that the orchestrating process never holds the cohort."""
    options = {"close_date": iso_close_date(close_date or None), "unreadable": "missing",
               "date_format": date_format or None}
    digest = key_of({"export": folder_sha256(cohort_dir), "encoding": encoding, "sep": sep,
                     **options, "work_copy": WORK_COPY_FORMAT,
                     **({} if close_date else {"today": f"{pd.Timestamp.today():%Y-%m-%d}"})})
    copy = out / "cohort"
    stamp = out / "cohort.source.json"
    if not is_current(stamp, digest):
        raw, files = read_folder(cohort_dir, encoding, sep, require=False)
        if "tblBAS" not in raw:
            raise InputError(file=str(cohort_dir / "tblBAS.csv"),
                             rule="required table tblBAS not found: without it there is no "
                                  "cohort, not even a data-quality report",
                             hint="files there: "
                                  f"{', '.join(unread_files(cohort_dir, {})) or 'none'}")
        out.mkdir(parents=True, exist_ok=True)
        Secrets.of_tables(raw.values(), close_date).save(out / SECRETS)
        tables, ledger, present = validate_read(raw, files, cohort_dir, close_date,
                                                "missing", date_format)
        del raw
        cohort = Cohort(name="cohort", tables=tables, ledger=ledger,
                        present=frozenset(present), source="cohort")
        shutil.rmtree(copy, ignore_errors=True)
        blocked = bool(ledger.critical())  # only the data-quality report will run
        write_work_copy(cohort, copy, options, None if blocked else patient_table(cohort))
        record(stamp, digest)
    cohort = load_cohort(copy, close_date=close_date, unreadable="missing",
                         date_format=date_format)
    return Export(copy, set(cohort.present), digest, "; ".join(cohort.ledger.critical()))


def prepare(cohort_dir: Path, out: Path, encoding: str | None, sep: str | None,
            close_date: str | None, date_format: str | None) -> tuple[Export, dict]:
    """:func:`_prepare` in a fresh process; also its time and peak memory. The process is
    forked from this one where the platform allows (the modules it needs are imported
    here already), so that it starts at once while the reports' fork server imports."""
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measured, _prepare, cohort_dir, out, encoding, sep, close_date,
                           date_format).result()


#: What the reports' fork server imports once for all of them: the builder and what it
#: imports only when it runs a notebook and prints it.
FORK_SERVER_PRELOAD = ["immune_recovery.reporting.build", "papermill", "nbconvert",
                       "playwright.sync_api"]


def _context():
    """Processes started from a server that has the package imported: fresh memory for each
    report (its peak is its own) without paying the imports again."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(FORK_SERVER_PRELOAD)
    return context


def _start_fork_server() -> None:
    """Start the reports' fork server now: it imports in the background (a report waits for
    it only if it is not ready yet)."""
    _context()
    multiprocessing.forkserver.ensure_running()


def _measured(function, *args) -> tuple[object, dict]:
    """``function(*args)`` with its wall time (s) and the peak resident memory (MiB) of this
    process and the processes it waited for or whose kernel it used (a report's kernel)."""
    watch = Stopwatch()
    value = function(*args)
    peak = max(*(resource.getrusage(who).ru_maxrss
                 for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)),
               *kernel_peaks_kib())
    return value, {"seconds": round(watch.seconds, 2), "peak_mib": round(peak / 1024)}


def _build_one(params_path: str, out: str, hashes: dict, staging: str,
               servers: dict[str, str] | None = None) -> str:
    """Worker: build one report (a separate process: papermill and the environment), with
    the run's ``servers`` (environment variable: address) if given."""
    os.environ["IMMUNE_RECOVERY_PARAMS_DIR"] = str(Path(params_path).parent)
    os.environ.update(servers or {})
    spec = load_spec(params_path)
    build_spec(spec, Path(out), hashes, staging_root=Path(staging))
    return spec.id


#: The export's patient ids and dates, as the output checker looks for them (work folder).
SECRETS = "secrets.json"
#: What older versions left inside a site (the working copy, staging, parameter files).
LEGACY_WORK = (".cohort", ".staging", ".params")


def work_folder(out: Path) -> Path:
    """The work folder of the site ``out``: beside it, never inside it."""
    return out.with_name(out.name + ".work")


def build_cohort_site(cohort_dir: str | Path, name: str, out: str | Path | None = None,
                      definitions_file: str | Path | None = None,
                      close_date: str | None = None, jobs: int = 1,
                      min_cell: int = DEFAULT_MIN_CELL, show_examples: bool = False,
                      encoding: str | None = None, sep: str | None = None,
                      progress: bool = True, keep_work: bool = False,
                      date_format: str | None = None, region: str = "") -> SiteResult:
    """Build (or bring up to date) the site of one cohort; see the module docstring
    (``region``: the cohort's region, for the in-context report's prediction)."""
    if not NAME.match(name):
        raise ParameterError(f"--name {name!r}: use lower-case letters, digits and dashes")
    check_min_cell(min_cell)
    cohort_dir = Path(cohort_dir).resolve()
    out = Path(out or f"{name}-reports").resolve()
    out.mkdir(parents=True, exist_ok=True)
    for legacy in LEGACY_WORK:
        shutil.rmtree(out / legacy, ignore_errors=True)
    work = work_folder(out)
    try:
        return _build(cohort_dir, name, out, work, definitions_file, close_date, jobs,
                      min_cell, show_examples, encoding, sep, progress, date_format, region)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)


def _build(cohort_dir: Path, name: str, out: Path, work: Path,
           definitions_file: str | Path | None, close_date: str | None, jobs: int,
           min_cell: int, show_examples: bool, encoding: str | None, sep: str | None,
           progress: bool, date_format: str | None, region: str) -> SiteResult:
    # both import while the export is read
    _start_fork_server()
    servers = {ADDRESS_ENV: KernelServer([notebooks_dir() / f"{notebook}.ipynb"
                                          for _, notebook, _ in KINDS], DETERMINISTIC_ENV)}
    if "pdf" in available_formats().files:
        servers[PRINT_SERVER_ENV] = PrintServer(DETERMINISTIC_ENV)
    for server in servers.values():
        server.start()
    try:
        return _build_reports(cohort_dir, name, out, work, definitions_file, close_date, jobs,
                              min_cell, show_examples, encoding, sep, progress, date_format,
                              region, servers)
    finally:
        for server in servers.values():
            server.stop()


def _build_reports(cohort_dir: Path, name: str, out: Path, work: Path,
                   definitions_file: str | Path | None, close_date: str | None, jobs: int,
                   min_cell: int, show_examples: bool, encoding: str | None, sep: str | None,
                   progress: bool, date_format: str | None, region: str,
                   servers: dict[str, LocalServer]) -> SiteResult:
    export, measured = prepare(cohort_dir, work, encoding, sep, close_date, date_format)
    definitions = str(Path(definitions_file).resolve()) if definitions_file else ""
    examples = str(out.parent / f"{name}-examples.csv") if show_examples else ""
    params_dir = work / "params"
    params_dir.mkdir(parents=True, exist_ok=True)
    source = source_sha256()
    rerun = " ".join(["immune-recovery report <cohort>", f"--name {name}",
                      f"--close-date {close_date}" if close_date else "",
                      f"--min-cell {min_cell}", "--definitions <file>" if definitions else "",
                      f"--encoding {encoding}" if encoding else "",
                      f"--sep '{sep}'" if sep else "",
                      f"--date-format '{date_format}'" if date_format else "",
                      f"--region '{region}'" if region else ""]
                     ).replace("  ", " ").strip()
    jobs_todo, result = [], SiteResult(out=out, timing={"read and validate": measured})
    for kind, notebook, group in KINDS:
        report_id = f"{kind}-{name}"
        result.suite[report_id] = {"id": report_id, "title": f"{TITLES[kind]}: {name}",
                                   "group": group, "question": QUESTIONS[kind]}
        if export.blocked and kind != "data-quality":
            result.not_applicable[report_id] = (
                f"the analyses cannot run on this export: {export.blocked}. The data-quality "
                "report says what to fix.")
            shutil.rmtree(out / report_id, ignore_errors=True)  # no older version stays
            continue
        spec = {"notebook": notebook, "title": f"{TITLES[kind]}: {name}", "group": group,
                "question": QUESTIONS[kind], "data": "", "depends_on": "", "rerun": rerun,
                "parameters": {**_parameters(kind, str(export.copy), export.present,
                                             definitions, close_date or "", min_cell,
                                             examples,
                                             (str(cohort_dir), encoding or "", sep or "")),
                               "unreadable": "missing", "date_format": date_format or "",
                               **({"region": region} if kind == "in-context" else {})}}
        path = params_dir / f"{report_id}.yaml"
        write_if_changed(path, yaml.safe_dump(spec, sort_keys=False))
        notebook_path = notebooks_dir() / f"{notebook}.ipynb"
        hashes = {"notebook": sha256_file(notebook_path), "params": sha256_file(path),
                  "data": key_of({"export": export.digest, "definitions": definitions}),
                  "source": source, "depends_on": {}}
        if is_current(out / report_id / "report.json", key_of(hashes), field="build_key"):
            result.unchanged.append(report_id)
        else:
            jobs_todo.append((str(path), str(out), hashes, str(work / "staging"), report_id))
    if jobs > 1:
        jobs_todo.sort(key=lambda job: LONGEST_FIRST.index(job[-1].removesuffix(f"-{name}")))
    run_reports(jobs_todo, jobs, progress, result,
                {variable: server.address for variable, server in servers.items()
                 if jobs_todo and server.ready()})
    (work / "timing.json").write_text(json.dumps(result.timing, indent=1) + "\n",
                                      encoding="utf-8")
    _check(out, result, min_cell, cohort_dir, work, close_date, jobs)
    return result


def _check(out: Path, result: SiteResult, min_cell: int, cohort_dir: Path, work: Path,
           close_date: str | None, jobs: int = 1) -> None:
    """Index the site, run the output checker over it (in ``jobs`` processes), withdraw a
    report with a finding (named with its file and cell), and index again."""
    intro = (f"Reports of the cohort, built by <code>immune-recovery report</code> from its "
             f"HICDEP export, with disclosure control (minimum cell {min_cell}; see "
             "<a href=\"disclosure.json\">disclosure.json</a>).")
    build_site(out, intro=intro, not_built=result.not_built())
    secrets = Secrets.saved(work / SECRETS, [work, cohort_dir, out], close_date)
    check = check_site(out, min_cell, secrets, jobs=jobs)
    withdrawn = check.by_report()
    for report_id, findings in withdrawn.items():
        for finding in findings:  # the console names the values; the site never does
            print(f"  output check: {finding.describe()}", file=sys.stderr)
        result.failed[report_id] = "withdrawn by the output checker: " + "; ".join(
            f.describe(with_value=False) for f in findings[:3]) + (
            f" (+{len(findings) - 3} more)" if len(findings) > 3 else "")
        for listed in (result.built, result.unchanged):
            if report_id in listed:
                listed.remove(report_id)
        shutil.rmtree(out / report_id, ignore_errors=True)
    if check.findings:
        not_built = result.not_built()
        if any(f.report is None for f in check.findings):  # a failure reason leaked
            not_built = [{**r, "reason": "see the output of immune-recovery report"}
                         for r in not_built]
        build_site(out, intro=intro, not_built=not_built)
        check = check_site(out, min_cell, secrets, jobs=jobs)
        for finding in check.findings:
            print(f"  output check: {finding.describe()}", file=sys.stderr)
            result.failed.setdefault(finding.report or "site",
                                     finding.describe(with_value=False))
    result.checked = check


def run_reports(todo: list, jobs: int, progress: bool, result: SiteResult,
                servers: dict[str, str] | None = None) -> None:
    """Build each (params, out, hashes, staging, id) of ``todo``; a failure names itself.
    ``servers``: the environment variable and address of each server of the run the
    builders use (:class:`~.warmkernel.KernelServer`, :class:`~.printserver.PrintServer`)."""
    bar = tqdm(total=len(todo), desc="reports", unit="report", disable=not progress or not todo)
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=_context(),
                             max_tasks_per_child=1) as pool:
        futures = {pool.submit(_measured, _build_one, p, o, h, s, servers): rid
                   for p, o, h, s, rid in todo}
        for future in as_completed(futures):
            rid = futures[future]
            try:
                result.timing[rid] = future.result()[1]
                result.built.append(rid)
            except Exception as err:  # a failed report names itself; the others go on
                result.failed[rid] = str(err).splitlines()[0] if str(err) else repr(err)
                shutil.rmtree(result.out / rid, ignore_errors=True)  # no older version stays
            bar.update(1)
    bar.close()
    result.built.sort()
