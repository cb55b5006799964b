"""Run independent, seeded tasks on local processes (joblib) or a Dask cluster.

Every task carries its own seed (spawned from the run's seed by the caller), and results are
returned in task order, so the answer does not depend on the backend or on the number of
workers: 1 worker, 2 local workers and a 100-worker cluster give identical results.

Dask is used when a scheduler address is given (argument ``scheduler`` or the environment
variable ``DASK_SCHEDULER_ADDRESS``, e.g. ``tcp://10.0.0.5:8786``) or ``backend="dask"``; with
no address, a local cluster of ``n_workers`` single-threaded worker processes is started for
the run and closed afterwards.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Sequence

from joblib import Parallel, delayed
from tqdm import tqdm

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The Dask scheduler to use: the argument, else ``$DASK_SCHEDULER_ADDRESS``, else None."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


def run_tasks(function: Callable[..., Any], tasks: Sequence[dict], n_workers: int = 1,
              backend: str = "joblib", scheduler: str | None = None, progress: bool = False,
              description: str = "tasks") -> list[Any]:
    """``[function(**task) for task in tasks]``, computed in parallel, in task order."""
    address = scheduler_address(scheduler)
    if address or backend == "dask":
        return _run_dask(function, tasks, n_workers, address, progress, description)
    if backend != "joblib":
        raise ValueError(f"backend must be 'joblib' or 'dask', not {backend!r}")

    iterator: Sequence[dict] = tasks
    if progress:

        iterator = tqdm(tasks, desc=description, unit="task")
    return Parallel(n_jobs=n_workers)(delayed(function)(**task) for task in iterator)


def _run_dask(function, tasks, n_workers, address, progress, description) -> list[Any]:
    # start-up time: dask.distributed takes seconds to import and serves only this backend
    from dask.distributed import Client, LocalCluster, as_completed

    if address is not None:
        with Client(address) as client:
            return _submit(client, function, tasks, progress, description, as_completed)
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        results = _submit(client, function, tasks, progress, description, as_completed)
        client.retire_workers()
        return results


def _submit(client, function, tasks, progress, description, as_completed) -> list[Any]:
    futures = [client.submit(function, pure=False, **task) for task in tasks]
    if progress:

        for _ in tqdm(as_completed(futures), total=len(futures), desc=description, unit="task"):
            pass
    return client.gather(futures)
