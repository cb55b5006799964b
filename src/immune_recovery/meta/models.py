"""Random-effects meta-analysis and meta-regression: one results type.

Model: y_i = mu + u_i + e_i, u_i ~ N(0, tau^2), e_i ~ N(0, v_i) with v_i known (squared standard
errors); tau^2 by REML (default), DerSimonian-Laird or Paule-Mandel (:mod:`.heterogeneity`).
A fit gives

* the random-effects estimate with the Hartung-Knapp-Sidik-Jonkman (HKSJ) confidence interval
  (t with k - 1 df and the weighted residual scale; statsmodels' ``var_hksj_re``), the
  primary row, and the Wald (normal) interval as a sensitivity row;
* the fixed-effect (inverse-variance) estimate as a sensitivity row;
* the 95% prediction interval mu +/- t(k-2) sqrt(tau^2 + SE(mu)^2) (Higgins, Thompson &
  Spiegelhalter, J R Stat Soc A 2009;172:137-159), for k >= 3;
* Cochran's Q with its chi-square p-value, tau^2 and I^2 (Higgins & Thompson; metafor prints an
  estimator-specific I^2 instead; its DL value equals this one).

k = 1 returns the study itself, flagged ``single_study``; no tau^2, Q or prediction interval.

:meth:`MetaAnalysis.summary_frame` is the one results table (as statsmodels'
``CombineResults.summary_frame``): the study rows with their CIs and weights, then the pooled
rows, each on the analysis scale (``y``, ``se``, ``y_ci_low``, ``y_ci_high``) and on the
reporting scale (``estimate``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high``);
:meth:`MetaAnalysis.pooled_frame` is its pooled rows on the reporting scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .effects import SCALES
from .heterogeneity import TAU2_METHODS, cochran_q, i_squared, tau2_reml, tau2_statsmodels

#: Columns of the pooled rows (:meth:`MetaAnalysis.pooled_frame`).
POOLED_COLUMNS = ["model", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "se",
                  "tau2", "i2", "q", "q_p", "k", "flag"]
#: Columns of :meth:`MetaAnalysis.summary_frame`.
FRAME_COLUMNS = ["row", "label", "y", "se", "y_ci_low", "y_ci_high", "estimate", "ci_low",
                 "ci_high", "pi_low", "pi_high", "weight", "tau2", "i2", "q", "q_p", "k", "flag"]


@dataclass
class MetaAnalysis:
    """Random-effects meta-analysis (see the module docstring).

    ``fit(y, se=..., labels=...)`` (or ``v=`` variances) returns the fitted object;
    :meth:`summary_frame` gives study and pooled rows on both scales, :meth:`pooled_frame` the
    pooled rows on the reporting scale, :attr:`primary` the primary pooled row (analysis
    scale); ``pooled_`` (analysis scale) and ``studies_`` (inputs with their random-effects
    weights) are the fitted parts.
    """

    method: str = "REML"
    scale: str = "identity"
    level: float = 0.95
    #: Prediction interval quantile: "t" (t with k - 2 df, Higgins et al. 2009; default) or
    #: "normal" (R metafor's ``predict`` default for a z-test model).
    prediction: str = "t"
    studies_: pd.DataFrame = field(init=False, repr=False)
    pooled_: pd.DataFrame = field(init=False, repr=False)

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
            self.pooled_ = pd.DataFrame([row], columns=POOLED_COLUMNS)
            self.studies_ = pd.DataFrame({"study": labels, "y": y, "se": np.sqrt(v),
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
        self.pooled_ = pd.DataFrame(rows, columns=POOLED_COLUMNS)
        self.studies_ = pd.DataFrame({"study": labels, "y": y, "se": np.sqrt(v),
                                     "weight": w / w.sum()})
        return self

    @property
    def primary(self) -> pd.Series:
        """The primary pooled row on the analysis scale: random effects with the HKSJ interval
        (or the single study)."""
        return self.pooled_.iloc[0]

    def pooled_frame(self) -> pd.DataFrame:
        """The pooled rows (:data:`POOLED_COLUMNS`) with estimate, CI and PI on the reporting
        scale (proportion, ratio); ``se`` stays on the analysis scale."""
        out = self.pooled_.copy()
        f = SCALES[self.scale]
        for column in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            out[column] = f(out[column].astype(float))
        return out

    def summary_frame(self) -> pd.DataFrame:
        """Study rows (``row = "study"``: each input with its CI and random-effects weight) and
        pooled rows (``row = "pooled"``), on the analysis and the reporting scale
        (:data:`FRAME_COLUMNS`)."""
        f = SCALES[self.scale]
        z = stats.norm.isf((1 - self.level) / 2)
        s = self.studies_
        studies = pd.DataFrame({
            "row": "study", "label": s["study"], "y": s["y"], "se": s["se"],
            "y_ci_low": s["y"] - z * s["se"], "y_ci_high": s["y"] + z * s["se"],
            "weight": s["weight"]})
        p = self.pooled_
        pooled = pd.DataFrame({
            "row": "pooled", "label": p["model"], "y": p["estimate"], "se": p["se"],
            "y_ci_low": p["ci_low"], "y_ci_high": p["ci_high"], "pi_low": f(p["pi_low"]),
            "pi_high": f(p["pi_high"])}).join(p[["tau2", "i2", "q", "q_p", "k", "flag"]])
        out = pd.concat([studies, pooled], ignore_index=True)
        out["estimate"], out["ci_low"], out["ci_high"] = (
            f(out[c].astype(float)) for c in ("y", "y_ci_low", "y_ci_high"))
        return out.reindex(columns=FRAME_COLUMNS)


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

    def summary_frame(self) -> pd.DataFrame:
        """The coefficients: term, estimate, se, ci_low, ci_high, p (analysis scale)."""
        return self.coefficients.copy()

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted mean effect (analysis scale) for moderator rows ``X``."""
        design = np.column_stack([np.ones(len(X)), X[self.design_columns_].to_numpy(float)])
        return design @ self.coefficients["estimate"].to_numpy()

