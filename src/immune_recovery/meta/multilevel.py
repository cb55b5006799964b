"""Three-level (multilevel) random-effects meta-analysis: several estimates per study pooled
without choosing one.

Model (R metafor ``rma.mv(yi, vi, random = ~ 1 | study/estimate)``): y_ij = x_ij' beta + u_i +
w_ij + e_ij, u_i ~ N(0, sigma^2_1) between studies, w_ij ~ N(0, sigma^2_2) between estimates of
one study, e_ij ~ N(0, v_ij) known (Konstantopoulos, Res Synth Methods 2011;2:61-76). The
variance components are estimated by REML (Fisher scoring, truncated at 0), beta by
generalized least squares with Wald z intervals, and each component's 95% CI by profiling the
restricted log-likelihood over the other (metafor ``confint``): the values where twice the
drop in the profiled log-likelihood equals the chi-square(1) 95% quantile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .effects import SCALES
from .heterogeneity import generalized_q

COMPONENTS = ("between studies", "between estimates within studies")


def _restricted_loglik(y: np.ndarray, V: np.ndarray, X: np.ndarray) -> float:
    Vi = np.linalg.inv(V)
    xvx = X.T @ Vi @ X
    P = Vi - Vi @ X @ np.linalg.solve(xvx, X.T @ Vi)
    return float(-0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(xvx)[1] + y @ P @ y))


@dataclass
class MultilevelMetaAnalysis:
    """REML fit of the three-level model (see the module docstring).

    ``fit(y, v, study, X=None, labels=None)`` returns the fitted object:
    ``components_`` (component, sigma2, ci_low, ci_high, levels), ``coefficients`` (term,
    estimate, se, ci_low, ci_high, p; analysis scale), ``q_``/``q_p_`` (the test of
    heterogeneity), ``flag_`` (with one estimate per study the two components are not
    separately identified: the within-study one is held at 0), and :meth:`pooled_frame` the
    intercept-only estimate on the reporting scale.
    """

    scale: str = "identity"
    level: float = 0.95
    tol: float = 1e-10
    max_iter: int = 1000

    def fit(self, y: Sequence[float], v: Sequence[float], study: Sequence[str],
            X: pd.DataFrame | None = None) -> MultilevelMetaAnalysis:
        y, v = np.asarray(y, float), np.asarray(v, float)
        codes, levels = pd.factorize(pd.Series(list(study)))
        self.k_, self.studies_ = len(y), len(levels)
        design = np.ones((len(y), 1)) if X is None else np.column_stack(
            [np.ones(len(y)), X.to_numpy(float)])
        names = ["intercept"] if X is None else ["intercept", *X.columns]
        Z = (codes[:, None] == np.arange(len(levels))[None, :]).astype(float)
        self._parts = (y, v, design, [Z @ Z.T, np.eye(len(y))])
        # with one estimate per study the two components are one: only the study's is fitted
        self.flag_ = ("one estimate per study: the within-study component is not identified "
                      "and held at 0" if self.studies_ == self.k_ else "")
        self._fixed = {1: 0.0} if self.flag_ else {}
        sigma2 = self._scoring(np.array([np.var(y) / 4, np.var(y) / 4]), dict(self._fixed))
        self.sigma2_ = sigma2
        V = self._V(sigma2)
        Vi = np.linalg.inv(V)
        vb = np.linalg.inv(design.T @ Vi @ design)
        beta = vb @ design.T @ Vi @ y
        se = np.sqrt(np.diag(vb))
        z = stats.norm.isf((1 - self.level) / 2)
        self.coefficients = pd.DataFrame({
            "term": names, "estimate": beta, "se": se, "ci_low": beta - z * se,
            "ci_high": beta + z * se, "p": 2 * stats.norm.sf(np.abs(beta / se))})
        self.loglik_ = _restricted_loglik(y, V, design)
        self.q_ = generalized_q(y, v, 0.0, design)
        self.q_p_ = float(stats.chi2.sf(self.q_, len(y) - design.shape[1]))
        intervals = [self._profile_ci(j) if j not in self._fixed else (np.nan, np.nan)
                     for j in range(2)]
        self.components_ = pd.DataFrame({
            "component": COMPONENTS, "sigma2": sigma2,
            "ci_low": [c[0] for c in intervals], "ci_high": [c[1] for c in intervals],
            "levels": [self.studies_, self.k_]})
        return self

    def _V(self, sigma2: np.ndarray) -> np.ndarray:
        _, v, _, G = self._parts
        return np.diag(v) + sigma2[0] * G[0] + sigma2[1] * G[1]

    def _loglik(self, sigma2: np.ndarray) -> float:
        y, _, X, _ = self._parts
        return _restricted_loglik(y, self._V(np.maximum(sigma2, 0)), X)

    def _scoring(self, start: np.ndarray, fixed: dict[int, float] | None = None) -> np.ndarray:
        """Fisher scoring of the REML equations with an active set at 0 (a component at 0
        whose score points below 0 stays there); components in ``fixed`` held at their
        value."""
        y, _, X, G = self._parts
        fixed = fixed or {}
        free = [j for j in range(2) if j not in fixed]
        sigma2 = start.astype(float).copy()
        for j, value in fixed.items():
            sigma2[j] = value
        for _ in range(self.max_iter):
            Vi = np.linalg.inv(self._V(sigma2))
            P = Vi - Vi @ X @ np.linalg.solve(X.T @ Vi @ X, X.T @ Vi)
            PG = [P @ g for g in G]
            score = {j: 0.5 * (y @ PG[j] @ P @ y - np.trace(PG[j])) for j in free}
            use = [j for j in free if sigma2[j] > 0 or score[j] > 0]
            if not use:
                return sigma2
            info = np.array([[0.5 * np.sum(PG[a] * PG[b].T) for b in use] for a in use])
            step = np.linalg.solve(info, np.array([score[j] for j in use]))
            new = sigma2.copy()
            new[use] = np.maximum(sigma2[use] + step, 0.0)
            while self._loglik(new) < self._loglik(sigma2) - 1e-12 \
                    and np.max(np.abs(new - sigma2)) > self.tol:
                new[use] = np.maximum(sigma2[use] + (new[use] - sigma2[use]) / 2, 0.0)
            if np.max(np.abs(new - sigma2)) < self.tol:
                return new
            sigma2 = new
        raise RuntimeError("REML for the variance components did not converge")

    def _profile_ci(self, j: int) -> tuple[float, float]:
        """Profile-likelihood CI of component ``j`` (the other re-estimated at each value)."""
        target = self.loglik_ - stats.chi2.isf(1 - self.level, 1) / 2

        def profiled(value: float) -> float:
            sigma2 = self._scoring(self.sigma2_, fixed={**self._fixed, j: value})
            return self._loglik(sigma2) - target

        estimate = self.sigma2_[j]
        low = 0.0 if profiled(0.0) > 0 else optimize.brentq(profiled, 0.0, estimate,
                                                             xtol=1e-10)
        high = max(estimate * 2, 1e-4)
        while profiled(high) > 0:
            high *= 2
        return low, float(optimize.brentq(profiled, estimate, high, xtol=1e-10))

    def pooled_frame(self) -> pd.DataFrame:
        """The intercept (pooled estimate) with its CI on the reporting scale, and the
        variance components."""
        c = self.coefficients.iloc[0]
        f = SCALES[self.scale]
        return pd.DataFrame([{
            "model": "multilevel random effects (REML, study/estimate), Wald CI",
            "estimate": f(c["estimate"]), "ci_low": f(c["ci_low"]), "ci_high": f(c["ci_high"]),
            "se": c["se"], "sigma2_study": self.sigma2_[0], "sigma2_estimate": self.sigma2_[1],
            "k": self.k_, "studies": self.studies_}])
