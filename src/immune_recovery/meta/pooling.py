"""Random-effects meta-analysis of any effect on its analysis scale.

Model: y_i = mu + u_i + e_i, u_i ~ N(0, tau^2), e_i ~ N(0, v_i) with v_i known (squared standard
errors). tau^2 is estimated by REML (default; Fisher scoring as in R metafor's ``rma``), the
DerSimonian-Laird moment estimator or Paule-Mandel (the last two through statsmodels
``combine_effects``, which has no REML). For each fit the table gives

* the random-effects estimate with the Hartung-Knapp-Sidik-Jonkman (HKSJ) confidence interval
  (t with k - 1 df and the weighted residual scale; statsmodels' ``var_hksj_re``), the
  primary row, and the Wald (normal) interval as a sensitivity row;
* the fixed-effect (inverse-variance) estimate as a sensitivity row;
* the 95% prediction interval mu +/- t(k-2) sqrt(tau^2 + SE(mu)^2) (Higgins, Thompson &
  Spiegelhalter, J R Stat Soc A 2009;172:137-159), for k >= 3;
* Cochran's Q with its chi-square p-value, tau^2, and **I^2 by Higgins & Thompson's
  convention, I^2 = max(0, (Q - (k - 1)) / Q)** (Stat Med 2002;21:1539-1558), the same for every
  tau^2 estimator (metafor prints an estimator-specific I^2 instead; its DL value equals this one).

k = 1 returns the study itself, flagged ``single_study``; no tau^2, Q or prediction interval.

Proportions are pooled on the logit scale (:func:`logit_proportion`): logit(x / n) with variance
1/x + 1/(n - x); when x = 0 or x = n, 0.5 is added to x and to n - x (the usual continuity
rule, R metafor's ``escalc(add=1/2, to="only0")``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from ..conventions import z_quantile

#: tau^2 estimators: REML (ours, Fisher scoring), DL and PM (statsmodels).
TAU2_METHODS = ("REML", "DL", "PM")
#: Analysis scales and the back-transformation to the reporting scale.
SCALES = {"logit": lambda x: 1 / (1 + np.exp(-x)), "log": np.exp, "identity": lambda x: x}
#: Continuity correction added to events and non-events when a proportion is 0 or 1.
CONTINUITY = 0.5

SUMMARY_COLUMNS = ["model", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "se",
                   "tau2", "i2", "q", "q_p", "k", "flag"]


def logit_proportion(events, n, continuity: float = CONTINUITY
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(logit p, its variance) of ``events / n``; ``continuity`` is added to events and
    non-events where there are 0 or n events (see the module docstring)."""
    events, n = np.asarray(events, float), np.asarray(n, float)
    edge = (events == 0) | (events == n)
    x = np.where(edge, events + continuity, events)
    m = np.where(edge, n - events + continuity, n - events)
    return np.log(x / m), 1 / x + 1 / m


def log_ratio_from_ci(estimate, ci_low, ci_high, level: float = 0.95
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(log ratio, SE) from a ratio and its CI: SE = (ln upper - ln lower) / (2 z)."""
    z = z_quantile(level)
    return (np.log(np.asarray(estimate, float)),
            (np.log(np.asarray(ci_high, float)) - np.log(np.asarray(ci_low, float))) / (2 * z))


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


@dataclass
class MetaAnalysis:
    """Random-effects meta-analysis (see the module docstring).

    ``fit(y, se=..., labels=...)`` (or ``v=`` variances) returns the fitted object; ``summary``
    is the table of estimates (analysis scale; :meth:`back_transformed` on the reporting
    scale); ``studies`` the inputs with their random-effects weights.
    """

    method: str = "REML"
    scale: str = "identity"
    level: float = 0.95
    #: Prediction interval quantile: "t" (t with k - 2 df, Higgins et al. 2009; default) or
    #: "normal" (R metafor's ``predict`` default for a z-test model).
    prediction: str = "t"
    studies: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.method not in TAU2_METHODS:
            raise ValueError(f"method must be one of {TAU2_METHODS}, got {self.method!r}")
        if self.prediction not in ("t", "normal"):
            raise ValueError(f"prediction must be 't' or 'normal', got {self.prediction!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {tuple(SCALES)}, got {self.scale!r}")

    def fit(self, y: Sequence[float], se: Sequence[float] | None = None, *,
            v: Sequence[float] | None = None, labels: Sequence[str] | None = None
            ) -> MetaAnalysis:
        y = np.asarray(y, float)
        v = np.asarray(v, float) if v is not None else np.asarray(se, float) ** 2
        if y.shape != v.shape or y.ndim != 1 or len(y) == 0:
            raise ValueError("y and se (or v) must be non-empty 1-d arrays of equal length")
        if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
            raise ValueError("every estimate needs a finite value and a positive variance")
        self.y_, self.v_, self.k_ = y, v, len(y)
        labels = list(labels) if labels is not None else [str(i + 1) for i in range(len(y))]
        alpha = 1 - self.level
        z = stats.norm.isf(alpha / 2)
        if self.k_ == 1:
            se1 = float(np.sqrt(v[0]))
            self.tau2_ = np.nan
            row = {"model": "single study", "estimate": y[0], "ci_low": y[0] - z * se1,
                   "ci_high": y[0] + z * se1, "pi_low": np.nan, "pi_high": np.nan,
                   "se": se1, "tau2": np.nan, "i2": np.nan, "q": np.nan, "q_p": np.nan,
                   "k": 1, "flag": "single_study"}
            self.summary = pd.DataFrame([row], columns=SUMMARY_COLUMNS)
            self.studies = pd.DataFrame({"study": labels, "y": y, "se": np.sqrt(v),
                                         "weight": [1.0]})
            return self
        self.tau2_ = tau2_reml(y, v) if self.method == "REML" else \
            tau2_statsmodels(y, v, self.method)
        q = cochran_q(y, v)
        k = self.k_
        i2 = i_squared(q, k)
        q_p = float(stats.chi2.sf(q, k - 1))
        w = 1 / (v + self.tau2_)
        mu = float(np.sum(w * y) / np.sum(w))
        se_wald = float(np.sqrt(1 / np.sum(w)))
        hksj_var = float(np.sum(w * (y - mu) ** 2) / ((k - 1) * np.sum(w)))
        t_ci = stats.t.isf(alpha / 2, k - 1)
        if k >= 3:
            quantile = stats.t.isf(alpha / 2, k - 2) if self.prediction == "t" else z
            half = quantile * np.sqrt(self.tau2_ + se_wald ** 2)
            pi = (mu - half, mu + half)
        else:
            pi = (np.nan, np.nan)
        wf = 1 / v
        mu_fe = float(np.sum(wf * y) / np.sum(wf))
        se_fe = float(np.sqrt(1 / np.sum(wf)))
        flag = "few_studies" if k <= 3 else ""
        common = {"tau2": self.tau2_, "i2": i2, "q": q, "q_p": q_p, "k": k}
        rows = [
            {"model": f"random effects ({self.method}), HKSJ CI", "estimate": mu,
             "ci_low": mu - t_ci * np.sqrt(hksj_var), "ci_high": mu + t_ci * np.sqrt(hksj_var),
             "pi_low": pi[0], "pi_high": pi[1], "se": np.sqrt(hksj_var), **common,
             "flag": flag},
            {"model": f"random effects ({self.method}), Wald CI", "estimate": mu,
             "ci_low": mu - z * se_wald, "ci_high": mu + z * se_wald, "pi_low": pi[0],
             "pi_high": pi[1], "se": se_wald, **common, "flag": flag},
            {"model": "fixed effect (inverse variance)", "estimate": mu_fe,
             "ci_low": mu_fe - z * se_fe, "ci_high": mu_fe + z * se_fe, "pi_low": np.nan,
             "pi_high": np.nan, "se": se_fe, **common, "flag": flag},
        ]
        self.summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
        self.studies = pd.DataFrame({"study": labels, "y": y, "se": np.sqrt(v),
                                     "weight": w / w.sum()})
        return self

    @property
    def primary(self) -> pd.Series:
        """The primary row: random effects with the HKSJ interval (or the single study)."""
        return self.summary.iloc[0]

    def back_transformed(self) -> pd.DataFrame:
        """``summary`` with estimate, CI and PI on the reporting scale (proportion, ratio)."""
        out = self.summary.copy()
        f = SCALES[self.scale]
        for column in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            out[column] = f(out[column].astype(float))
        return out


@dataclass
class MetaRegression:
    """Mixed-effects meta-regression: y_i = x_i' beta + u_i + e_i, tau^2 residual
    heterogeneity estimated jointly by REML (:func:`tau2_reml` with the design ``X``).

    ``fit(y, v, X)`` with ``X`` a DataFrame of moderators (an intercept is added) returns the
    fitted object: ``coefficients`` (term, estimate, se, ci_low, ci_high, p; Wald z), ``tau2_``
    (residual), ``tau2_null_`` (intercept-only REML), ``r2_`` the share of tau^2 explained,
    max(0, 1 - tau2 / tau2_null) (Raudenbush 2009; metafor's R^2).
    """

    level: float = 0.95

    def fit(self, y: Sequence[float], v: Sequence[float], X: pd.DataFrame) -> MetaRegression:
        y, v = np.asarray(y, float), np.asarray(v, float)
        design = np.column_stack([np.ones(len(y)), X.to_numpy(dtype=float)])
        names = ["intercept", *X.columns]
        if len(y) <= design.shape[1]:
            raise ValueError(f"{len(y)} studies cannot estimate {design.shape[1]} coefficients")
        self.tau2_ = tau2_reml(y, v, design)
        self.tau2_null_ = tau2_reml(y, v)
        self.r2_ = max(0.0, 1 - self.tau2_ / self.tau2_null_) if self.tau2_null_ > 0 else 0.0
        w = 1 / (v + self.tau2_)
        xtwx_inv = np.linalg.inv(design.T @ (design * w[:, None]))
        beta = xtwx_inv @ design.T @ (w * y)
        se = np.sqrt(np.diag(xtwx_inv))
        z = stats.norm.isf((1 - self.level) / 2)
        self.weights_ = w
        self.coefficients = pd.DataFrame({
            "term": names, "estimate": beta, "se": se, "ci_low": beta - z * se,
            "ci_high": beta + z * se, "p": 2 * stats.norm.sf(np.abs(beta / se))})
        self.design_columns_ = list(X.columns)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted mean effect (analysis scale) for moderator rows ``X``."""
        design = np.column_stack([np.ones(len(X)), X[self.design_columns_].to_numpy(float)])
        return design @ self.coefficients["estimate"].to_numpy()


def one_per_study(rows: pd.DataFrame, study: str, order: Sequence[tuple[str, bool]]
                  ) -> pd.Series:
    """True for the one row per study that enters a pooled estimate: the first after sorting
    by ``order`` (``(column, ascending)`` pairs, e.g. closeness to the claim's wording, then
    the longest suppressed follow-up descending); ties left are broken by row order. The
    other rows of a study are shown, never pooled as independent."""
    columns = [c for c, _ in order]
    ranked = rows.assign(_row=np.arange(len(rows))).sort_values(
        [*columns, "_row"], ascending=[*[a for _, a in order], True], kind="stable",
        na_position="last")
    chosen = ranked.drop_duplicates(study, keep="first").index
    return pd.Series(rows.index.isin(chosen), index=rows.index, name="pooled")
