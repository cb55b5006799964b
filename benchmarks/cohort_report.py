"""Benchmark: the whole cohort suite (``immune-recovery report``) on a simulated cohort.

Simulates N patients (CSV, seed 2026) into a temporary folder, then builds the six-report
site with ``--jobs 2`` and reports the wall time of each step and the peak resident memory of
the largest single process (a notebook kernel; with two jobs, two run at once). Results go to
``benchmarks/cohort_report.csv``.

Usage: ``.venv/bin/python benchmarks/cohort_report.py [100000]``
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent


def run(n: int, jobs: int = 2) -> dict:
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        cohort, site = Path(tmp) / "cohort", Path(tmp) / "site"
        started = time.perf_counter()
        subprocess.run([python, "-m", "immune_recovery", "simulate", "--patients", str(n),
                        "--seed", "2026", "--out", str(cohort)], check=True,
                       stdout=subprocess.DEVNULL)
        simulated = time.perf_counter() - started
        started = time.perf_counter()
        done = subprocess.run([python, "-m", "immune_recovery", "report", str(cohort),
                               "--name", "bench", "--out", str(site), "--close-date",
                               "2026-01-01", "--jobs", str(jobs), "--no-progress"],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stdout, done.stderr[-3000:], file=sys.stderr)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {"patients": n, "jobs": jobs, "simulate_seconds": round(simulated, 1),
                "report_seconds": round(seconds, 1), "reports_built": done.stdout.strip(),
                "peak_process_mib": round(peak), "exit_status": done.returncode}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [100_000]
    table = pd.DataFrame([run(n) for n in sizes])
    print(table.to_string(index=False))
    table.to_csv(HERE / "cohort_report.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
