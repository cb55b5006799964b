"""statsmodels' Cox regression (``PHReg``) for counting-process data, set up in linear time.

``PHReg`` prepares its risk sets (:class:`statsmodels.duration.hazard_regression.PHSurvivalTime`)
with a Python loop over every row (a ``searchsorted`` call per row and per entry: 15 s at
100,000 patients' CD4 intervals, minutes at a million). :class:`PHReg` is the same model whose
risk sets are built with array operations instead: the same arrays in the same order (the
same sort calls on the same data), so that statsmodels' own fit gives the same estimates to
the last bit (``tests/test_phreg.py``). One stratum, no offset: what
:func:`~immune_recovery.outcomes.time_varying_cox` fits.
"""

from __future__ import annotations

import numpy as np
from statsmodels.base.model import LikelihoodModel
from statsmodels.duration.hazard_regression import PHReg as _PHReg


def _groups(keys: np.ndarray, positions: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """``positions`` split by ``keys`` (0..n_groups-1), each group in increasing position
    order, as int32 arrays: what a loop appending each position to its key's list gives."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(1, n_groups))
    return [np.asarray(g, dtype=np.int32) for g in np.split(positions[order], bounds)]


class RiskSets:
    """The attributes of ``PHSurvivalTime(time, status, exog, None, entry)``, computed with
    array operations (one stratum, no offset)."""

    def __init__(self, time: np.ndarray, status: np.ndarray, exog: np.ndarray,
                 entry: np.ndarray) -> None:
        if min(time) < 0 or min(entry) < 0:
            raise ValueError("times and entry times must be non-negative")
        if np.any(entry > time):
            raise ValueError("entry times may not occur after event or censoring times")
        rows = [np.arange(len(time), dtype=np.int32)]
        self.nstrat_orig = 1
        names = [np.int32(0)]
        if status.sum() <= 0:
            rows, names = [], []
        self.nstrat = len(rows)
        for k, ix in enumerate(rows):
            last = max(time[ix][status[ix] == 1])
            ix = ix[entry[ix] <= last]
            first = min(time[ix][status[ix] == 1])
            ix = ix[time[ix] >= first]
            rows[k] = ix[np.argsort(time[ix])]
        self.offset_s = None
        self.n_obs = sum(len(ix) for ix in rows)
        self.stratum_rows = rows
        self.stratum_names = names
        self.time_s = [time[ix] for ix in rows]
        self.exog_s = [exog[ix, :] for ix in rows]
        self.status_s = [status[ix] for ix in rows]
        self.entry_s = [entry[ix] for ix in rows]
        self.ufailt_ix, self.risk_enter, self.risk_exit, self.ufailt = [], [], [], []
        for k in range(self.nstrat):
            failed = np.flatnonzero(self.status_s[k] == 1)
            failure_times = self.time_s[k][failed]
            unique = np.unique(failure_times)
            n = len(unique)
            self.ufailt.append(unique)
            self.ufailt_ix.append(_groups(np.searchsorted(unique, failure_times), failed, n))
            enter = np.searchsorted(unique, self.time_s[k], "right") - 1
            at = np.flatnonzero(enter >= 0)
            self.risk_enter.append(_groups(enter[at], at, n))
            leave = np.searchsorted(unique, self.entry_s[k])
            self.risk_exit.append(_groups(leave, np.arange(len(leave)), n))


class PHReg(_PHReg):
    """statsmodels' ``PHReg(time, exog, status=, entry=, ties=)`` with :class:`RiskSets`:
    the same model and fit, set up in linear time."""

    def __init__(self, endog, exog, status, entry, ties: str = "breslow") -> None:
        LikelihoodModel.__init__(self, endog, exog, status=status, entry=entry, strata=None,
                                 offset=None, missing="drop")
        self.status = np.asarray(self.status)
        self.entry = np.asarray(self.entry)
        self.surv = RiskSets(self.endog, self.status, self.exog, self.entry)
        self.nobs = len(self.endog)
        self.groups = None
        self.missing = "drop"
        self.df_resid = float(self.exog.shape[0] - np.linalg.matrix_rank(self.exog))
        self.df_model = float(np.linalg.matrix_rank(self.exog))
        if ties not in ("efron", "breslow"):
            raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        self.ties = ties
