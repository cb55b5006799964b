"""Cumulative incidence with competing risks: the Aalen-Johansen estimator with delayed entry,
computed by sorted cumulative sums, with no jitter of tied times.

Counting follows R survival's multi-state ``survfit(Surv(entry, time, state) ~ 1)``: a patient
is at risk at ``t`` when ``entry < t <= time`` (the ``(start, stop]`` rule); every event at one
time leaves the risk set together and censorings at that time after them; a zero-length
interval (``time <= entry``: censored or dead on the day follow-up starts) is never at risk
(R refuses such rows; they are counted in ``dropped_``). lifelines' estimator instead jitters
tied times at random and can push a row below its entry time, which stopped the trajectories
report on ordinary cohorts (issue 34).

At the distinct event times t_j with n_j at risk, d_j events of any cause and d_kj of cause k,
S(t_j-) = prod_{i<j} (1 - d_i / n_i) and F_k(t) = sum_{t_j <= t} S(t_j-) d_kj / n_j. The
variance is the delta-method (Greenwood-type) one of Marubini and Valsecchi (Analysing Survival
Data from Clinical Trials and Observational Studies, Wiley 1995; Collett, Modelling Survival
Data in Medical Research, 3rd ed., p. 411; SAS PROC LIFETEST), with the CI on the log(-log)
scale so that it stays inside (0, 1), as lifelines computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["AalenJohansen"]


@dataclass
class AalenJohansen:
    """Aalen-Johansen cumulative incidence of one cause (see the module docstring).

    After :meth:`fit`: ``table_`` (one row per distinct event time: ``at_risk``, ``events``,
    ``events_of_interest``, ``cumulative_incidence``, ``variance``, ``ci_low``, ``ci_high``),
    ``cumulative_incidence_`` and ``confidence_interval_`` (the same, indexed by time),
    ``dropped_`` (zero-length rows) and ``degenerate_`` (the product-limit curve reached zero
    before later patients entered, so the estimate ignores them)."""

    alpha: float = 0.05

    def fit(self, entry, time, cause, event_of_interest: int = 1) -> AalenJohansen:
        """``entry`` and ``time`` on one time scale, ``cause`` 0 for censored and another code
        for each event type."""
        entry, time = np.asarray(entry, float), np.asarray(time, float)
        cause = np.asarray(cause)
        if not (entry.shape == time.shape == cause.shape):
            raise ValueError("entry, time and cause must have one value per row")
        keep = time > entry
        self.dropped_ = int((~keep).sum())
        entry, time, cause = entry[keep], time[keep], cause[keep]
        event = cause != 0
        times, events = np.unique(time[event], return_counts=True)
        interest = np.searchsorted(times, time[cause == event_of_interest])
        d_k = np.bincount(interest, minlength=times.size).astype(float)
        # at risk at t: entered before t, not yet left before t ((start, stop] counting)
        n = (np.searchsorted(np.sort(entry), times, side="left")
             - np.searchsorted(np.sort(time), times, side="left")).astype(float)
        d = events.astype(float)
        survival = np.cumprod(1 - d / n)
        lag_s = np.concatenate([[1.0], survival[:-1]])
        # everyone at risk had an event while others were still to enter: the curve is zero
        # from then on whatever the later entrants do (R returns it; we flag it)
        zero = times[survival == 0]
        self.degenerate_ = bool(zero.size and (entry >= zero[0]).any())
        increment = lag_s * d_k / n
        f = np.cumsum(increment)
        variance = self._variance(f, n, d, d_k, lag_s)
        low, high = self._interval(f, variance)
        self.table_ = pd.DataFrame({"at_risk": n.astype(int), "events": events,
                                    "events_of_interest": d_k.astype(int),
                                    "cumulative_incidence": f, "variance": variance,
                                    "ci_low": low, "ci_high": high},
                                   index=pd.Index(times, name="time"))
        self.cumulative_incidence_ = self.table_["cumulative_incidence"]
        self.confidence_interval_ = self.table_[["ci_low", "ci_high"]]
        return self

    @staticmethod
    def _variance(f: np.ndarray, n: np.ndarray, d: np.ndarray, d_k: np.ndarray,
                  lag_s: np.ndarray) -> np.ndarray:
        """Delta-method variance at each event time m, in O(m) by cumulative sums:
        sum_j<=m (F_m - F_j)^2 a_j + sum_j<=m b_j - 2 sum_j<=m (F_m - F_j) c_j with
        a = d / (n (n - d)), b = S(t_j-)^2 d_k (n - d_k) / n^3, c = S(t_j-) d_k / n^2; NaN from
        a time at which everyone at risk had an event (a undefined) on."""
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(n > d, d / (n * (n - d)), np.nan)
        b = lag_s ** 2 * d_k * (n - d_k) / n ** 3
        c = lag_s * d_k / n ** 2
        a_sum, af_sum, aff_sum = np.cumsum(a), np.cumsum(a * f), np.cumsum(a * f * f)
        first = f * f * a_sum - 2 * f * af_sum + aff_sum
        third = f * np.cumsum(c) - np.cumsum(c * f)
        return first + np.cumsum(b) - 2 * third

    def _interval(self, f: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1 - alpha) CI on the log(-log) scale: F^exp(-/+ z SE / (F |log F|)); NaN where F is
        0 or 1."""
        z = stats.norm.isf(self.alpha / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = (f > 0) & (f < 1)
            se = np.sqrt(np.maximum(variance, 0)) / (f * np.abs(np.log(f)))
            low = np.where(inside, np.exp(-np.exp(np.log(-np.log(f)) + z * se)), np.nan)
            high = np.where(inside, np.exp(-np.exp(np.log(-np.log(f)) - z * se)), np.nan)
        return low, high

    def at(self, t: float) -> tuple[float, float, float]:
        """(cumulative incidence, CI low, CI high) at time ``t`` (the step function: 0 with no
        CI before the first event)."""
        known = self.table_.index <= t
        if not known.any():
            return 0.0, np.nan, np.nan
        row = self.table_[known].iloc[-1]
        return float(row["cumulative_incidence"]), float(row["ci_low"]), float(row["ci_high"])
