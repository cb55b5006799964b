"""Between-study variance tau^2 and heterogeneity statistics, with or without moderators.

tau^2 by REML (default) or ML (Fisher scoring with step halving, as R metafor's ``rma``), the
DerSimonian-Laird moment estimator (DL) or Paule-Mandel (PM, the generalized Q set to its
degrees of freedom); all truncated at 0. Heterogeneity as metafor defines it: the typical
within-study variance s^2 = (k - p) / tr(P0) (P0 the residual projection with weights 1/v),
**I^2 = tau^2 / (tau^2 + s^2)** and H^2 = (tau^2 + s^2) / s^2 (Higgins & Thompson, Stat Med
2002;21:1539-1558, with tau^2 from the fitted model); Cochran's Q-based I^2 = max(0, (Q - df) /
Q) is kept as a named alternative (:func:`i_squared_q`). The Q-profile 95% CI of tau^2
(Viechtbauer, Stat Med 2007;26:37-52; metafor ``confint``) inverts the generalized Q statistic
against the chi-square distribution with k - p degrees of freedom.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, stats

#: tau^2 estimators.
TAU2_METHODS = ("REML", "ML", "DL", "PM")


def design(k: int, X: np.ndarray | None) -> np.ndarray:
    """The moderator design (default: the intercept alone), as a float matrix."""
    return np.ones((k, 1)) if X is None else np.asarray(X, float).reshape(k, -1)


def projection(v: np.ndarray, tau2: float, X: np.ndarray) -> np.ndarray:
    """P = W - W X (X'WX)^-1 X'W with W = diag(1 / (v + tau^2)): y'Py is the generalized Q."""
    w = 1 / (v + tau2)
    wx = X * w[:, None]
    return np.diag(w) - wx @ np.linalg.solve(X.T @ wx, wx.T)


def generalized_q(y: np.ndarray, v: np.ndarray, tau2: float, X: np.ndarray | None = None
                  ) -> float:
    """y'P(tau^2)y: Cochran's Q (the residual QE with moderators) at tau^2 = 0."""
    return float(y @ projection(v, tau2, design(len(y), X)) @ y)


def _loglik(y, v, t2, X, reml: bool) -> float:
    P = projection(v, t2, X)
    w = 1 / (v + t2)
    out = -0.5 * (np.sum(np.log(v + t2)) + y @ P @ y)
    if reml:
        out -= 0.5 * np.linalg.slogdet(X.T @ (X * w[:, None]))[1]
    return float(out)


def _scoring(y, v, X, reml: bool, tol: float, max_iter: int) -> float:
    k, p = X.shape
    tau2 = max(0.0, float(np.var(y, ddof=1) - np.mean(v))) if k > 1 else 0.0
    for _ in range(max_iter):
        P = projection(v, tau2, X)
        w = 1 / (v + tau2)
        if reml:
            step = (y @ P @ P @ y - np.trace(P)) / np.trace(P @ P)
        else:
            step = (y @ P @ P @ y - np.sum(w)) / np.sum(w ** 2)
        new = max(0.0, tau2 + step)
        while (_loglik(y, v, new, X, reml) < _loglik(y, v, tau2, X, reml) - 1e-12
               and abs(new - tau2) > tol):
            new = max(0.0, tau2 + (new - tau2) / 2)
        if abs(new - tau2) < tol:
            return new
        tau2 = new
    warnings.warn(f"{'REML' if reml else 'ML'} tau^2 did not converge", RuntimeWarning,
                  stacklevel=3)
    return tau2


def tau2_estimate(y, v, X: np.ndarray | None = None, method: str = "REML", tol: float = 1e-10,
                  max_iter: int = 500) -> float:
    """tau^2 of ``method`` (:data:`TAU2_METHODS`) for estimates ``y`` with sampling variances
    ``v`` and moderator design ``X`` (default: intercept only)."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    X = design(len(y), X)
    k, p = X.shape
    if method in ("REML", "ML"):
        return _scoring(y, v, X, method == "REML", tol, max_iter)
    if method == "DL":
        P0 = projection(v, 0.0, X)
        return max(0.0, float((y @ P0 @ y - (k - p)) / np.trace(P0)))
    if method == "PM":
        target = k - p
        if generalized_q(y, v, 0.0, X) <= target:
            return 0.0
        high = 1.0
        while generalized_q(y, v, high, X) > target:
            high *= 2
        return float(optimize.brentq(lambda t: generalized_q(y, v, t, X) - target, 0.0, high,
                                     xtol=1e-12))
    raise ValueError(f"method must be one of {TAU2_METHODS}, got {method!r}")


def tau2_reml(y, v, X: np.ndarray | None = None) -> float:
    """REML tau^2 (:func:`tau2_estimate` with ``method="REML"``)."""
    return tau2_estimate(y, v, X, "REML")


def typical_variance(v, X: np.ndarray | None = None) -> float:
    """metafor's typical within-study variance s^2 = (k - p) / tr(P0)."""
    v = np.asarray(v, float)
    X = design(len(v), X)
    return float((X.shape[0] - X.shape[1]) / np.trace(projection(v, 0.0, X)))


def i_squared(tau2: float, s2: float) -> float:
    """I^2 = tau^2 / (tau^2 + s^2), a fraction (metafor's I^2 / 100)."""
    return float(tau2 / (tau2 + s2))


def h_squared(tau2: float, s2: float) -> float:
    """H^2 = (tau^2 + s^2) / s^2."""
    return float((tau2 + s2) / s2)


def i_squared_q(q: float, k: int, p: int = 1) -> float:
    """Cochran's Q-based I^2 = max(0, (Q - df) / Q), df = k - p (Higgins & Thompson 2002)."""
    df = k - p
    return max(0.0, (q - df) / q) if q > 0 else 0.0


def cochran_q(y, v) -> float:
    """Cochran's Q of an intercept-only model."""
    return generalized_q(np.asarray(y, float), np.asarray(v, float), 0.0)


def tau2_qprofile(y, v, X: np.ndarray | None = None, level: float = 0.95
                  ) -> tuple[float, float]:
    """The Q-profile CI of tau^2: the tau^2 at which the generalized Q equals the upper and the
    lower alpha/2 quantile of chi-square(k - p); bounds below 0 are set to 0."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    X = design(len(y), X)
    df = X.shape[0] - X.shape[1]
    alpha = 1 - level
    upper_q, lower_q = stats.chi2.isf(alpha / 2, df), stats.chi2.isf(1 - alpha / 2, df)

    def root(target: float) -> float:
        if generalized_q(y, v, 0.0, X) <= target:
            return 0.0
        high = max(1.0, 10 * np.var(y))
        while generalized_q(y, v, high, X) > target:
            high *= 2
        return float(optimize.brentq(lambda t: generalized_q(y, v, t, X) - target, 0.0,
                                     high, xtol=1e-12, rtol=1e-12))

    return root(upper_q), root(lower_q)
