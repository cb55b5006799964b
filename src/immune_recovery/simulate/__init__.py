"""Synthetic HAART cohorts with a known truth, written as HICDEP tables.

:func:`simulate_cohort` draws patients in fixed-size chunks, each from its own random stream
spawned from the seed (``SeedSequence(seed).spawn``), so the same seed gives the same bytes and
memory stays bounded whatever the cohort size. The model and its equations are in
:mod:`.model`; parameters and their defaults in :mod:`.params`.

Outputs (in ``out``): the HICDEP tables ``tblBAS``, ``tblART``, ``tblMED`` (TMP/SMX),
``tblLAB_CD4``, ``tblLAB_RNA``, ``tblDIS``, ``tblCEP`` (serious non-AIDS events), ``tblLTFU`` and ``tblSTUDY`` (``HCV``), as CSV
(default) or Parquet; ``truth.csv`` (per-patient latent values and true non-response status)
and ``truth.json`` (every parameter and the true effect sizes).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..timing import Stopwatch
from .params import SimulationParams
from .tables import simulate_chunk, simulate_chunk_columns

#: Patients per chunk (fixed: the output depends on it, not on the machine).
CHUNK_SIZE = 25_000
TABLE_ORDER = ("tblBAS", "tblART", "tblMED", "tblLAB_CD4", "tblLAB_RNA", "tblDIS", "tblCEP",
               "tblLTFU", "tblSTUDY")


def chunk_plan(n_patients: int, seed: int, chunk_size: int = CHUNK_SIZE
               ) -> Iterator[tuple[int, int, np.random.SeedSequence]]:
    """(number of the first patient, patients, random stream) of each chunk: the streams are
    spawned from ``seed``, one per chunk, so a chunk's patients depend only on the seed and
    its position."""
    n_chunks = max(1, -(-n_patients // chunk_size))
    for index, stream in enumerate(np.random.SeedSequence(seed).spawn(n_chunks)):
        size = min(chunk_size, n_patients - index * chunk_size)
        if size > 0:
            yield index * chunk_size + 1, size, stream


def iter_chunks(n_patients: int, seed: int, params: SimulationParams | None = None
                ) -> Iterator[tuple[dict[str, pd.DataFrame], pd.DataFrame]]:
    """Yield (HICDEP tables, truth) for consecutive chunks of at most :data:`CHUNK_SIZE`."""
    params = params or SimulationParams()
    for first, size, stream in chunk_plan(n_patients, seed):
        yield simulate_chunk(np.random.default_rng(stream), size, first, params)


@dataclass
class SimulatedCohort:
    """An in-memory simulated cohort: HICDEP tables, truth, and the parameters used."""

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    params: SimulationParams
    seed: int


def simulate_cohort(n_patients: int, seed: int, params: SimulationParams | None = None
                    ) -> SimulatedCohort:
    """Simulate a cohort in memory (for tests and small analyses).

    Use :func:`write_simulated_cohort` for large cohorts: it streams chunks to disk.
    """
    params = params or SimulationParams()
    parts = list(iter_chunks(n_patients, seed, params))
    tables = {name: pd.concat([p[0][name] for p in parts], ignore_index=True)
              for name in TABLE_ORDER}
    truth = pd.concat([p[1] for p in parts], ignore_index=True)
    return SimulatedCohort(tables=tables, truth=truth, params=params, seed=seed)


def _chunk_job(job: tuple[int, int, np.random.SeedSequence, SimulationParams, str]
               ) -> dict[str, object]:
    """Simulate the chunk whose first patient is number ``first`` as Arrow tables, ready to
    write (runs in a worker process): for CSV (and ``truth``), dates become ``date32``,
    written as YYYY-MM-DD, HICDEP's date format."""
    first, size, stream, params, fmt = job
    chunk = simulate_chunk_columns(np.random.default_rng(stream), size, first, params)
    return chunk.arrow({name: fmt == "csv" or name == "truth"
                        for name in (*TABLE_ORDER, "truth")})


def _jobs(n_patients: int, seed: int, params: SimulationParams, fmt: str, chunk_size: int):
    for first, size, stream in chunk_plan(n_patients, seed, chunk_size):
        yield first, size, stream, params, fmt


#: glibc ``mallopt`` settings for the simulating processes: a chunk allocates and frees
#: arrays of tens of MB many times; by default glibc maps each one afresh and returns it to
#: the system, so every allocation pays page faults again (a third of the run was system
#: time). Keeping freed memory in the heap costs at most a chunk's working set.
MALLOC_SETTINGS = {-3: 256 * 2**20,   # M_MMAP_THRESHOLD: map only arrays above 256 MiB
                   -1: 1024 * 2**20,  # M_TRIM_THRESHOLD: keep up to 1 GiB freed in the heap
                   -2: 64 * 2**20}    # M_TOP_PAD: grow the heap 64 MiB at a time


def tune_malloc() -> bool:
    """Apply :data:`MALLOC_SETTINGS` to this process (a worker's initializer); False where the
    C library is not glibc (nothing changes)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) == 1 for option, value in MALLOC_SETTINGS.items())


def _in_order(jobs, workers: int):
    """Results of :func:`_chunk_job` in chunk order, at most ``workers + 1`` chunks in flight
    (bounded memory); ``workers = 1`` runs in this process."""
    if workers <= 1:
        yield from map(_chunk_job, jobs)
        return

    with ProcessPoolExecutor(max_workers=workers, initializer=tune_malloc) as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append(pool.submit(_chunk_job, job))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def true_effects(params: SimulationParams) -> dict[str, float]:
    """Effect sizes the simulator puts in, on the scales analyses estimate them."""
    return {
        "gain_sqrt_per_10y_age": params.gain_per_10y_age,
        "gain_sqrt_hcv": params.gain_hcv,
        "gain_sqrt_per_log10_rna": params.gain_per_log10_rna,
        "gain_sqrt_prior_aids": params.gain_prior_aids,
        "offset_sqrt_zdv": params.offset_zdv,
        "offset_sqrt_ddi_tdf": params.offset_ddi_tdf,
        "ade_hr_per_sqrt_cd4": float(np.exp(params.ade_per_sqrt_cd4)),
        "ade_hr_viremic": float(np.exp(params.ade_viremic)),
        "death_hr_per_sqrt_cd4": float(np.exp(params.death_per_sqrt_cd4)),
        "death_hr_per_10y_age": float(np.exp(params.death_per_10y_age)),
        "death_hr_after_ade": float(np.exp(params.death_after_ade)),
        "death_hr_hcv": float(np.exp(params.death_hcv)),
        "late_responder_fraction": params.late_responder_prob,
        "stalled_fraction": params.stalled_prob,
    }


def write_simulated_cohort(out: str | Path, n_patients: int, seed: int,
                           params: SimulationParams | None = None, fmt: str = "csv",
                           workers: int = 1, chunk_size: int | None = None
                           ) -> dict[str, object]:
    """Simulate chunk by chunk and write HICDEP tables, ``truth.csv`` and ``truth.json``.

    Chunks are simulated by ``workers`` processes and written in chunk order with pyarrow's
    CSV or Parquet writer, so the bytes depend on the seed (and ``chunk_size``, default
    :data:`CHUNK_SIZE`) only, not on ``workers``. Returns a
    summary: patients, rows per table, seconds, patients per second.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, got {fmt!r}")
    params = params or SimulationParams()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    rows = dict.fromkeys(TABLE_ORDER, 0)
    writers: dict[str, object] = {}
    schemas: dict[str, object] = {}
    try:
        chunk_size = chunk_size or CHUNK_SIZE
        for chunk in _in_order(_jobs(n_patients, seed, params, fmt, chunk_size), workers):
            for name, table in chunk.items():
                if name in rows:
                    rows[name] += table.num_rows
                csv = fmt == "csv" or name == "truth"
                if name not in writers:
                    schemas[name] = table.schema
                    path = out / f"{name}.{'csv' if csv else 'parquet'}"
                    writers[name] = (pacsv.CSVWriter(path, table.schema, write_options=
                                                     pacsv.WriteOptions(quoting_style="none"))
                                     if csv else pq.ParquetWriter(path, table.schema))
                writers[name].write_table(table.cast(schemas[name]))
    finally:
        for writer in writers.values():
            writer.close()
    seconds = watch.seconds
    (out / "truth.json").write_text(json.dumps({
        "n_patients": n_patients,
        "seed": seed,
        "chunk_size": chunk_size,
        "format": fmt,
        "parameters": params.to_dict(),
        "true_effects": true_effects(params),
        "measurement_error": {"model": "log-normal, immune_recovery.simulate.measurement",
                              "scale_row": "cd4_variability.csv CV11",
                              "level_row": "cd4_variability.csv CV09"},
        "model": "immune_recovery.simulate.model (equations in its docstring)",
    }, indent=2) + "\n")
    return {"patients": n_patients, "rows": rows, "seconds": seconds,
            "patients_per_second": n_patients / seconds if seconds else float("inf")}


__all__ = [
    "CHUNK_SIZE",
    "SimulatedCohort",
    "SimulationParams",
    "chunk_plan",
    "iter_chunks",
    "simulate_cohort",
    "true_effects",
    "write_simulated_cohort",
]
