"""statsmodels' Cox regression (``PHReg``) for counting-process data, set up in linear time.

``PHReg`` prepares its risk sets (:class:`statsmodels.duration.hazard_regression.PHSurvivalTime`)
with a Python loop over every row (a ``searchsorted`` call per row and per entry: 15 s at
100,000 patients' CD4 intervals, minutes at a million). :class:`PHReg` is the same model whose
risk sets are built with array operations instead: the same arrays in the same order (the
same sort of the times; each time's rows grouped by a counting sort, in row order as the
loop appends them), so that statsmodels' own fit gives the same estimates to the last bit
(``tests/test_phreg.py``). The groups are kept flat (:attr:`RiskSets.flat`, int32 row
numbers); statsmodels' lists of groups are views into them, made when first asked for. One stratum, no offset: what
:func:`~immune_recovery.outcomes.time_varying_cox` and
:func:`~immune_recovery.outcomes.time_split_cox` fit.

Its fit then loops in Python over the distinct event times at every Newton step (two minutes
at a million patients). With Breslow ties, :class:`PHReg` computes the log partial likelihood,
its gradient and Hessian by the same loop compiled (:func:`_breslow`): the same risk-set sums
added and removed in the same order, each group's sum formed first as statsmodels forms it,
but summed in row order where numpy sums pairwise, so the values differ from statsmodels' in
their last bits and the estimates by about 1e-15 relative (``tests/test_phreg.py``).
"""

from __future__ import annotations

from functools import cached_property

import numba
import numpy as np
from statsmodels.base.model import LikelihoodModel
from statsmodels.duration.hazard_regression import PHReg as _PHReg

#: numpy's arithmetic: a division by zero gives inf or nan, as in the code it replaces
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


def _position_dtype(n: int) -> type:
    """int32 positions where they fit (half the memory of int64 at 23M intervals)."""
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


@numba.njit(**_JIT)
def _scatter(keys, positions, bounds, out):  # pragma: no cover - compiled
    """Counting sort: each position into its key's slot, in increasing position order."""
    fill = bounds.copy()
    for i in range(len(keys)):
        k = keys[i]
        out[fill[k]] = positions[i]
        fill[k] += 1


@numba.njit(**_JIT)
def _take_rows(x, rows):  # pragma: no cover - compiled
    """``x[rows, :]`` (a C-ordered copy) in one pass, where numpy's fancy indexing of a
    matrix's rows goes element by element."""
    out = np.empty((len(rows), x.shape[1]), dtype=x.dtype)
    for i in range(len(rows)):
        for k in range(x.shape[1]):
            out[i, k] = x[rows[i], k]
    return out


def _flat(keys: np.ndarray, positions: np.ndarray, n_groups: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """``positions`` ordered by ``keys`` (0..n_groups; stable, so each group in increasing
    position order) and the start of each group 0..n_groups-1 (n_groups + 1 bounds; key
    ``n_groups`` lies after the last group). A counting sort in linear time: the order of a
    stable ``argsort`` of the keys (``tests/test_phreg.py``)."""
    keys = np.asarray(keys, dtype=np.int64)
    counts = np.bincount(keys, minlength=n_groups + 1)
    bounds = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    out = np.empty(len(keys), dtype=_position_dtype(len(keys)))
    _scatter(keys, positions.astype(out.dtype, copy=False), bounds, out)
    return out, bounds[:n_groups + 1]


def _groups(flat: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
    """The groups of :func:`_flat` as int32 arrays: what a loop appending each position to
    its key's list gives."""
    values, bounds = flat
    return [np.asarray(g, dtype=np.int32) for g in np.split(values, bounds[1:-1])]


@numba.njit(**_JIT)
def _add(x, e, rows, lo, hi, sign, xp1, xp2):  # pragma: no cover - compiled
    """Add (``sign`` 1) or remove (-1) rows ``rows[lo:hi]`` to the risk-set sums; returns the
    change in the sum of exp(linear predictor)."""
    d = x.shape[1]
    s0 = 0.0
    s1 = np.zeros(d)
    s2 = np.zeros((d, d))
    for j in range(lo, hi):
        r = rows[j]
        s0 += e[r]
        for k in range(d):
            s1[k] += e[r] * x[r, k]
            for m in range(d):
                s2[k, m] += x[r, k] * x[r, m] * e[r]
    for k in range(d):
        xp1[k] += sign * s1[k]
        for m in range(d):
            xp2[k, m] += sign * s2[k, m]
    return sign * s0


@numba.njit(**_JIT)
def _breslow(x, linpred, fail, fail_at, enter, enter_at, leave, leave_at
             ):  # pragma: no cover - compiled
    """(log-likelihood, gradient, Hessian) of the Breslow partial likelihood: statsmodels'
    ``breslow_loglike``, ``breslow_gradient`` and ``breslow_hessian`` loop (distinct failure
    times from the last; rows entering, failing, leaving), compiled in one pass."""
    d = x.shape[1]
    e = np.exp(linpred)
    xp0 = 0.0
    xp1 = np.zeros(d)
    xp2 = np.zeros((d, d))
    like = 0.0
    grad = np.zeros(d)
    hess = np.zeros((d, d))
    for i in range(len(fail_at) - 2, -1, -1):
        xp0 += _add(x, e, enter, enter_at[i], enter_at[i + 1], 1.0, xp1, xp2)
        m = fail_at[i + 1] - fail_at[i]
        log_xp0 = np.log(xp0)
        for j in range(fail_at[i], fail_at[i + 1]):
            r = fail[j]
            like += linpred[r] - log_xp0
            for k in range(d):
                grad[k] += x[r, k] - xp1[k] / xp0
        for k in range(d):
            for m2 in range(d):
                hess[k, m2] += m * (xp2[k, m2] / xp0 - xp1[k] * xp1[m2] / xp0 ** 2)
        xp0 += _add(x, e, leave, leave_at[i], leave_at[i + 1], -1.0, xp1, xp2)
    return like, grad, -hess


class RiskSets:
    """The attributes of ``PHSurvivalTime(time, status, exog, None, entry)``, computed with
    array operations (one stratum, no offset)."""

    def __init__(self, time: np.ndarray, status: np.ndarray, exog: np.ndarray,
                 entry: np.ndarray) -> None:
        if np.min(time) < 0 or np.min(entry) < 0:  # not builtin min: a Python loop
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
        self.exog_s = [_take_rows(exog, ix) for ix in rows]
        self.status_s = [status[ix] for ix in rows]
        self.entry_s = [entry[ix] for ix in rows]
        self.ufailt = []
        #: per stratum: failing, entering, leaving rows as (rows, group bounds) x 3
        self.flat = []
        for k in range(self.nstrat):
            failed = np.flatnonzero(self.status_s[k] == 1)
            failure_times = self.time_s[k][failed]
            unique = np.unique(failure_times)
            n = len(unique)
            self.ufailt.append(unique)
            fail = _flat(np.searchsorted(unique, failure_times), failed, n)
            enter = np.searchsorted(unique, self.time_s[k], "right") - 1
            at = np.flatnonzero(enter >= 0)
            enter = _flat(enter[at], at, n)
            leave = np.searchsorted(unique, self.entry_s[k])
            leave = _flat(leave, np.arange(len(leave)), n)
            self.flat.append((*fail, *enter, *leave))

    # statsmodels' lists of groups, built when asked (its Efron sums and residuals ask; the
    # compiled Breslow sums read :attr:`flat`): views into :attr:`flat`, no copy

    @cached_property
    def ufailt_ix(self) -> list[list[np.ndarray]]:
        return [_groups(flat[0:2]) for flat in self.flat]

    @cached_property
    def risk_enter(self) -> list[list[np.ndarray]]:
        return [_groups(flat[2:4]) for flat in self.flat]

    @cached_property
    def risk_exit(self) -> list[list[np.ndarray]]:
        return [_groups(flat[4:6]) for flat in self.flat]


class PHReg(_PHReg):
    """statsmodels' ``PHReg(time, exog, status=, entry=, ties=)`` with :class:`RiskSets`:
    the same model and fit, set up in linear time."""

    def __init__(self, endog, exog, status, entry, ties: str = "breslow") -> None:
        # a Cox model has no constant: hasconst=False spares statsmodels' search for an
        # implicit one (two SVDs of the design and a copy of it), whose answer PHReg never uses
        LikelihoodModel.__init__(self, endog, exog, status=status, entry=entry, strata=None,
                                 offset=None, missing="drop", hasconst=False)
        self.status = np.asarray(self.status)
        self.entry = np.asarray(self.entry)
        self.surv = RiskSets(self.endog, self.status, self.exog, self.entry)
        self.nobs = len(self.endog)
        self.groups = None
        self.missing = "drop"
        rank = int(np.linalg.matrix_rank(self.exog))  # one SVD of the design, not two
        self.df_resid = float(self.exog.shape[0] - rank)
        self.df_model = float(rank)
        if ties not in ("efron", "breslow"):
            raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        self.ties = ties

    def _breslow(self, params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, gradient and Hessian at ``params`` (:func:`_breslow`), kept for
        the next call at the same ``params`` (a Newton step asks for all three)."""
        params = np.asarray(params, dtype=float)
        cached = getattr(self, "_breslow_at", None)
        if cached is not None and np.array_equal(cached[0], params):
            return cached[1]
        if self.surv.nstrat == 0:
            values = 0.0, np.zeros(len(params)), np.zeros((len(params), len(params)))
        else:
            x = np.ascontiguousarray(self.surv.exog_s[0], dtype=float)
            linpred = x @ params
            linpred -= linpred.max()
            values = _breslow(x, linpred, *self.surv.flat[0])
        self._breslow_at = (params.copy(), values)
        return values

    def breslow_loglike(self, params: np.ndarray) -> float:
        return self._breslow(params)[0]

    def breslow_gradient(self, params: np.ndarray) -> np.ndarray:
        return self._breslow(params)[1]

    def breslow_hessian(self, params: np.ndarray) -> np.ndarray:
        return self._breslow(params)[2]
