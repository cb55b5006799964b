"""Between-study variance tau^2 and heterogeneity statistics.

tau^2 is estimated by REML (Fisher scoring as in R metafor's ``rma``), the DerSimonian-Laird
moment estimator or Paule-Mandel (the last two through statsmodels ``combine_effects``, which
has no REML). I^2 follows Higgins & Thompson, I^2 = max(0, (Q - (k - 1)) / Q) (Stat Med
2002;21:1539-1558), the same for every tau^2 estimator.
"""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.stats.meta_analysis import combine_effects

#: tau^2 estimators: REML (ours, Fisher scoring), DL and PM (statsmodels).
TAU2_METHODS = ("REML", "DL", "PM")


def tau2_reml(y: np.ndarray, v: np.ndarray, X: np.ndarray | None = None, tol: float = 1e-10,
              max_iter: int = 500) -> float:
    """REML estimate of tau^2 by Fisher scoring with step halving, truncated at 0 (the
    algorithm of R metafor's ``rma(method="REML")``); ``X`` is the moderator design (default:
    intercept only)."""
    X = np.ones((len(y), 1)) if X is None else X

    def parts(t2: float):
        w = 1 / (v + t2)
        W = np.diag(w)
        xtwx_inv = np.linalg.inv(X.T @ W @ X)
        P = W - W @ X @ xtwx_inv @ X.T @ W
        return P

    def restricted_loglik(t2: float) -> float:
        w = 1 / (v + t2)
        W = np.diag(w)
        xtwx = X.T @ W @ X
        P = parts(t2)
        return -0.5 * (np.sum(np.log(v + t2)) + np.linalg.slogdet(xtwx)[1] + y @ P @ y)

    tau2 = max(0.0, float(np.var(y, ddof=1) - np.mean(v))) if len(y) > 1 else 0.0
    for _ in range(max_iter):
        P = parts(tau2)
        step = (y @ P @ P @ y - np.trace(P)) / np.trace(P @ P)
        new = max(0.0, tau2 + step)
        while restricted_loglik(new) < restricted_loglik(tau2) - 1e-12 and abs(new - tau2) > tol:
            new = max(0.0, tau2 + (new - tau2) / 2)
        if abs(new - tau2) < tol:
            return new
        tau2 = new
    warnings.warn("REML tau^2 did not converge", RuntimeWarning, stacklevel=2)
    return tau2


def tau2_statsmodels(y: np.ndarray, v: np.ndarray, method: str) -> float:
    """DerSimonian-Laird (``DL``) or Paule-Mandel (``PM``) tau^2 from statsmodels, at least 0."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = combine_effects(y, v, method_re={"DL": "chi2", "PM": "iterated"}[method])
    return max(float(res.tau2), 0.0)


def cochran_q(y: np.ndarray, v: np.ndarray) -> float:
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mu) ** 2))


def i_squared(q: float, k: int) -> float:
    """Higgins & Thompson's I^2 = max(0, (Q - df) / Q), df = k - 1."""
    return max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
