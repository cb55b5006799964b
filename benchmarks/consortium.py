"""Benchmark: bundle and pool a consortium of 10 sites of 20,000 simulated patients each.

Simulates each site (the simulator's default design, its own seed; HICDEP Parquet in a
temporary folder), times ``immune-recovery bundle`` at every site (one process at a time, as
sites run it) and ``immune-recovery pool`` over the ten bundles (the consortium report built
through papermill), and writes ``benchmarks/consortium.csv``.

Usage: ``.venv/bin/python benchmarks/consortium.py [sites] [patients]``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from immune_recovery.consortium.sites import SiteDesign, simulate_site, write_site

HERE = Path(__file__).parent


def _timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "immune_recovery", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(sites: int, patients: int) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bundles = []
        for i in range(sites):
            name = f"site-{i + 1:02d}"
            folder = write_site(simulate_site(SiteDesign(name, "", patients), 2026, i),
                                root / name)
            bundles.append(root / f"{name}.zip")
            seconds = _timed(["bundle", str(folder), "--name", name, "--out",
                              str(bundles[-1]), "--close-date", "2023-06-30"])
            rows.append({"step": "bundle", "site": name, "patients": patients,
                         "seconds": round(seconds, 1)})
        seconds = _timed(["pool", *map(str, bundles), "--out", str(root / "site"),
                          "--name", "bench", "--no-progress"])
        rows.append({"step": "pool", "site": f"{sites} bundles", "patients": sites * patients,
                     "seconds": round(seconds, 1)})
    return pd.DataFrame(rows)


def main(argv: list[str]) -> None:
    sites = int(argv[0]) if argv else 10
    patients = int(argv[1]) if len(argv) > 1 else 20_000
    table = run(sites, patients)
    bundle = table[table["step"] == "bundle"]["seconds"]
    total = pd.DataFrame([{"step": "all bundles (one after another)", "site": f"{sites} sites",
                           "patients": sites * patients, "seconds": round(bundle.sum(), 1)}])
    table = pd.concat([table, total], ignore_index=True)
    print(table.to_string(index=False))
    table.to_csv(HERE / "consortium.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
