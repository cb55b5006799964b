"""The binomial-normal random-effects model for proportions (R metafor
``rma.glmm(measure="PLO")``, R meta's default for proportions).

Model: x_i ~ Binomial(n_i, expit(mu + u_i)), u_i ~ N(0, tau^2), fitted by maximum likelihood;
each study's likelihood integrates u_i out by adaptive Gauss-Hermite quadrature (centred at the
mode of the integrand and scaled by its curvature, as lme4's ``nAGQ``). No continuity correction
is needed: a study with 0 or n events contributes its exact binomial likelihood (Stijnen,
Hamza & Ozdemir, Stat Med 2010;29:3046-3067). The SE of mu comes from the inverse of the
numerical Hessian of the log-likelihood in (mu, tau) (mu's alone when tau^2 is 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .effects import SCALES

#: Quadrature nodes per study.
NODES = 21


@dataclass
class BinomialNormalMetaAnalysis:
    """Maximum-likelihood fit of the binomial-normal model (see the module docstring).

    ``fit(events, n, labels=None)`` returns the fitted object: ``mu_`` (logit), ``se_``,
    ``tau2_``, ``loglik_`` and :meth:`pooled_frame` (proportion with its Wald CI)."""

    level: float = 0.95
    nodes: int = NODES

    def fit(self, events: Sequence[float], n: Sequence[float],
            labels: Sequence[str] | None = None) -> BinomialNormalMetaAnalysis:
        x, n = np.asarray(events, float), np.asarray(n, float)
        if np.any((x < 0) | (x > n)) or np.any(n <= 0):
            raise ValueError("events must lie between 0 and n, and n must be positive")
        self.k_ = len(x)
        self.labels_ = list(labels) if labels is not None else [str(i + 1) for i in
                                                                range(len(x))]
        self._data = (x, n, special.gammaln(n + 1) - special.gammaln(x + 1)
                      - special.gammaln(n - x + 1))
        self._t, self._w = np.polynomial.hermite.hermgauss(self.nodes)
        p = (x.sum() + 0.5) / (n.sum() + 1)
        start = np.array([np.log(p / (1 - p)), 0.3])
        best = optimize.minimize(lambda q: -self.loglik(q[0], q[1]), start, method="L-BFGS-B",
                                 bounds=[(None, None), (0.0, None)],
                                 options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000})
        best = optimize.minimize(lambda q: -self.loglik(q[0], q[1]), best.x,
                                 method="Nelder-Mead",
                                 options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
        mu, tau = best.x[0], abs(best.x[1])
        if -self.loglik(mu, 0.0) <= -self.loglik(mu, tau) + 1e-10:
            tau = 0.0
            mu = optimize.minimize_scalar(lambda m: -self.loglik(m, 0.0),
                                          bracket=(mu - 1, mu + 1), tol=1e-12).x
        self.mu_, self.tau2_ = float(mu), float(tau ** 2)
        self.loglik_ = self.loglik(mu, tau)
        self.se_ = self._standard_error(mu, tau)
        z = stats.norm.isf((1 - self.level) / 2)
        self.ci_ = (self.mu_ - z * self.se_, self.mu_ + z * self.se_)
        return self

    def loglik(self, mu: float, tau: float) -> float:
        """The marginal log-likelihood at (mu, tau)."""
        x, n, log_choose = self._data
        tau = abs(tau)
        if tau < 1e-8:
            eta = np.full_like(x, mu)
            return float(np.sum(log_choose + x * eta - n * np.logaddexp(0, eta)))
        u = np.zeros_like(x)
        for _ in range(50):  # Newton for the mode of each study's integrand
            eta = mu + tau * u
            p = special.expit(eta)
            grad = tau * (x - n * p) - u
            hess = -(tau ** 2) * n * p * (1 - p) - 1
            step = grad / hess
            u = u - step
            if np.max(np.abs(step)) < 1e-12:
                break
        p = special.expit(mu + tau * u)
        scale = 1 / np.sqrt((tau ** 2) * n * p * (1 - p) + 1)
        nodes = u[:, None] + np.sqrt(2) * scale[:, None] * self._t[None, :]
        eta = mu + tau * nodes
        log_f = (x[:, None] * eta - n[:, None] * np.logaddexp(0, eta) - nodes ** 2 / 2)
        log_terms = log_f + np.log(self._w)[None, :] + self._t[None, :] ** 2
        per_study = (special.logsumexp(log_terms, axis=1) + np.log(np.sqrt(2) * scale)
                     - 0.5 * np.log(2 * np.pi) + log_choose)
        return float(np.sum(per_study))

    def _standard_error(self, mu: float, tau: float, h: float = 1e-4) -> float:
        f = self.loglik
        if tau == 0.0:
            d2 = (f(mu + h, 0) - 2 * f(mu, 0) + f(mu - h, 0)) / h ** 2
            return float(np.sqrt(-1 / d2))
        hm, ht = h, h * max(tau, 1e-3)
        fmm = (f(mu + hm, tau) - 2 * f(mu, tau) + f(mu - hm, tau)) / hm ** 2
        ftt = (f(mu, tau + ht) - 2 * f(mu, tau) + f(mu, tau - ht)) / ht ** 2
        fmt = (f(mu + hm, tau + ht) - f(mu + hm, tau - ht) - f(mu - hm, tau + ht)
               + f(mu - hm, tau - ht)) / (4 * hm * ht)
        cov = np.linalg.inv(-np.array([[fmm, fmt], [fmt, ftt]]))
        return float(np.sqrt(cov[0, 0]))

    def pooled_frame(self) -> pd.DataFrame:
        """The pooled proportion with its Wald CI (reporting scale), se (logit) and tau^2."""
        f = SCALES["logit"]
        return pd.DataFrame([{
            "model": "binomial-normal random effects (ML)", "estimate": f(self.mu_),
            "ci_low": f(self.ci_[0]), "ci_high": f(self.ci_[1]), "se": self.se_,
            "tau2": self.tau2_, "k": self.k_}])
