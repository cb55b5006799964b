"""Benchmark: simulate and write 10k, 100k and 1M patients (patients per second, peak memory).

Each size runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its
own. Output goes to a temporary folder that is deleted afterwards; the first 16 hex digits of the
SHA-256 of its ``tblLAB_CD4`` file are kept (``cd4_sha256``), so runs on other machines or with
other ``--workers`` show whether they wrote the same bytes. Results go to
``benchmarks/out/simulate_<format>.csv``.

Usage: ``.venv/bin/python benchmarks/simulate.py [--format csv|parquet] [--workers K]
[10000 100000 1000000]`` (``K`` processes simulate chunks; default 2, the machine's cores).
Targets (issue 20): 1M patients to Parquet within 25 s and to CSV within 60 s, peak memory
within 1 GiB (the largest process: the writer or one worker).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

CHILD = """
import json, resource, sys
from immune_recovery.simulate import write_simulated_cohort
summary = write_simulated_cohort(sys.argv[1], int(sys.argv[2]), seed=2026, fmt=sys.argv[3],
                                 workers=int(sys.argv[4]))
summary["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
summary["worker_peak_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(summary))
"""


def run(n: int, fmt: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, "-c", CHILD, tmp, str(n), fmt, str(workers)],
                                capture_output=True, text=True, check=True)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        digest = hashlib.sha256()
        with open(next(Path(tmp).glob("tblLAB_CD4.*")), "rb") as cd4:
            for block in iter(lambda: cd4.read(2**24), b""):
                digest.update(block)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {"patients": n, "format": fmt, "workers": workers,
            "seconds": round(summary["seconds"], 1),
            "patients_per_second": round(summary["patients_per_second"]),
            "peak_mib": round(summary["peak_mib"]),
            "worker_peak_mib": round(summary["worker_peak_mib"]), "output_mib": round(size),
            "cd4_rows": summary["rows"]["tblLAB_CD4"], "rna_rows": summary["rows"]["tblLAB_RNA"],
            "cd4_sha256": digest.hexdigest()[:16]}


def main(argv: list[str]) -> None:
    fmt, workers = "csv", 2
    while argv[:1] in (["--format"], ["--workers"]):
        if argv[0] == "--format":
            fmt = argv[1]
        else:
            workers = int(argv[1])
        argv = argv[2:]
    sizes = [int(a) for a in argv] or [10_000, 100_000, 1_000_000]
    rows = []
    for n in sizes:
        rows.append(run(n, fmt, workers))
        print(pd.DataFrame(rows).to_string(index=False), flush=True)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(out / f"simulate_{fmt}.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
