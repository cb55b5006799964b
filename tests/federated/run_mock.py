"""Run in an environment with vantage6-algorithm-tools (tests/test_federated.py makes one):
a simulated cohort split into three sites, each site's HICDEP export stacked into the one
frame a vantage6 node holds (the first as CSV, read by vantage6's own loader; the others as
Parquet), the central function run with vantage6's MockAlgorithmClient, and the answer
compared with the file-based path (``build_bundle`` on each export, ``pool_bundles``).
Prints a JSON summary for the test to judge."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from vantage6.algorithm.tools.mock_client import MockAlgorithmClient

from immune_recovery.consortium import build_bundle, pool_bundles, read_bundle
from immune_recovery.consortium.federated import POOLED_TABLES, write_result
from immune_recovery.consortium.sites import split_into_sites, write_site
from immune_recovery.consortium.stacked import stack_tables
from immune_recovery.hicdep import read_folder
from immune_recovery.simulate import simulate_cohort

N, SEED, SITES, CLOSE = 3600, 7, 3, "2026-12-01"
REGIONS = {"0": "Europe", "1": "Europe", "2": "North America"}


def main(root: Path) -> dict:
    tables = simulate_cohort(N, SEED).tables
    datasets, files = [], []
    for i, site in enumerate(split_into_sites(tables, [N // SITES] * SITES, seed=1)):
        folder = write_site(site, root / f"export-{i}")
        stacked = stack_tables(read_folder(folder)[0])
        node_db = root / f"node-{i}.{'csv' if i == 0 else 'parquet'}"
        if i == 0:
            stacked.to_csv(node_db, index=False)
        else:
            stacked.to_parquet(node_db, index=False)
        datasets.append([{"database": str(node_db), "db_type": node_db.suffix[1:]}])
        files.append(build_bundle(folder, f"mock-{i}", root / "files" / f"mock-{i}.zip",
                                  REGIONS[str(i)], close_date=CLOSE))
    client = MockAlgorithmClient(datasets=datasets,
                                 module="immune_recovery.consortium.federated")
    task = client.task.create(input_={"method": "central_pool", "kwargs": {
        "close_date": CLOSE, "regions": REGIONS}}, organizations=[0])
    result = client.wait_for_results(task["id"])[0]
    written = write_result(result, root / "federated")
    by_file = pool_bundles([read_bundle(b.path) for b in files])
    same_members = {}
    for bundle in files:
        with zipfile.ZipFile(bundle.path) as archive:
            members = {m: archive.read(m).decode() for m in archive.namelist()}
        same_members[bundle.site] = members == result["bundles"][bundle.site]
    pooled_file = by_file.pooled.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    return {"sites": sorted(result["bundles"]), "same_members": same_members,
            "same_pooled": pooled_file == result["pooled.csv"],
            "tables": [n for n in POOLED_TABLES if result[n]],
            "pooled_rows": len(by_file.pooled), "written": [p.name for p in written],
            "reread": [read_bundle(p).site for p in written],
            "answer_bytes": len(json.dumps(result))}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
