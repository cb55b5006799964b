"""Classify cohorts larger than memory: Parquet HICDEP tables read in patient partitions.

Patients are independent under every definition, so a cohort can be split by patient,
each part loaded, validated and classified as a cohort of its own, and the parts' results
stacked: the answer is identical to the in-memory run (a test checks it). Only one partition's
rows are in memory at a time: each table file is scanned with a pyarrow dataset filter on
``PATIENT`` (record batches are streamed, non-matching rows dropped). Rows of patients missing
from ``tblBAS`` go with the last partition, where the loader reports them (RC001), so nothing
is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .classify import classify
from .cohort import Cohort
from .definitions import Definition
from .exceptions import InputError


@dataclass
class PartitionedResult:
    """The stacked per-patient results and the stacked exclusion-ledger reconciliation."""

    table: pd.DataFrame
    reconciliation: pd.DataFrame
    n_partitions: int

    def long(self) -> pd.DataFrame:
        """One row per patient and definition, as :meth:`Classification.long` gives."""
        return self.table


def _table_files(folder: Path) -> dict[str, Path]:
    files = {p.stem: p for p in sorted(folder.glob("tbl*.parquet"))}
    if "tblBAS" not in files:
        raise InputError(file=str(folder.name), rule="partitioned classification reads "
                         "Parquet tables; tblBAS.parquet not found")
    return files


def patient_partitions(folder: str | Path, n_partitions: int) -> list[np.ndarray]:
    """The patients of ``tblBAS`` split into ``n_partitions`` groups in file order."""
    patients = pq.read_table(Path(folder) / "tblBAS.parquet", columns=["PATIENT"])
    ids = patients.column("PATIENT").to_numpy(zero_copy_only=False).astype(str)
    return [part for part in np.array_split(ids, n_partitions) if len(part)]


def iter_partitions(folder: str | Path, n_partitions: int
                    ) -> Iterator[tuple[int, dict[str, pd.DataFrame]]]:
    """Yield ``(index, {table: rows of this partition's patients})``."""
    folder = Path(folder)
    files = _table_files(folder)
    parts = patient_partitions(folder, n_partitions)
    everyone = pa.array(np.concatenate(parts)) if parts else pa.array([], pa.string())
    for index, ids in enumerate(parts):
        wanted = pc.field("PATIENT").cast(pa.string()).isin(pa.array(ids))
        if index == len(parts) - 1:  # orphans (not in tblBAS) go to the last partition
            wanted = wanted | ~pc.field("PATIENT").cast(pa.string()).isin(everyone)
        tables = {name: ds.dataset(path, format="parquet").to_table(filter=wanted).to_pandas()
                  for name, path in files.items()}
        yield index, tables


def classify_partitioned(folder: str | Path, definitions: list[Definition],
                         n_partitions: int, close_date: str | None = None
                         ) -> PartitionedResult:
    """Classify a Parquet HICDEP folder partition by partition (bounded memory); each
    partition is validated in memory (:meth:`Cohort.from_tables`)."""
    longs, ledgers = [], []
    files = {name: path.name for name, path in _table_files(Path(folder)).items()}
    for _index, tables in iter_partitions(folder, n_partitions):
        cohort = Cohort.from_tables(tables, name=Path(folder).name, close_date=close_date,
                                    files=files)
        del tables
        longs.append(classify(cohort, definitions).long())
        ledgers.append(cohort.ledger.reconciliation())
        del cohort
    long = pd.concat(longs, ignore_index=True)
    long["definition"] = pd.Categorical(long["definition"].astype(str),
                                        categories=[d.id for d in definitions])
    counts = ["rows_read", "rows_used", "rows_excluded", "rows_flagged"]
    reconciliation = pd.concat(ledgers).groupby(["table", "file"], sort=True)[counts].sum()
    reconciliation = reconciliation.reset_index()
    reconciliation["reconciles"] = (reconciliation["rows_read"]
                                    == reconciliation["rows_used"]
                                    + reconciliation["rows_excluded"])
    return PartitionedResult(table=long, reconciliation=reconciliation,
                             n_partitions=len(longs))
