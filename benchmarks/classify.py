"""Benchmark: the whole definition catalogue over simulated cohorts of 10k, 100k, 1M patients.

Prints wall time, patients per second and peak traced memory of ``classify`` (numpy and
pandas allocations, via tracemalloc), beside a straightforward per-patient
``groupby().apply`` implementation of one definition (run on the smaller cohorts only; its
time per patient is extrapolated). Results go to ``benchmarks/out/classify.csv``.

Usage: ``.venv/bin/python benchmarks/classify.py [10000 100000 1000000]``
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _cohorts import simulated_cohort  # noqa: E402

from immune_recovery.classify import classify  # noqa: E402
from immune_recovery.definitions import load_catalogue  # noqa: E402

NAIVE_MAX_PATIENTS = 10_000


def naive_gain_lt50_m6(cohort) -> pd.Series:
    """Per-patient groupby().apply: CD4 gain < 50 at month 6 (no viral-load rule)."""
    cd4 = cohort.cd4[cohort.cd4["CD4_U"] == 1]
    t0 = cohort.time_origin["t0"]

    def one(df: pd.DataFrame) -> bool | None:
        origin = t0[df.name]
        days = (df["CD4_D"] - origin).dt.days
        base = df[(days >= -180) & (days <= 7)]
        if base.empty:
            return None
        base_value = base.loc[(days[base.index].abs() + days[base.index] * 1e-6).idxmin(),
                              "CD4_V"]
        dist = (days - 183).abs()
        near = df[dist <= 45]
        if near.empty:
            return None
        assessed = near.loc[(dist[near.index] + days[near.index] * 1e-6).idxmin(), "CD4_V"]
        return assessed - base_value < 50

    return cd4.groupby("PATIENT", observed=True).apply(one, include_groups=False)


def run(n: int) -> dict:
    started = time.perf_counter()
    cohort = simulated_cohort(n)
    build_seconds = time.perf_counter() - started
    definitions = list(load_catalogue().values())
    tracemalloc.start()
    started = time.perf_counter()
    result = classify(cohort, definitions)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    row = {"engine": "immune_recovery.classify", "patients": n,
           "cd4_rows": len(cohort.cd4), "rna_rows": len(cohort.rna),
           "definitions": len(definitions), "seconds": round(seconds, 3),
           "patients_per_second": round(n / seconds), "peak_mib": round(peak / 2**20, 1),
           "data_build_seconds": round(build_seconds, 1)}
    rows = [row]
    if n <= NAIVE_MAX_PATIENTS:
        started = time.perf_counter()
        naive = naive_gain_lt50_m6(cohort)
        naive_seconds = time.perf_counter() - started
        ours = pd.Series(result.results["grabar2000_gain_m6"].assessed_cd4
                         - result.baseline_cd4 < 50, index=result.patients)
        known = naive.dropna().index
        agree = bool((ours[known] == naive[known].astype(bool)).all())
        rows.append({"engine": "groupby().apply, 1 definition", "patients": n,
                     "cd4_rows": len(cohort.cd4), "rna_rows": len(cohort.rna),
                     "definitions": 1, "seconds": round(naive_seconds, 3),
                     "patients_per_second": round(n / naive_seconds), "peak_mib": np.nan,
                     "data_build_seconds": np.nan, "agrees_with_package": agree})
    return rows


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000, 100_000, 1_000_000]
    rows = []
    for n in sizes:
        rows += run(n)
        print(pd.DataFrame(rows).to_string(index=False), flush=True)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "classify.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
