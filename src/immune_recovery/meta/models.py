"""Random-effects meta-analysis and meta-regression: one results type.

Model: y_i = mu + u_i + e_i, u_i ~ N(0, tau^2), e_i ~ N(0, v_i) with v_i known (squared standard
errors); tau^2 by REML (default), ML, DerSimonian-Laird or Paule-Mandel (:mod:`.heterogeneity`).
A fit gives

* the random-effects estimate with the interval of ``test``: ``"knha"`` the Hartung-Knapp-
  Sidik-Jonkman (HKSJ) interval (t with k - 1 df and the weighted residual scale; default),
  ``"adhoc"`` the modified HKSJ interval, never narrower than the Wald one (the scale truncated
  at 1; Knapp & Hartung 2003, metafor ``test="adhoc"``), or ``"z"`` the Wald interval; the
  Wald interval as a sensitivity row;
* the fixed-effect (inverse-variance) estimate as a sensitivity row;
* the 95% prediction interval mu +/- t(k-2) sqrt(tau^2 + SE(mu)^2) (Higgins, Thompson &
  Spiegelhalter, J R Stat Soc A 2009;172:137-159), only with at least
  :data:`MIN_STUDIES_PREDICTION` studies;
* tau^2 with its Q-profile CI, I^2 and H^2 from tau^2 (metafor's definitions), Cochran's Q with
  its p-value and the Q-based I^2 (``i2_q``).

k = 1 returns the study itself, flagged ``single_study``; no tau^2, Q or prediction interval.
Diagnostics: :meth:`MetaAnalysis.leave_one_out`, :meth:`~MetaAnalysis.influence`,
:meth:`~MetaAnalysis.cumulative`, :meth:`~MetaAnalysis.regtest` (Egger-type test) and
:meth:`~MetaAnalysis.trimfill`, each as R metafor defines it.

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
from .heterogeneity import (
    TAU2_METHODS,
    cochran_q,
    generalized_q,
    h_squared,
    i_squared,
    i_squared_q,
    projection,
    tau2_estimate,
    tau2_qprofile,
    typical_variance,
)

#: Intervals of the pooled estimate: Wald (z), HKSJ (knha), modified HKSJ (adhoc).
TESTS = ("z", "knha", "adhoc")
#: Fewest studies for a prediction interval (ours, after Partlett C, Riley RD. Stat Med
#: 2017;36:301-317: with fewer than five studies the 95% prediction interval's coverage is far
#: from nominal and its width meaningless).
MIN_STUDIES_PREDICTION = 5
#: Columns of the pooled rows (:meth:`MetaAnalysis.pooled_frame`).
POOLED_COLUMNS = ["model", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "se",
                  "tau2", "tau2_ci_low", "tau2_ci_high", "i2", "h2", "i2_q", "q", "q_p", "k",
                  "flag"]
#: Columns of :meth:`MetaAnalysis.summary_frame`.
FRAME_COLUMNS = ["row", "label", "y", "se", "y_ci_low", "y_ci_high", "estimate", "ci_low",
                 "ci_high", "pi_low", "pi_high", "weight", "tau2", "tau2_ci_low", "tau2_ci_high",
                 "i2", "h2", "i2_q", "q", "q_p", "k", "flag"]
_LABELS = {"z": "Wald CI", "knha": "HKSJ CI", "adhoc": "modified HKSJ CI"}


def _check(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


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
    test: str = "knha"
    studies_: pd.DataFrame = field(init=False, repr=False)
    pooled_: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check("method", self.method, TAU2_METHODS)
        _check("prediction", self.prediction, ("t", "normal"))
        _check("scale", self.scale, tuple(SCALES))
        _check("test", self.test, TESTS)

    def _like(self) -> MetaAnalysis:
        return MetaAnalysis(self.method, self.scale, self.level, self.prediction, self.test)

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
        self.labels_ = list(labels) if labels is not None else [str(i + 1) for i in
                                                                range(len(y))]
        z = stats.norm.isf((1 - self.level) / 2)
        if self.k_ == 1:
            se1 = float(np.sqrt(v[0]))
            self.tau2_ = np.nan
            row = dict.fromkeys(POOLED_COLUMNS, np.nan) | {
                "model": "single study", "estimate": y[0], "ci_low": y[0] - z * se1,
                "ci_high": y[0] + z * se1, "se": se1, "k": 1, "flag": "single_study"}
            self.pooled_ = pd.DataFrame([row], columns=POOLED_COLUMNS)
            self.studies_ = pd.DataFrame({"study": self.labels_, "y": y, "se": np.sqrt(v),
                                          "weight": [1.0]})
            return self
        self.pooled_ = pd.DataFrame(self._rows(y, v, z), columns=POOLED_COLUMNS)
        w = 1 / (v + self.tau2_)
        self.studies_ = pd.DataFrame({"study": self.labels_, "y": y, "se": np.sqrt(v),
                                      "weight": w / w.sum()})
        return self

    def _rows(self, y: np.ndarray, v: np.ndarray, z: float) -> list[dict]:
        k, alpha = len(y), 1 - self.level
        self.tau2_ = tau2 = tau2_estimate(y, v, method=self.method)
        s2 = typical_variance(v)
        q = cochran_q(y, v)
        tau2_low, tau2_high = tau2_qprofile(y, v, level=self.level)
        w = 1 / (v + tau2)
        mu = float(np.sum(w * y) / np.sum(w))
        se_wald = float(np.sqrt(1 / np.sum(w)))
        scale2 = float(np.sum(w * (y - mu) ** 2) / (k - 1))  # the HKSJ residual scale
        if k >= MIN_STUDIES_PREDICTION:
            quantile = stats.t.isf(alpha / 2, k - 2) if self.prediction == "t" else z
            half = quantile * np.sqrt(tau2 + se_wald ** 2)
            pi = (mu - half, mu + half)
        else:
            pi = (np.nan, np.nan)
        wf = 1 / v
        mu_fe, se_fe = float(np.sum(wf * y) / np.sum(wf)), float(np.sqrt(1 / np.sum(wf)))
        common = {"tau2": tau2, "tau2_ci_low": tau2_low, "tau2_ci_high": tau2_high,
                  "i2": i_squared(tau2, s2), "h2": h_squared(tau2, s2), "i2_q": i_squared_q(q, k),
                  "q": q, "q_p": float(stats.chi2.sf(q, k - 1)), "k": k,
                  "flag": "few_studies" if k <= 3 else ""}

        def row(test: str, est: float, se: float, pi_: tuple) -> dict:
            quantile = z if test in ("z", "fe") else stats.t.isf(alpha / 2, k - 1)
            model = ("fixed effect (inverse variance)" if test == "fe" else
                     f"random effects ({self.method}), {_LABELS[test]}")
            return {"model": model, "estimate": est, "ci_low": est - quantile * se,
                    "ci_high": est + quantile * se, "pi_low": pi_[0], "pi_high": pi_[1],
                    "se": se, **common}

        factor = {"z": 1.0, "knha": scale2, "adhoc": max(1.0, scale2)}[self.test]
        rows = [row(self.test, mu, se_wald * np.sqrt(factor), pi)]
        if self.test != "z":
            rows.append(row("z", mu, se_wald, pi))
        rows.append(row("fe", mu_fe, se_fe, (np.nan, np.nan)))
        return rows

    @property
    def primary(self) -> pd.Series:
        """The primary pooled row on the analysis scale: random effects with the interval of
        ``test`` (or the single study)."""
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
            "pi_high": f(p["pi_high"])}).join(p[["tau2", "tau2_ci_low", "tau2_ci_high", "i2",
                                                 "h2", "i2_q", "q", "q_p", "k", "flag"]])
        out = pd.concat([studies, pooled], ignore_index=True)
        out["estimate"], out["ci_low"], out["ci_high"] = (
            f(out[c].astype(float)) for c in ("y", "y_ci_low", "y_ci_high"))
        return out.reindex(columns=FRAME_COLUMNS)

    # --- diagnostics ----------------------------------------------------------------------

    def _subset(self, keep: np.ndarray) -> MetaAnalysis:
        return self._like().fit(self.y_[keep], v=self.v_[keep],
                                labels=[lab for lab, k in zip(self.labels_, keep) if k])

    def _needs(self, k: int) -> None:
        if self.k_ < k:
            raise ValueError(f"needs at least {k} studies, has {self.k_}")

    def leave_one_out(self) -> pd.DataFrame:
        """The primary pooled row refitted without each study in turn (analysis scale, as
        metafor ``leave1out``): ``study`` left out, estimate, se, CI, tau^2, I^2, Q."""
        self._needs(3)
        rows = []
        for i, label in enumerate(self.labels_):
            p = self._subset(np.arange(self.k_) != i).primary
            rows.append({"study": label, "estimate": p["estimate"], "se": p["se"],
                         "ci_low": p["ci_low"], "ci_high": p["ci_high"], "tau2": p["tau2"],
                         "i2": p["i2"], "q": p["q"]})
        return pd.DataFrame(rows)

    def influence(self) -> pd.DataFrame:
        """Case-deletion diagnostics as metafor ``influence.rma.uni`` (Viechtbauer & Cheung,
        Res Synth Methods 2010;1:112-125): externally studentized residual, DFFITS, Cook's
        distance, covariance ratio, tau^2 and Q without the study, hat value and weight (the
        Wald variance of the pooled estimate throughout)."""
        self._needs(3)
        y, v, tau2 = self.y_, self.v_, self.tau2_
        w = 1 / (v + tau2)
        mu, var = np.sum(w * y) / np.sum(w), 1 / np.sum(w)
        hat = w / np.sum(w)
        rows = []
        for i, label in enumerate(self.labels_):
            keep = np.arange(self.k_) != i
            t2 = tau2_estimate(y[keep], v[keep], method=self.method)
            wd = 1 / (v[keep] + t2)
            mu_d, var_d = np.sum(wd * y[keep]) / np.sum(wd), 1 / np.sum(wd)
            rows.append({
                "study": label, "rstudent": (y[i] - mu_d) / np.sqrt(v[i] + t2 + var_d),
                "dffits": (mu - mu_d) / np.sqrt(hat[i] * (t2 + v[i])),
                "cook_d": (mu - mu_d) ** 2 / var, "cov_r": var_d / var, "tau2_del": t2,
                "qe_del": cochran_q(y[keep], v[keep]), "hat": hat[i], "weight": hat[i]})
        return pd.DataFrame(rows)

    def cumulative(self, order: Sequence[int] | None = None) -> pd.DataFrame:
        """Cumulative meta-analysis (metafor ``cumul``): the primary pooled row after adding
        the studies one at a time in ``order`` (positions; default: as given); one study has
        tau^2 = 0, as in metafor."""
        order = np.arange(self.k_) if order is None else np.asarray(order)
        rows = []
        for j in range(1, self.k_ + 1):
            sub = self._like().fit(self.y_[order[:j]], v=self.v_[order[:j]])
            p = sub.primary
            rows.append({"study": self.labels_[order[j - 1]], "k": j, "estimate": p["estimate"],
                         "se": p["se"], "ci_low": p["ci_low"], "ci_high": p["ci_high"],
                         "tau2": 0.0 if j == 1 else p["tau2"], "i2": p["i2"]})
        return pd.DataFrame(rows)

    def regtest(self) -> dict:
        """Egger-type regression test for funnel asymmetry in metafor's default form
        (``regtest``: a mixed-effects meta-regression of the estimates on their standard
        errors, same tau^2 estimator and test): the statistic of the SE coefficient, its p,
        and the limit estimate (as SE -> 0) with its CI."""
        self._needs(3)
        test = "z" if self.test == "z" else "knha"
        reg = MetaRegression(method=self.method, level=self.level, test=test).fit(
            self.y_, self.v_, pd.DataFrame({"sei": np.sqrt(self.v_)}))
        c = reg.coefficients.set_index("term")
        return {"statistic": float(c.loc["sei", "statistic"]), "p": float(c.loc["sei", "p"]),
                "df": reg.df_, "limit_estimate": float(c.loc["intercept", "estimate"]),
                "limit_ci_low": float(c.loc["intercept", "ci_low"]),
                "limit_ci_high": float(c.loc["intercept", "ci_high"])}

    def trimfill(self, estimator: str = "L0", side: str | None = None) -> TrimFill:
        """Duval & Tweedie's trim and fill (Biometrics 2000;56:455-463) as metafor
        ``trimfill``: the side from the sign of the regression on the standard errors, the
        number of missing studies by ``estimator`` (L0 or R0), the filled studies mirrored
        about the trimmed estimate, and the model refitted on the filled data."""
        _check("estimator", estimator, ("L0", "R0"))
        self._needs(3)
        if side is None:
            slope = MetaRegression(method=self.method).fit(
                self.y_, self.v_, pd.DataFrame({"sei": np.sqrt(self.v_)})).coefficients
            side = "right" if slope["estimate"].iloc[1] < 0 else "left"
        _check("side", side, ("left", "right"))
        sign = -1.0 if side == "right" else 1.0
        order = np.argsort(sign * self.y_, kind="stable")
        yi, vi, k = sign * self.y_[order], self.v_[order], self.k_
        k0, previous, se_k0 = 0, -1, 0.0
        for _ in range(100):
            if k0 == previous:
                break
            previous = k0
            t2 = tau2_estimate(yi[: k - k0], vi[: k - k0], method=self.method)
            w = 1 / (vi[: k - k0] + t2)
            beta = float(np.sum(w * yi[: k - k0]) / np.sum(w))
            centred = yi - beta
            ranks = stats.rankdata(np.abs(centred), method="ordinal") * np.sign(centred)
            if estimator == "R0":
                k0_raw = (k - max(-ranks[ranks < 0], default=0)) - 1
                se_k0 = np.sqrt(2 * max(0, k0_raw) + 2)
            else:
                sr = ranks[ranks > 0].sum()
                k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
                var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0_raw ** 3 + 27 * k0_raw ** 2
                          + 17 * k0_raw - 18 * k * k0_raw ** 2 - 18 * k * k0_raw
                          + 6 * k ** 2 * k0_raw) / 24
                se_k0 = 4 * np.sqrt(max(var_sr, 0)) / (2 * k - 1)
            k0 = int(max(0, np.round(k0_raw)))
        else:
            raise RuntimeError("trim and fill did not converge")
        filled_y = sign * (2 * beta - yi[k - k0:]) if k0 else np.array([])
        filled_v = vi[k - k0:] if k0 else np.array([])
        labels = self.labels_ + [f"filled {i + 1}" for i in range(k0)]
        fit = self._like().fit(np.concatenate([self.y_, filled_y]),
                               v=np.concatenate([self.v_, filled_v]), labels=labels)
        return TrimFill(k0=k0, se_k0=float(max(0.0, se_k0)), side=side, estimator=estimator,
                        fit=fit, filled=pd.DataFrame({"study": labels[self.k_:],
                                                      "y": filled_y, "se": np.sqrt(filled_v)}))


@dataclass
class TrimFill:
    """Trim and fill: the number of missing studies ``k0`` (with its SE), the side they were
    missing on, the filled studies and the fit on the filled data."""

    k0: int
    se_k0: float
    side: str
    estimator: str
    fit: MetaAnalysis
    filled: pd.DataFrame


@dataclass
class MetaRegression:
    """Mixed-effects meta-regression: y_i = x_i' beta + u_i + e_i, the residual tau^2 by
    ``method`` with the design (:func:`~.heterogeneity.tau2_estimate`).

    ``fit(y, v, X, studies=...)`` with ``X`` a DataFrame of moderators (an intercept is added)
    returns the fitted object: ``coefficients`` (term, estimate, se, ci_low, ci_high, p,
    statistic, df), with ``test="z"`` Wald z tests or ``test="knha"`` Knapp-Hartung t tests
    with k - p df (``"adhoc"``: the scale truncated at 1); the omnibus test of the moderators
    (``qm_``, ``qm_p_``: chi-square, or F with ``test="knha"``); the residual ``tau2_`` with its
    Q-profile CI (``tau2_ci_``), residual I^2 and H^2, the residual heterogeneity test
    (``qe_``, ``qe_p_``), ``tau2_null_`` (intercept-only) and ``r2_`` = max(0, 1 - tau2 /
    tau2_null) (Raudenbush 2009; metafor's R^2).

    More coefficients than estimates is refused. With ``studies`` (each estimate's study), a
    model with no more studies than coefficients is flagged ``not identified`` in ``flag_``
    (estimates of one study are not independent information about study-level moderators).
    """

    level: float = 0.95
    method: str = "REML"
    test: str = "z"
    scale: str = "identity"

    def __post_init__(self) -> None:
        _check("method", self.method, TAU2_METHODS)
        _check("test", self.test, TESTS)
        _check("scale", self.scale, tuple(SCALES))

    def fit(self, y: Sequence[float], v: Sequence[float], X: pd.DataFrame,
            studies: Sequence[str] | None = None) -> MetaRegression:
        y, v = np.asarray(y, float), np.asarray(v, float)
        design = np.column_stack([np.ones(len(y)), X.to_numpy(dtype=float)])
        names = ["intercept", *X.columns]
        k, p = design.shape
        if k <= p:
            raise ValueError(f"{k} estimates cannot estimate {p} coefficients")
        if np.linalg.matrix_rank(design) < p:
            raise ValueError("the moderators are collinear: the coefficients are not "
                             "identified")
        self.k_, self.p_ = k, p
        n_studies = len(set(studies)) if studies is not None else k
        self.flag_ = (f"not identified: {n_studies} studies for {p} coefficients"
                      if n_studies <= p else "")
        self.tau2_ = tau2_estimate(y, v, design, self.method)
        self.tau2_null_ = tau2_estimate(y, v, None, self.method)
        self.r2_ = max(0.0, 1 - self.tau2_ / self.tau2_null_) if self.tau2_null_ > 0 else 0.0
        self.tau2_ci_ = tau2_qprofile(y, v, design, self.level)
        s2 = typical_variance(v, design)
        self.i2_, self.h2_ = i_squared(self.tau2_, s2), h_squared(self.tau2_, s2)
        self.qe_ = generalized_q(y, v, 0.0, design)
        self.qe_p_ = float(stats.chi2.sf(self.qe_, k - p))
        w = 1 / (v + self.tau2_)
        vb = np.linalg.inv(design.T @ (design * w[:, None]))
        beta = vb @ design.T @ (w * y)
        alpha = 1 - self.level
        if self.test == "z":
            self.df_ = np.inf
            quantile = stats.norm.isf(alpha / 2)
        else:
            scale2 = float(y @ projection(v, self.tau2_, design) @ y / (k - p))
            vb = vb * (max(1.0, scale2) if self.test == "adhoc" else scale2)
            self.df_ = k - p
            quantile = stats.t.isf(alpha / 2, k - p)
        se = np.sqrt(np.diag(vb))
        statistic = beta / se
        p_values = 2 * (stats.norm.sf(np.abs(statistic)) if self.test == "z"
                        else stats.t.sf(np.abs(statistic), k - p))
        mods = slice(1, p)
        qm = float(beta[mods] @ np.linalg.solve(vb[mods, mods], beta[mods])) if p > 1 else 0.0
        if self.test == "z":
            self.qm_, self.qm_p_ = qm, float(stats.chi2.sf(qm, p - 1)) if p > 1 else np.nan
        else:
            self.qm_ = qm / (p - 1) if p > 1 else 0.0
            self.qm_p_ = float(stats.f.sf(self.qm_, p - 1, k - p)) if p > 1 else np.nan
        self.weights_ = w
        self.vb_ = vb
        self.coefficients = pd.DataFrame({
            "term": names, "estimate": beta, "se": se, "ci_low": beta - quantile * se,
            "ci_high": beta + quantile * se, "p": p_values, "statistic": statistic,
            "df": self.df_})
        self.design_columns_ = list(X.columns)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted mean effect (analysis scale) for moderator rows ``X``."""
        design = np.column_stack([np.ones(len(X)), X[self.design_columns_].to_numpy(float)])
        return design @ self.coefficients["estimate"].to_numpy()

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Predicted mean effect for moderator rows ``X`` with its SE and CI, and the
        prediction interval of a new study's true effect, pred +/- q sqrt(SE^2 + tau^2) (q:
        the model's test, t with k - p df, or z), analysis scale, as metafor ``predict(...,
        newmods=)``; ``estimate``, ``ci_*`` and ``pi_*`` on the reporting scale."""
        design = np.column_stack([np.ones(len(X)), X[self.design_columns_].to_numpy(float)])
        pred = design @ self.coefficients["estimate"].to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.vb_, design))
        quantile = (stats.norm.isf((1 - self.level) / 2) if np.isinf(self.df_)
                    else stats.t.isf((1 - self.level) / 2, self.df_))
        half = quantile * np.sqrt(se ** 2 + self.tau2_)
        back = SCALES[self.scale]
        return pd.DataFrame({"pred": pred, "se": se, "estimate": back(pred),
                             "ci_low": back(pred - quantile * se),
                             "ci_high": back(pred + quantile * se),
                             "pi_low": back(pred - half), "pi_high": back(pred + half)},
                            index=X.index)

    def summary_frame(self) -> pd.DataFrame:
        """The coefficients: term, estimate, se, ci_low, ci_high, p, statistic, df (analysis
        scale)."""
        return self.coefficients.copy()
