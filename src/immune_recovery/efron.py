"""lifelines' Cox model with its Efron partial-likelihood sums compiled.

lifelines' :class:`~lifelines.CoxPHFitter` fits by Newton-Raphson; each step calls
``_get_efron_values_batch``, a Python loop over the distinct times that slices, sums and
multiplies small arrays at each (1.2 s per fit at 300,000 patients, most of the outcome
report's 27 fits across definitions). :class:`CoxPHFitter` is lifelines' fitter with that
one function replaced by :func:`_efron_values`: the same loop (times from the last to the
first, the same risk and tie sums, the same Efron terms), compiled. Everything else (sorting,
normalising, the Newton steps and their stopping rules, standard errors, the baseline hazard)
is lifelines' own. lifelines sums with numpy's pairwise sums and BLAS products, the compiled
loop in row order, so the sums differ in their last bits and the fitted coefficients by
about 1e-15 relative (``tests/test_efron.py`` compares both with lifelines and with R
survival): a value in a report table, written to 10 significant digits, could differ in its
last digit, an extreme p-value first. Right-censored data without delayed entry, lifelines'
batch mode (``batch_mode=True``); any other fit is lifelines' own.
"""

from __future__ import annotations

import numba
import numpy as np
from lifelines import CoxPHFitter as _CoxPHFitter
from lifelines.fitters.coxph_fitter import SemiParametricPHFitter
from lifelines.utils import CensoringType

#: numpy's arithmetic: a division by zero gives inf or nan, as in the code it replaces
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def _efron_values(x, times, events, weights, beta):  # pragma: no cover - compiled
    """(hessian, gradient, log-likelihood) of the Efron partial likelihood at ``beta``: rows
    sorted by time, deaths last within a time (lifelines' order)."""
    n, d = x.shape
    hessian = np.zeros((d, d))
    gradient = np.zeros(d)
    log_lik = 0.0
    scores = weights * np.exp(x @ beta)
    risk_phi = 0.0
    risk_phi_x = np.zeros(d)
    risk_phi_x_x = np.zeros((d, d))
    tie_phi_x = np.zeros(d)
    tie_phi_x_x = np.zeros((d, d))
    x_death_sum = np.zeros(d)
    summand_sum = np.zeros(d)
    a1 = np.zeros((d, d))
    a2 = np.zeros((d, d))
    pos = n
    while pos > 0:
        start = pos - 1
        while start > 0 and times[start - 1] == times[pos - 1]:
            start -= 1
        deaths = 0
        for i in range(start, pos):
            phi = scores[i]
            risk_phi += phi
            for k in range(d):
                risk_phi_x[k] += phi * x[i, k]
                for m in range(d):
                    risk_phi_x_x[k, m] += x[i, k] * (phi * x[i, m])
            deaths += events[i]
        if deaths == 0:
            pos = start
            continue
        first = pos - deaths  # deaths sorted last among the rows at this time
        weight_count = 0.0
        tie_phi = 0.0
        x_death_sum[:] = 0.0
        tie_phi_x[:] = 0.0
        tie_phi_x_x[:, :] = 0.0
        for i in range(first, pos):
            weight_count += weights[i]
            tie_phi += scores[i]
            for k in range(d):
                x_death_sum[k] += weights[i] * x[i, k]
                tie_phi_x[k] += scores[i] * x[i, k]
                for m in range(d):
                    tie_phi_x_x[k, m] += x[i, k] * (scores[i] * x[i, m])
        weighted_average = weight_count / deaths
        summand_sum[:] = 0.0
        a1[:, :] = 0.0
        a2[:, :] = 0.0
        log_denom = 0.0
        for j in range(deaths):
            proportion = j / deaths if deaths > 1 else 0.0
            denom = 1.0 / (risk_phi - proportion * tie_phi)
            log_denom += np.log(denom)
            for k in range(d):
                summand_k = (risk_phi_x[k] - proportion * tie_phi_x[k]) * denom
                summand_sum[k] += summand_k
                for m in range(d):
                    summand_m = (risk_phi_x[m] - proportion * tie_phi_x[m]) * denom
                    a2[k, m] += summand_k * summand_m
                    a1[k, m] += (risk_phi_x_x[k, m] * denom
                                 - tie_phi_x_x[k, m] * (proportion * denom))
        linear = 0.0
        for k in range(d):
            gradient[k] += x_death_sum[k] - weighted_average * summand_sum[k]
            linear += x_death_sum[k] * beta[k]
            for m in range(d):
                hessian[k, m] += weighted_average * (a2[k, m] - a1[k, m])
        log_lik = log_lik + linear + weighted_average * log_denom
        pos = start
    return hessian, gradient, log_lik


class _SemiParametricPHFitter(SemiParametricPHFitter):
    def _choose_gradient_calculator(self, T, X, entries):
        chosen = super()._choose_gradient_calculator(T, X, entries)
        if entries is not None or getattr(chosen, "__name__", "") != "_get_efron_values_batch":
            return chosen
        return self._compiled_efron_values

    @staticmethod
    def _compiled_efron_values(X, T, E, weights, entries, beta):
        return _efron_values(np.ascontiguousarray(X.to_numpy(dtype=float)),
                             T.to_numpy(dtype=float), E.to_numpy(dtype=np.int64),
                             weights.to_numpy(dtype=float), np.asarray(beta, dtype=float))


class CoxPHFitter(_CoxPHFitter):
    """lifelines' ``CoxPHFitter`` (Breslow baseline, Efron ties) with the Efron sums compiled
    (see the module docstring); same arguments, attributes and results."""

    def _fit_model_breslow(self, *args, **kwargs):
        if not CensoringType.is_right_censoring(self):
            return super()._fit_model_breslow(*args, **kwargs)
        model = _SemiParametricPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio,
                                        strata=self.strata, alpha=self.alpha,
                                        label=self._label)
        model.fit(*args, **kwargs)
        return model
