"""Bootstrap confidence intervals and sensitivity grids, run through :mod:`.parallel`.

Both split their work into seeded or deterministic tasks, so a single process, a 2-worker local
Dask cluster and a remote cluster (``scheduler`` / ``$DASK_SCHEDULER_ADDRESS``) give identical
results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .classify import classify
from .definitions import Definition
from .frequency import frequency_table
from .parallel import run_tasks


def _bootstrap_batch(seed: np.random.SeedSequence, flags: np.ndarray, replicates: int
                     ) -> np.ndarray:
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, flags.size, (replicates, flags.size))
    return flags[draws].mean(axis=1)


def bootstrap_proportion(flags: np.ndarray, replicates: int, seed: int, chunk: int = 200,
                         alpha: float = 0.05, n_workers: int = 1, backend: str = "joblib",
                         scheduler: str | None = None, progress: bool = False) -> dict:
    """Percentile bootstrap CI of a proportion from per-patient 0/1 ``flags`` (NaN = not
    assessable, dropped). Returns estimate, ci_low, ci_high, n, replicates."""
    flags = np.asarray(flags, dtype=float)
    flags = flags[~np.isnan(flags)]
    sizes = [chunk] * (replicates // chunk) + ([replicates % chunk] if replicates % chunk else [])
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    tasks = [{"seed": s, "flags": flags, "replicates": k} for s, k in zip(seeds, sizes)]
    means = np.concatenate(run_tasks(_bootstrap_batch, tasks, n_workers=n_workers,
                                     backend=backend, scheduler=scheduler, progress=progress,
                                     description="bootstrap"))
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return {"estimate": float(flags.mean()), "ci_low": float(low), "ci_high": float(high),
            "n": int(flags.size), "replicates": int(means.size)}


def _frequency_task(cohort, definitions: list[Definition], dataset: str) -> pd.DataFrame:
    table = frequency_table(classify(cohort, definitions), dataset)
    return table[table["stratum"] == "overall"]


def sensitivity_grid(cohort, definitions: list[Definition], dataset: str,
                     definitions_per_task: int = 5, n_workers: int = 1,
                     backend: str = "joblib", scheduler: str | None = None,
                     progress: bool = False) -> pd.DataFrame:
    """Overall non-response frequency under every definition of a (large) grid, the
    definitions split into tasks; rows in the order of ``definitions``."""
    chunks = [definitions[i:i + definitions_per_task]
              for i in range(0, len(definitions), definitions_per_task)]
    tasks = [{"cohort": cohort, "definitions": chunk, "dataset": dataset} for chunk in chunks]
    parts = run_tasks(_frequency_task, tasks, n_workers=n_workers, backend=backend,
                      scheduler=scheduler, progress=progress, description="sensitivity grid")
    return pd.concat(parts, ignore_index=True)
