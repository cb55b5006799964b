"""Benchmark: simulate and write 10k, 100k and 1M patients (patients per second, peak memory).

Each size runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its
own. Output goes to a temporary folder that is deleted afterwards. Results go to
``benchmarks/out/simulate.csv``.

Usage: ``.venv/bin/python benchmarks/simulate.py [--format csv|parquet] [10000 100000 1000000]``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

CHILD = """
import json, resource, sys
from immune_recovery.simulate import write_simulated_cohort
summary = write_simulated_cohort(sys.argv[1], int(sys.argv[2]), seed=2026, fmt=sys.argv[3])
summary["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(summary))
"""


def run(n: int, fmt: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, "-c", CHILD, tmp, str(n), fmt],
                                capture_output=True, text=True, check=True)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {"patients": n, "format": fmt, "seconds": round(summary["seconds"], 1),
            "patients_per_second": round(summary["patients_per_second"]),
            "peak_mib": round(summary["peak_mib"]), "output_mib": round(size),
            "cd4_rows": summary["rows"]["tblLAB_CD4"], "rna_rows": summary["rows"]["tblLAB_RNA"]}


def main(argv: list[str]) -> None:
    fmt = "csv"
    if argv[:1] == ["--format"]:
        fmt, argv = argv[1], argv[2:]
    sizes = [int(a) for a in argv] or [10_000, 100_000, 1_000_000]
    rows = []
    for n in sizes:
        rows.append(run(n, fmt))
        print(pd.DataFrame(rows).to_string(index=False), flush=True)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(out / f"simulate_{fmt}.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
