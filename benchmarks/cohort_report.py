"""Benchmark: the whole own-cohort suite (``immune-recovery report``) per report and per step.

For each size N: simulate N patients (seed 2026, CSV, 26 CD4 counts a patient on average)
into a temporary folder, build the cohort site with ``--jobs 1 --keep-work``, and read what
the command measured in its work folder:

* ``timing.json``: the wall time and peak resident memory of each step's process (reading
  and validating the export once; each report, its kernel included);
* ``staging/<report>.cells.json``: the time of each notebook cell, grouped into steps by what
  the cell calls (:data:`STEPS`); the rest of a report's time (kernel start, HTML, PDF,
  Word) is ``render``.

Up to :data:`BOTH_CORES_UP_TO` patients the suite is built a second time with ``--jobs 2``
(the reports two at a time, longest first, on this machine's two cores): the row ``total,
--jobs 2`` (wall time, and the largest process). Every size measured here qualifies: each
report's process stays under 8 GiB, so two at once need under 16 GiB.

Writes ``cohort_report.csv`` (per size and report: seconds, peak MiB, and the time before
the redesign with the ratio, from ``cohort_report_before.csv``), ``cohort_report_steps.csv``
(seconds per report and step), ``cohort_report_cells.csv`` (every cell, with its step) and
``cohort_report.png`` beside this file. Before the redesign the command read the export
before building the first report, so the "before" data-quality time includes that reading.

Usage: ``.venv/bin/python benchmarks/cohort_report.py 30000 100000 [300000 1000000]``
(``make bench``; ``make bench BENCH_1M=1`` adds a million patients). Add ``--before`` to
measure the code on the path instead as the "before" reference (``cohort_report_before.csv``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).parent
SEED, CLOSE = 2026, "2026-01-01"
#: Largest cohort also built with ``--jobs 2`` (two report processes of up to 8 GiB each).
BOTH_CORES_UP_TO = 1_000_000
KINDS = ("data-quality", "cohort-overview", "frequency", "risk-factors", "outcomes",
         "trajectories", "in-context")
#: Steps of a report, by what a notebook cell calls (the first pattern that matches).
STEPS = (("read", r"load_cohort|patient_table|analysis_frame"),
         ("models", r"Cox|fit|mixed|logistic|ipcw|regression|late_response|rtm|landmark|"
                    r"incidence|trajector|simex|plateau|across|cumulative|competing|"
                    r"time_varying|proportional|time_split|rmst|aetiology|dropout|knots|"
                    r"early_nonresponders|sample_patients"),
         ("classify", r"\bclassify\("),
         ("figures", r"report\.figure|plot_"),
         ("tables", r"."))


def step_of(source: str) -> str:
    """The step a notebook cell belongs to (:data:`STEPS`)."""
    return next(step for step, pattern in STEPS if re.search(pattern, source))


def _run(command: list[str]) -> tuple[int, float, float]:
    """Exit status, wall seconds and the peak resident memory (MiB) of the largest process
    of the command's tree (``wait4``: the child's own and its waited-for descendants')."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace")
    if process.returncode:
        print(errors[-3000:], file=sys.stderr)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024


def _report(cohort: Path, site: Path, jobs: int, keep_work: bool) -> list[str]:
    """The ``immune-recovery report`` command the benchmark times."""
    return [sys.executable, "-m", "immune_recovery", "report", str(cohort), "--name", "bench",
            "--out", str(site), "--close-date", CLOSE, "--jobs", str(jobs), "--no-progress",
            *(["--keep-work"] if keep_work else [])]


def run(n: int, tmp: Path, every_cell: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per report and per step rows of one size (each cell's row added to ``every_cell``)."""
    python = [sys.executable, "-m", "immune_recovery"]
    cohort, site = tmp / f"cohort-{n}", tmp / f"site-{n}"
    status, _, _ = _run([*python, "simulate", "--patients", str(n), "--seed", str(SEED),
                         "--out", str(cohort)])
    if status:
        raise SystemExit(f"simulate {n} failed")
    status, wall, peak = _run(_report(cohort, site, jobs=1, keep_work=True))
    work = site.with_name(site.name + ".work")
    timing = json.loads((work / "timing.json").read_text())
    reports, steps = [], []
    for step, measured in timing.items():
        kind = step.removesuffix("-bench")
        reports.append({"patients": n, "report": kind, **measured})
        cells = work / "staging" / f"{step}.cells.json"
        if not cells.exists():
            continue
        by_step: dict[str, float] = {}
        for cell in json.loads(cells.read_text()):
            name = step_of(cell["source"])
            by_step[name] = by_step.get(name, 0.0) + (cell["seconds"] or 0.0)
            every_cell.append({"patients": n, "report": kind, "cell": cell["cell"],
                               "step": name, "seconds": cell["seconds"],
                               "first_line": cell["first_line"]})
        by_step["render"] = measured["seconds"] - sum(by_step.values())
        steps += [{"patients": n, "report": kind, "step": name, "seconds": round(sec, 2)}
                  for name, sec in by_step.items()]
    # the largest process of the run (wait4 does not see the reports' processes, children
    # of multiprocessing's fork server)
    reports.append({"patients": n, "report": "total", "seconds": round(wall, 1),
                    "peak_mib": max(round(peak), *(r["peak_mib"] for r in reports)),
                    "exit_status": status})
    if n <= BOTH_CORES_UP_TO:
        reports.append(both_cores(n, cohort, tmp))
    return reports, steps


def both_cores(n: int, cohort: Path, tmp: Path) -> dict:
    """The whole suite with ``--jobs 2``: wall time and the largest process."""
    site = tmp / f"site2-{n}"
    status, wall, peak = _run(_report(cohort, site, jobs=2, keep_work=True))
    timing = json.loads((site.with_name(site.name + ".work") / "timing.json").read_text())
    return {"patients": n, "report": "total, --jobs 2", "seconds": round(wall, 1),
            "peak_mib": max(round(peak), *(m["peak_mib"] for m in timing.values())),
            "exit_status": status}


def before(n: int, tmp: Path) -> list[dict]:
    """The suite as the code on the path builds it, per report from the time each report's
    ``report.json`` was written (``--jobs 1`` builds them one after another, in order)."""
    python = [sys.executable, "-m", "immune_recovery"]
    cohort, site = tmp / f"cohort-{n}", tmp / f"before-{n}"
    if not cohort.exists():
        _run([*python, "simulate", "--patients", str(n), "--seed", str(SEED), "--out",
              str(cohort)])
    started = time.time()
    status, wall, peak = _run(_report(cohort, site, jobs=1, keep_work=False))
    rows, last = [], started
    done = sorted((site / f"{kind}-bench" / "report.json").stat().st_mtime for kind in KINDS
                  if (site / f"{kind}-bench" / "report.json").exists())
    for kind, finished in zip(KINDS, done):
        rows.append({"patients": n, "report": kind, "seconds": round(finished - last, 1)})
        last = finished
    rows.append({"patients": n, "report": "total", "seconds": round(wall, 1),
                 "peak_mib": round(peak), "exit_status": status})
    return rows


def figure(table: pd.DataFrame) -> plt.Figure:
    """Seconds per report and size, before and after, on a log scale."""
    reports = table[~table["report"].str.startswith("total")]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours = plt.cm.viridis([0.1, 0.4, 0.7, 0.9])
    for (n, group), colour in zip(reports.groupby("patients"), colours):
        ax.plot(group["report"], group["seconds"], "o-", color=colour, label=f"{n:,} after")
        if group["seconds_before"].notna().any():
            ax.plot(group["report"], group["seconds_before"], "x--", color=colour,
                    label=f"{n:,} before")
    ax.set_yscale("log")
    ax.set_ylabel("Seconds (2 cores, one report at a time)")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=8, ncols=2, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Time per report of immune-recovery report, before and after the work copy",
                 fontsize=10)
    fig.tight_layout()
    return fig


def main(argv: list[str]) -> None:
    measure_before = "--before" in argv
    sizes = [int(a) for a in argv if a != "--before"] or [30_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        if measure_before:
            table = pd.DataFrame([r for n in sizes for r in before(n, Path(tmp))])
            print(table.to_string(index=False))
            table.to_csv(HERE / "cohort_report_before.csv", index=False)
            return
        cells: list[dict] = []
        results = [run(n, Path(tmp), cells) for n in sizes]
    table = pd.DataFrame([r for reports, _ in results for r in reports])
    steps = pd.DataFrame([s for _, rows in results for s in rows])
    before_csv = HERE / "cohort_report_before.csv"
    old = pd.read_csv(before_csv) if before_csv.exists() else pd.DataFrame(
        {"patients": pd.Series(dtype="int64"), "report": pd.Series(dtype=str),
         "seconds": pd.Series(dtype=float)})
    table = table.merge(old[["patients", "report", "seconds"]].rename(
        columns={"seconds": "seconds_before"}), on=["patients", "report"], how="left")
    table["ratio"] = (table["seconds"] / table["seconds_before"]).round(2)
    print(table.to_string(index=False))
    table.to_csv(HERE / "cohort_report.csv", index=False)
    steps.to_csv(HERE / "cohort_report_steps.csv", index=False)
    pd.DataFrame(cells).to_csv(HERE / "cohort_report_cells.csv", index=False)
    figure(table).savefig(HERE / "cohort_report.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main(sys.argv[1:])
