"""Runs of equal values in sorted arrays: the array form of a group-by on sorted patient ids.

Rows sorted by a key (a patient code, a patient id, a day) form runs of equal keys. These
helpers find the first and last row of each run and carry values forward within a run, with
whole-array operations (no Python loop, no pandas group-by): the idioms of the analyses that
build per-patient histories (:mod:`~immune_recovery.outcomes`, :mod:`~immune_recovery.dropout`).
"""

from __future__ import annotations

import numpy as np


def ends_run(values: np.ndarray) -> np.ndarray:
    """Rows whose next row has another value, and the last row (boolean, one per row)."""
    values = np.asarray(values)
    end = np.ones(len(values), bool)
    end[:-1] = values[1:] != values[:-1]
    return end


def run_starts(values: np.ndarray) -> np.ndarray:
    """For rows sorted by ``values``: the position of the first row of each row's run."""
    values = np.asarray(values)
    new = np.ones(len(values), bool)
    new[1:] = values[1:] != values[:-1]
    return np.maximum.accumulate(np.where(new, np.arange(len(values)), 0))


def ffill_runs(values: np.ndarray, first_row: np.ndarray) -> np.ndarray:
    """``values`` (float) forward-filled within runs: NaN takes the last non-NaN value
    earlier in its run, and stays NaN where the run has none yet (``first_row``:
    :func:`run_starts`)."""
    seen = np.where(np.isnan(values), -1, np.arange(len(values)))
    np.maximum.accumulate(seen, out=seen)
    filled = values[np.maximum(seen, 0)]
    filled[seen < first_row] = np.nan
    return filled
