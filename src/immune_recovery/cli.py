"""The ``immune-recovery`` command.

Every error the package anticipates (unreadable input, unknown definition, checksum mismatch)
is printed as one line on stderr and the command exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .disclosure import DEFAULT_MIN_CELL
from .exceptions import ImmuneRecoveryError, InputError, InputErrors, ParameterError
from .timing import Stopwatch

# Each command imports its analysis inside its own function: start-up time ("immune-recovery
# --help" must not load pandas, numba and lifelines for every subcommand).

EXIT_INPUT = 2

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn: Callable[[argparse.Namespace], int]):
        _COMMANDS[name] = fn
        return fn
    return register


@command("data")
def _data(args: argparse.Namespace) -> int:
    from .datasets import build_all

    for name, (path, changed) in build_all(args.dataset or None).items():
        state = "written" if changed else "unchanged"
        print(f"{name}: {path.relative_to(path.parents[2]).as_posix()} ({state})")
    return 0


def _load(args: argparse.Namespace):
    """The cohort of ``args.folder`` with the reading options; with many unreadable values,
    all of them go to the ``--errors`` file (the message shows the first ones)."""
    from .cohort import load_cohort

    errors = Path(args.errors)
    errors.unlink(missing_ok=True)  # never a stale list from an earlier run
    try:
        return load_cohort(args.folder, close_date=args.close_date, encoding=args.encoding,
                           sep={"tab": "\t"}.get(args.sep, args.sep),
                           date_format=args.date_format)
    except InputErrors as err:
        err.table().to_csv(errors, index=False)
        err.written_to = str(errors)
        raise
    except InputError as err:
        InputErrors([err]).table().to_csv(errors, index=False)
        raise


def _reading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--close-date", help="database close date, YYYY-MM-DD: later dates are in "
                   "the future (default: today, noted in the ledger)")
    p.add_argument("--encoding", help="encoding of text files that are not UTF-8 "
                   "(e.g. latin-1, cp1252)")
    p.add_argument("--sep", help="separator of text files (default: detected from the "
                   "header; ',', ';', 'tab', '|')")
    p.add_argument("--errors", default="unreadable-values.csv",
                   help="where every unreadable value is written, with its row and PATIENT "
                        "(default: %(default)s; rewritten, or removed, on every run)")
    p.add_argument("--date-format", help="format of the dates in text files when they are "
                   "not yyyy-mm-dd, e.g. %%d/%%m/%%Y (a column that is provably day-first is "
                   "detected without it)")


@command("validate")
def _validate(args: argparse.Namespace) -> int:
    cohort = _load(args)
    print(f"{cohort.name}: {cohort.n_patients} patients; tables: "
          f"{', '.join(sorted(cohort.present))}")
    for notice in cohort.ledger.notices:
        print(f"  note: {notice}")
    recon = cohort.ledger.reconciliation()
    for row in recon.itertuples(index=False):
        print(f"  {row.file}: {row.rows_read} rows read = {row.rows_used} used + "
              f"{row.rows_excluded} excluded")
    summary = cohort.ledger.summary()
    if not summary.empty:
        print("Excluded rows by rule:")
        for row in summary.itertuples(index=False):
            print(f"  {row.rule} ({row.table}): {row.rows_excluded} - {row.description}")
    flags = cohort.ledger.flags
    if not flags.empty:
        print("Flagged rows by rule (kept):")
        counts = flags.drop_duplicates(["table", "row", "rule"]).groupby(
            ["rule", "table", "description"]).size()
        for (rule, table, description), n in counts.items():
            print(f"  {rule} ({table}): {n} - {description}")
    if args.ledger:
        cohort.ledger.entries.to_csv(args.ledger, index=False)
        print(f"ledger written to {args.ledger}")
    if not bool(recon["reconciles"].all()):  # pragma: no cover - guarded by tests
        print("row counts do not reconcile", file=sys.stderr)
        return 1
    if cohort.cd4.empty or not cohort.ledger.rows_used.get("tblLAB_CD4"):
        print(f"no usable CD4 count: {cohort.ledger.rows_read.get('tblLAB_CD4', 0)} rows "
              "of tblLAB_CD4 read, none usable (see the rules above); no analysis can run",
              file=sys.stderr)
        return 1
    return 1 if (args.strict and not summary.empty) else 0


@command("report")
def _report(args: argparse.Namespace) -> int:
    from .reporting.cohort_site import build_cohort_site, work_folder

    result = build_cohort_site(args.cohort, args.name, args.out, args.definitions,
                               args.close_date, args.jobs, args.min_cell, args.show_examples,
                               args.encoding, {"tab": "\t"}.get(args.sep, args.sep),
                               progress=not args.no_progress, keep_work=args.keep_work,
                               date_format=args.date_format, region=args.region or "")
    print(f"{result.out.name}/index.html: {len(result.built)} report(s) built, "
          f"{len(result.unchanged)} unchanged, {len(result.failed)} failed")
    if result.checked is not None:
        summary = result.checked.record()["summary"]
        cells = ", ".join(f"{n} {m}" for m, n in summary["cells_suppressed"].items())
        print(f"output check ({result.out.name}/disclosure.json): {summary['outcome']}; "
              f"{summary['files_scanned']} files, {summary['checks_applied']} checks, "
              f"{summary['findings']} findings; cells suppressed: {cells or 'none'}")
    steps = result.timing
    if steps:
        reports = [v for k, v in steps.items() if k != "read and validate"]
        print(f"time: read and validate {steps['read and validate']['seconds']:.0f} s, "
              f"{len(reports)} report(s) {sum(v['seconds'] for v in reports):.0f} s; largest "
              f"process {max(v['peak_mib'] for v in steps.values()) / 1024:.1f} GiB")
    work = work_folder(result.out)
    print(f"work folder (working copy of the export, parameters, staged notebooks; never "
          f"published): {work} " + ("kept (--keep-work)" if args.keep_work else "removed"))
    for report_id, error in sorted(result.failed.items()):
        print(f"  {report_id} failed: {error}", file=sys.stderr)
    for report_id, reason in sorted(result.not_applicable.items()):
        print(f"  {report_id} not applicable: {reason}")
    return 1 if result.failed else 0


@command("bundle")
def _bundle(args: argparse.Namespace) -> int:
    from .consortium import build_bundle

    watch = Stopwatch()
    bundle = build_bundle(args.cohort, args.name, args.out, args.region or "",
                          args.definitions, args.close_date, args.min_cell,
                          encoding=args.encoding, sep={"tab": "\t"}.get(args.sep, args.sep),
                          date_format=args.date_format)
    status = bundle.estimates["status"]
    print(f"{args.out}: bundle of {args.name} in {watch.seconds:.1f} s; "
          f"{int((status == 'ok').sum())} estimates sent, "
          f"{int(status.str.startswith('withheld').sum())} withheld (small counts), "
          f"{int(status.str.startswith('not estimable').sum())} not estimable; read it "
          f"before it leaves: {Path(args.out).with_suffix('.html')}")
    return 0


@command("pool")
def _pool(args: argparse.Namespace) -> int:
    from .consortium.site import build_consortium_site

    watch = Stopwatch()
    result = build_consortium_site(args.bundles, args.out, args.name, args.min_cell,
                                   progress=not args.no_progress, keep_work=args.keep_work)
    for report_id, error in sorted(result.failed.items()):
        print(f"  {report_id} failed: {error}", file=sys.stderr)
    if result.failed:
        return 1
    print(f"{result.out.name}/index.html: {len(args.bundles)} bundles pooled in "
          f"{watch.seconds:.1f} s; output check: "
          f"{result.checked.record()['summary']['outcome']}")
    return 0


@command("simulate-consortium")
def _simulate_consortium(args: argparse.Namespace) -> int:
    from .consortium.sites import DEMO_SITES, build_demo_bundles

    watch = Stopwatch()
    paths = build_demo_bundles(args.out, args.seed, args.close_date, if_stale=args.if_stale)
    patients = sum(s.patients for s in DEMO_SITES)
    print(f"{args.out}: {len(paths)} site bundles ({patients} simulated patients) in "
          f"{watch.seconds:.1f} s")
    return 0


@command("simulate")
def _simulate(args: argparse.Namespace) -> int:
    from .simulate import write_simulated_cohort

    if args.patients < 1:
        raise ParameterError(f"--patients must be at least 1, got {args.patients}")
    if args.workers < 1:
        raise ParameterError(f"--workers must be at least 1, got {args.workers}")
    summary = write_simulated_cohort(args.out, args.patients, args.seed, fmt=args.format,
                                     workers=args.workers)
    rows = ", ".join(f"{k} {v}" for k, v in summary["rows"].items())
    print(f"{args.out}: {summary['patients']} patients in {summary['seconds']:.1f} s "
          f"({summary['patients_per_second']:.0f} patients/s); rows: {rows}")
    return 0


@command("definitions")
def _definitions(args: argparse.Namespace) -> int:
    from .definitions import catalogue_entries, definitions_table, select_definitions

    table = definitions_table(select_definitions(not args.definitions_file, args.definitions_file))
    for row in table.itertuples(index=False):
        reported = f" [published: {row.reported_pct}%]" if row.reported_pct else ""
        print(f"{row.definition}: {row.rule}{reported}")
    if not args.definitions_file:
        skipped = [e for e in catalogue_entries() if e.get("operational", True) is False]
        for entry in skipped:
            print(f"{entry['id']}: not operational ({entry['reason']})")
    return 0


@command("classify")
def _classify(args: argparse.Namespace) -> int:
    from .classify import classify
    from .definitions import select_definitions

    definitions = select_definitions(not args.definitions_file, args.definitions_file,
                                     args.definition)
    if args.partitions:
        from .partitioned import classify_partitioned

        table = classify_partitioned(args.folder, definitions, args.partitions).long()
        how = f", {args.partitions} partitions"
    else:
        table = classify(_load(args), definitions).long()
        how = ""
    table.to_csv(args.out, index=False, float_format="%.10g", date_format="%Y-%m-%d")
    counts = table.groupby(["definition", "group"], observed=False).size().unstack()
    print(f"{args.out}: {len(table)} rows ({table['PATIENT'].nunique()} patients x "
          f"{len(definitions)} definitions{how})")
    for def_id, row in counts.iterrows():
        shown = ", ".join(f"{g} {int(n)}" for g, n in row.items() if n)
        print(f"  {def_id}: {shown}")
    return 0


@command("power")
def _power(args: argparse.Namespace) -> int:
    from .power import simulated_power, with_analytic_tte

    grid = [{"n_per_arm": n, "hazard_ratio": hr} for hr in args.hazard_ratio
            for n in args.n_per_arm]
    watch = Stopwatch()
    table = simulated_power("tte", grid, seed=args.seed, replicates=args.replicates,
                            n_workers=args.workers, backend=args.backend, scheduler=args.scheduler,
                            progress=not args.no_progress, control_rate=args.control_rate,
                            accrual_years=args.accrual_years, followup_years=args.followup_years)
    table = with_analytic_tte(table, args.control_rate, args.accrual_years, args.followup_years)
    seconds = watch.seconds
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.10g")
    print(table.to_string(index=False))
    print(f"{len(grid)} grid points x {args.replicates} simulated trials in {seconds:.1f} s "
          f"({args.workers} worker(s), {'dask' if args.scheduler or args.backend == 'dask' else 'joblib'})")
    return 0


@command("coverage")
def _coverage(args: argparse.Namespace) -> int:
    from .simcheck import coverage

    if args.params:
        settings, out = coverage.settings_from_spec(args.params)
        if args.out:
            out = Path(args.out)
    else:
        missing = [f"--{k}" for k in ("replicates", "patients") if getattr(args, k) is None]
        if missing or not args.out:
            raise ParameterError("coverage: give --params FILE, or --replicates, --patients "
                                 "and --out" + (f" (missing {', '.join(missing)})" if missing
                                                else ""))
        settings = {"replicates": args.replicates, "patients": args.patients,
                    "seed": args.seed,
                    "truth_patients": args.truth_patients or coverage.TRUTH_PATIENTS}
        out = Path(args.out)
    if args.if_stale and coverage.is_current(out, settings):
        print(f"coverage: {out.name} is current ({settings['replicates']} replicates of "
              f"{settings['patients']} patients)")
        return 0
    record = coverage.build_product(out, settings, n_workers=args.workers,
                                    scheduler=args.scheduler, progress=not args.no_progress)
    runs, truth, _ = coverage.load_product(out)
    summary = coverage.summarise(coverage.at_size(runs, settings["patients"]), truth)
    print(summary[["estimand", "truth", "mean_estimate", "bias", "coverage",
                   "coverage_mcse"]].round(3).to_string(index=False))
    print(f"{record['replicates']} replicates of {record['patients']} patients in "
          f"{record['seconds']} s ({args.workers} worker(s)) -> {out}")
    return 0


@command("pooling-benchmark")
def _pooling_benchmark(args: argparse.Namespace) -> int:
    from .simcheck import pooling

    replicates, seed, truth_patients, out = pooling.settings_from_spec(args.params)
    record = pooling.build_product(out, replicates, seed, n_workers=args.workers,
                                   progress=not args.no_progress, if_stale=args.if_stale,
                                   truth_patients=truth_patients)
    runs, truth, _ = pooling.load_product(out)
    summary = pooling.summarise(runs, truth)
    print(summary[["short", "method", "truth", "bias", "coverage", "mean_sites"]]
          .round(3).to_string(index=False))
    print(f"{replicates} replicate consortia -> {out} "
          f"({'built in ' + str(record['seconds']) + ' s' if 'seconds' in record else 'current'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="immune-recovery",
        description="Immunologic non-response to ART: HICDEP cohorts, definitions, reports.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="fetch the public trial data (data/manifest) and convert "
                       "them to HICDEP tables in data/hicdep/")
    p.add_argument("--dataset", action="append", help="only this data set (repeatable)")

    p = sub.add_parser("validate", help="read and validate a folder of HICDEP tables")
    p.add_argument("folder", help="folder holding tblBAS.csv, tblLAB_CD4.csv, ...")
    p.add_argument("--ledger", help="write the exclusion ledger to this CSV file")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any row was excluded")
    _reading_options(p)

    p = sub.add_parser("report", help="every analysis of one HICDEP cohort as a browsable "
                       "site (disclosure-controlled)")
    p.add_argument("cohort", help="folder of the cohort's HICDEP tables")
    p.add_argument("--name", required=True, help="short name (lower case, digits, dashes)")
    p.add_argument("--out", help="site folder (default: <name>-reports)")
    p.add_argument("--definitions", help="YAML file of user definitions (added to the "
                   "catalogue)")
    p.add_argument("--jobs", type=int, default=1, help="reports built in parallel")
    p.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL,
                   help="minimum cell: counts below it, and values that reveal them, are "
                        "suppressed (default: %(default)s, as ACRO; 0: off)")
    p.add_argument("--region", help="the cohort's region (e.g. 'sub-Saharan Africa'), for "
                   "where it falls among the published cohorts")
    p.add_argument("--show-examples", action="store_true",
                   help="write the data-quality example rows (patient ids, dates) to "
                        "<name>-examples.csv beside the site, never into it")
    p.add_argument("--keep-work", action="store_true",
                   help="keep the work folder <out>.work (working copy of the export, "
                        "parameter files, staged notebooks) after the run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _reading_options(p)

    p = sub.add_parser("bundle", help="the pinned analyses of one cohort as a disclosure-"
                       "checked bundle of aggregates for a consortium")
    p.add_argument("cohort", help="folder of the cohort's HICDEP tables")
    p.add_argument("--name", required=True, help="the site's short name (letters, digits, "
                   "dashes)")
    p.add_argument("--out", required=True, help="bundle file to write (a zip; its summary "
                   "page is written beside it as .html)")
    p.add_argument("--region", help="the site's region, for meta-regression across cohorts")
    p.add_argument("--definitions", help="YAML file of user definitions (every site of a "
                   "consortium must use the same)")
    p.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL,
                   help="minimum cell: an estimate revealing a count below it stays at the "
                        "site (default: %(default)s)")
    _reading_options(p)

    p = sub.add_parser("pool", help="pool site bundles into a consortium report site")
    p.add_argument("bundles", nargs="+", help="bundle files")
    p.add_argument("--out", required=True, help="site folder of the consortium report")
    p.add_argument("--name", default="consortium", help="short name of the consortium "
                   "(default: %(default)s)")
    p.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL,
                   help="minimum cell of the output check (default: %(default)s)")
    p.add_argument("--keep-work", action="store_true", help="keep the work folder "
                   "<out>.work after the run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("simulate-consortium", help="simulate the demonstration consortium's "
                       "heterogeneous sites and bundle each (consortium.sites.DEMO_SITES)")
    p.add_argument("--out", required=True, help="folder of the bundles")
    p.add_argument("--seed", type=int, default=2026, help="seed (default: %(default)s)")
    p.add_argument("--close-date", default="2023-06-30",
                   help="database close date of every site (default: %(default)s)")
    p.add_argument("--if-stale", action="store_true", help="do nothing when the bundles were "
                   "built from the same settings and package source")

    p = sub.add_parser("simulate", help="simulate a HAART cohort with a known truth (HICDEP)")
    p.add_argument("--patients", type=int, required=True, help="number of patients")
    p.add_argument("--seed", type=int, required=True, help="random seed")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--workers", type=int, default=1,
                   help="processes simulating chunks (the output does not depend on it)")

    p = sub.add_parser("definitions", help="list the non-response definitions")
    p.add_argument("--definitions-file", help="YAML file of user definitions")

    p = sub.add_parser("classify", help="classify every patient under non-response definitions")
    p.add_argument("folder", help="folder of HICDEP tables")
    p.add_argument("--definition", action="append",
                   help="definition id (repeatable; default: all definitions)")
    p.add_argument("--definitions-file", help="YAML file of user definitions")
    p.add_argument("--out", required=True, help="output CSV (one row per patient x definition)")
    p.add_argument("--partitions", type=int, default=0,
                   help="classify a Parquet folder in this many patient partitions (bounded "
                        "memory, same result)")
    _reading_options(p)

    p = sub.add_parser("power", help="simulated power of a log-rank test (time-to-event trial)")
    p.add_argument("--hazard-ratio", type=float, nargs="+", default=[0.7])
    p.add_argument("--n-per-arm", type=int, nargs="+", default=[250, 500, 1000])
    p.add_argument("--control-rate", type=float, default=0.05,
                   help="events per person-year in the control arm")
    p.add_argument("--accrual-years", type=float, default=2.0)
    p.add_argument("--followup-years", type=float, default=3.0)
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--workers", type=int, default=1, help="local workers (processes)")
    p.add_argument("--backend", choices=("joblib", "dask"), default="joblib")
    p.add_argument("--scheduler", help="Dask scheduler address (default: "
                   "$DASK_SCHEDULER_ADDRESS; none: a local cluster or joblib)")
    p.add_argument("--out", help="write the power table to this CSV")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("pooling-benchmark", help="two-stage, one-stage and naive pooling of "
                       "simulated heterogeneous cohorts against the truth")
    p.add_argument("--params", required=True, help="the report's parameter file "
                   "(params/simulation-pooling.yaml: replicates, seed, product folder)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (the "
                   "result does not depend on it)")
    p.add_argument("--if-stale", action="store_true", help="do nothing when the product "
                   "was built from the same settings and package source")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("coverage", help="bias and CI coverage of the package's estimators "
                       "over replicate simulated cohorts")
    p.add_argument("--replicates", type=int, help="replicate cohorts")
    p.add_argument("--patients", type=int, help="patients per replicate")
    p.add_argument("--seed", type=int, default=2026, help="seed of the study (default: "
                   "%(default)s)")
    p.add_argument("--truth-patients", type=int,
                   help="patients of the truth population (default: "
                        "simcheck.coverage.TRUTH_PATIENTS)")
    p.add_argument("--params", help="read replicates, patients, seed and the output folder "
                   "from this report parameter file (params/simulation-coverage.yaml)")
    p.add_argument("--out", help="output folder (replicates.csv, truth.csv, settings.json)")
    p.add_argument("--if-stale", action="store_true", help="do nothing when the output "
                   "was built from the same settings and package source")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (the "
                   "result does not depend on it)")
    p.add_argument("--scheduler", help="Dask scheduler address (default: "
                   "$DASK_SCHEDULER_ADDRESS; none: joblib)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except ImmuneRecoveryError as err:
        print(f"immune-recovery {args.command}: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except MemoryError:
        print(f"immune-recovery {args.command}: error: out of memory; for a large Parquet "
              "cohort, classify it in patient partitions (--partitions N)", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # output piped into e.g. head
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
