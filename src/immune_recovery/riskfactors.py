"""Who fails to respond: multivariable logistic regression of non-response.

The outcome is being a non-responder under one definition, among the patients in that
definition's denominator (see :mod:`immune_recovery.frequency`): immunologic non-responders
against complete responders when a viral-load rule applies, CD4 non-responders against CD4
responders otherwise. Covariates are those of :mod:`immune_recovery.covariates` that the data
set has; categorical covariates get an explicit reference level (the package's one encoder,
:func:`~immune_recovery.covariates.design_matrix`). Fitted with statsmodels ``Logit``; odds
ratios are ``exp(coef)`` with Wald 95% CIs, in the one result shape of
:mod:`immune_recovery.results` (measure ``OR``).
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from .classify import Classification, classify, nonresponder_flags
from .conventions import (
    BASELINE_WINDOW_DAYS,
    MIN_RESIDUAL_DF,
    SIMEX_MULTIPLES,
    SIMEX_REPLICATES,
    SIMEX_SEED,
    Z95,
)
from .covariates import available, design_matrix, term_label
from .estimable import separated, too_few_events
from .plots import forest
from .reference import published_cv  # noqa: F401  (re-exported: reports cite it here)
from .results import coefficients_table, estimates_table, not_estimable_table


def model_frame(result: Classification, definition_id: str, patients: pd.DataFrame
                ) -> pd.DataFrame:
    """Patients in the definition's denominator with a 0/1 ``nonresponder`` column."""
    denominator, numerator = nonresponder_flags(result, definition_id)
    frame = patients.loc[denominator].copy()
    frame["nonresponder"] = numerator[denominator].astype(int)
    return frame


class NonResponseModel:
    """Logistic regression of non-response on baseline covariates.

    Parameters
    ----------
    covariates : list of str
        Candidate covariates; those absent or constant in the data are dropped (see
        ``dropped_``).
    references : dict
        Reference level of categorical covariates.
    """

    def __init__(self, covariates: list[str], references: dict[str, str] | None = None,
                 alpha: float = 0.05):
        self.covariates = covariates
        self.references = references or {}
        self.alpha = alpha

    def fit(self, frame: pd.DataFrame) -> NonResponseModel:
        self.used_ = available(frame, self.covariates)
        self.dropped_ = [c for c in self.covariates if c not in self.used_]
        data = frame[["nonresponder", *self.used_]].copy()
        for name in self.used_:
            if isinstance(data[name].dtype, pd.CategoricalDtype):
                data[name] = data[name].astype(str).where(data[name].notna())
        complete = data.dropna()
        self.n_missing_ = len(data) - len(complete)
        self.n_ = len(complete)
        self.events_ = int(complete["nonresponder"].sum())
        design = design_matrix(complete, self.used_, self.references)
        self.references_ = design.attrs["references"]
        self.terms_ = list(design.columns)
        self.formula_ = "nonresponder ~ " + " + ".join(self.terms_)  # for messages only
        self.result_ = None
        self.not_estimable_ = too_few_events(min(self.events_, self.n_ - self.events_),
                                             len(self.terms_) + 1,
                                             "patients in the rarer outcome")
        if self.not_estimable_:
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # separation and non-convergence: judged below
            try:
                self.result_ = sm.Logit(complete["nonresponder"].astype(float),
                                        sm.add_constant(design, prepend=True,
                                                        has_constant="add")
                                        ).fit(disp=False, maxiter=200)
            except (np.linalg.LinAlgError, PerfectSeparationError) as err:
                self.not_estimable_ = f"not estimable: {err}"
                return self
        self.not_estimable_ = separated(self.result_.params.drop("const"),
                                        self.result_.bse.drop("const"))
        if not self.not_estimable_ and not self.result_.mle_retvals.get("converged", True):
            self.not_estimable_ = "not estimable: the logistic regression did not converge"
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Tidy odds ratios in the one result shape (measure ``OR``); a model that cannot be
        estimated has a row per term with the reason in ``note``
        (:mod:`immune_recovery.estimable`)."""
        if self.not_estimable_:
            return not_estimable_table(
                self.not_estimable_, term=self.terms_, measure="OR", n=self.n_,
                label=[term_label(t, self.references_) for t in self.terms_])
        params = self.result_.params.drop("const")
        ci = self.result_.conf_int(self.alpha).drop("const")
        return estimates_table(
            term=params.index, label=[term_label(t, self.references_) for t in params.index],
            measure="OR", estimate=np.exp(params.to_numpy()), ci_low=np.exp(ci[0].to_numpy()),
            ci_high=np.exp(ci[1].to_numpy()), p=self.result_.pvalues.drop("const").to_numpy(),
            n=self.n_)

    def coefficients(self) -> pd.DataFrame:
        """Log odds ratios with SE, Wald CI (at 1 - ``alpha``) and p, by term (the results
        protocol, :class:`~immune_recovery.results.ModelResult`); NaN when not estimable."""
        if self.not_estimable_:
            nan = np.full(len(self.terms_), np.nan)
            return coefficients_table(self.terms_, nan, nan, nan, nan, nan)
        fit = self.result_
        ci = fit.conf_int(self.alpha).drop("const")
        params = fit.params.drop("const")
        return coefficients_table(params.index, params, fit.bse.drop("const"), ci[0], ci[1],
                                  fit.pvalues.drop("const"))

    def plot(self, marker: pd.Series | None = None, marker_name: str = "true") -> plt.Figure:
        table = self.summary
        column = None
        if marker is not None:
            column = marker_name
            table[column] = table["term"].map(marker)
        return forest(table, "estimate", "ci_low", "ci_high", xlabel="Adjusted odds ratio of "
                      "non-response (95% CI)", marker_column=column)


def truth_comparison(model: NonResponseModel, frame: pd.DataFrame, truth: pd.DataFrame,
                     true_column: str = "true_inr_gain_le100_m12",
                     suppressed_column: str = "suppressed_m12") -> pd.DataFrame:
    """The same model fitted to the simulator's latent (error-free) non-response status.

    Restricted to patients truly suppressed at the assessment, so the comparison isolates what
    measurement error and visit timing do to the odds ratios. Columns: term, label, measure,
    estimate (measured odds ratio), latent_estimate, latent_ci_low, latent_ci_high.
    """
    aligned = truth.reindex(frame.index)
    latent = frame[aligned[suppressed_column].to_numpy() == 1].copy()
    latent["nonresponder"] = aligned.loc[latent.index, true_column].astype(int)
    refit = NonResponseModel(model.used_, model.references, model.alpha).fit(latent)
    measured = model.summary.set_index("term")
    other = refit.summary.set_index("term")
    return pd.DataFrame({
        "term": measured.index,
        "label": measured["label"].to_numpy(),
        "measure": "OR",
        "estimate": measured["estimate"].to_numpy(),
        "latent_estimate": other["estimate"].reindex(measured.index).to_numpy(),
        "latent_ci_low": other["ci_low"].reindex(measured.index).to_numpy(),
        "latent_ci_high": other["ci_high"].reindex(measured.index).to_numpy(),
    })


# --------------------------------------------------------------------------------------
# Baseline CD4 for aetiology: corrected for measurement error
# --------------------------------------------------------------------------------------

#: The continuous baseline term whose odds ratio is corrected.
CD4_TERM = "cd4_per100"
#: Covariates computed from the baseline count (never adjusted for beside it).
CD4_COVARIATES = ("cd4_per100", "cd4_per50", "sqrt_cd4", "baseline_cd4_band")
AETIOLOGY_COLUMNS = ["use", "term", "label", "estimate", "ci_low", "ci_high", "n", "note"]
#: The two odds ratios of :func:`baseline_cd4_for_aetiology`.
AETIOLOGY_USES = ("prediction: the measured count", "aetiology: the true count (SIMEX)")


#: statsmodels' Newton-Raphson defaults (``_fit_newton``): step tolerance, Hessian ridge.
_NEWTON_TOL, _NEWTON_RIDGE = 1e-8, 1e-10


def _logit(y: np.ndarray, x: np.ndarray, maxiter: int = 100) -> tuple[float, float]:
    """Coefficient and variance of column 1 of ``x`` (column 0 the constant): statsmodels'
    ``Logit(y, x).fit(maxiter=maxiter)`` (Newton-Raphson from zero), its loglikelihood
    derivatives and Newton steps written as statsmodels writes them, so the result is
    statsmodels' to the last bit (``tests/test_riskfactors.py``), without its model and
    results objects (a rank decomposition of the design on every fit: most of the 201 SIMEX
    fits' time at a million patients)."""
    nobs = y.shape[0]

    def predict(params: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(np.dot(x, params) + 0.0)))

    def score(fitted: np.ndarray) -> np.ndarray:
        return -np.dot(y - fitted, x) / nobs

    def hess(fitted: np.ndarray) -> np.ndarray:
        return -(-np.dot(fitted * (1 - fitted) * x.T, x)) / nobs

    old, new = np.inf, np.asarray([0.0] * x.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow on separated data, as statsmodels'
        for _ in range(maxiter):
            if not np.any(np.abs(new - old) > _NEWTON_TOL):
                break
            fitted = predict(new)  # once for both derivatives
            step = np.asarray(hess(fitted))
            step[np.diag_indices(step.shape[0])] += _NEWTON_RIDGE
            old, new = new, new - np.linalg.solve(step, score(fitted))
        cov = np.linalg.inv(hess(predict(new))) / nobs
    return float(new[1]), float(cov[1, 1])


def simex(y: np.ndarray, count: np.ndarray, others: np.ndarray, cv: float, per: float = 100.0,
          multiples: tuple[float, ...] = SIMEX_MULTIPLES, replicates: int = SIMEX_REPLICATES,
          seed: int = SIMEX_SEED) -> dict:
    """SIMEX log odds ratio per ``per`` cells/mm³ of a count measured with multiplicative
    error (log measured = log true + e, Var e = s² = log(1 + CV²), the CV published for one
    count; the simulator's and the literature's error model).

    For each multiple k, ``replicates`` data sets with extra error of variance k s² on the log
    scale (count x exp(sqrt(k) s Z)) are refitted; the mean coefficient is extrapolated back to
    k = -1 (no error) by a quadratic in k (Cook & Stefanski 1994). Variance: the model variance
    minus the replicates' spread at each k, extrapolated the same way (Stefanski & Cook, JASA
    1995;90:1247-1256). ``others``: the other design columns (no constant). Returns
    ``estimate``, ``se``, ``naive``, ``naive_se``, ``note`` (why the variance is missing)."""
    y = np.asarray(y, float)
    count = np.asarray(count, float)
    base = np.column_stack([np.ones(y.size), count / per, others])
    naive, naive_var = _logit(y, base)
    rng = np.random.default_rng(seed)
    s = np.sqrt(np.log1p(cv ** 2))
    ks, means, variances = [0.0], [naive], [naive_var]
    for k in multiples:
        fits = []
        for _ in range(replicates):
            x = base.copy()
            x[:, 1] = count * np.exp(np.sqrt(k) * s * rng.standard_normal(y.size)) / per
            fits.append(_logit(y, x))
        coef, var = np.array(fits).T
        ks.append(k)
        means.append(coef.mean())
        variances.append(var.mean() - coef.var(ddof=1))
    estimate = float(np.polyval(np.polyfit(ks, means, 2), -1.0))
    variance = float(np.polyval(np.polyfit(ks, variances, 2), -1.0))
    note = "" if variance > 0 else "SIMEX variance not positive: no CI"
    return {"estimate": estimate, "se": float(np.sqrt(variance)) if variance > 0 else np.nan,
            "naive": naive, "naive_se": float(np.sqrt(naive_var)), "note": note}


def baseline_cd4_for_aetiology(frame: pd.DataFrame, covariates: list[str], cv: float,
                               cv_source: str, references: dict[str, str] | None = None
                               ) -> pd.DataFrame:
    """The odds ratio of non-response per 100 cells/mm³ of baseline CD4, adjusted for the
    other (non-CD4) ``covariates``: on the measured count (for **prediction** from a measured
    count) and corrected for measurement error by :func:`simex` (for **aetiology**: the
    measured count's odds ratio is diluted towards 1 by the error). Wald CIs; the corrected CI
    treats the published CV as known."""
    others = [c for c in available(frame, covariates) if c not in CD4_COVARIATES]
    data = frame[["nonresponder", "baseline_cd4", *others]].dropna()
    data = data[data["baseline_cd4"] > 0]
    design = design_matrix(data, others, references) if others else \
        pd.DataFrame(index=data.index)
    label = term_label(CD4_TERM, {})
    events = int(data["nonresponder"].sum())
    reason = too_few_events(min(events, len(data) - events), design.shape[1] + 2,
                            "patients in the rarer outcome")
    if reason:
        return pd.DataFrame([{"use": use, "term": CD4_TERM, "label": label, "n": len(data),
                              "note": reason} for use in AETIOLOGY_USES],
                            columns=AETIOLOGY_COLUMNS)
    fit = simex(data["nonresponder"].to_numpy(), data["baseline_cd4"].to_numpy(),
                design.to_numpy(dtype=float), cv)
    rows = []
    for use, coef, se, note in (
            (AETIOLOGY_USES[0], fit["naive"], fit["naive_se"],
             "what a measured baseline count predicts; diluted towards 1 by its error"),
            (AETIOLOGY_USES[1], fit["estimate"], fit["se"],
             fit["note"] or f"measurement error corrected with the published CV {100 * cv:g}% "
             f"({cv_source}), taken as known")):
        rows.append({"use": use, "term": CD4_TERM, "label": label, "estimate": np.exp(coef),
                     "ci_low": np.exp(coef - Z95 * se), "ci_high": np.exp(coef + Z95 * se),
                     "n": len(data), "note": note})
    return pd.DataFrame(rows, columns=AETIOLOGY_COLUMNS)


# --------------------------------------------------------------------------------------
# Regression to the mean: does change depend on the starting level?
# --------------------------------------------------------------------------------------

RTM_COLUMNS = ["analysis", "patients", "estimate", "ci_low", "ci_high", "note"]


def baseline_window_counts(cohort, patients: pd.DataFrame) -> pd.DataFrame:
    """Per patient, the absolute CD4 counts in the baseline window: ``n_baseline_counts``,
    ``mean_baseline_cd4`` (cells/mm³) and ``within_ss`` (sum of squared deviations from the
    patient's mean, for the pooled within-person variance)."""
    cd4 = cohort.absolute_cd4()
    before, after = BASELINE_WINDOW_DAYS
    days = cd4["days_since_t0"]
    window = cd4[(days >= -before) & (days <= after)]
    code = window["code"].to_numpy()  # grouped by patient code, not by the id text
    values = pd.Series(window["CD4_V"].to_numpy(dtype=float), index=code)
    g = values.groupby(level=0)
    out = pd.DataFrame({"n_baseline_counts": g.size(), "mean_baseline_cd4": g.mean()})
    out["within_ss"] = ((values - g.transform("mean")) ** 2).groupby(level=0).sum()
    out.index = patients.index.to_numpy()[out.index.to_numpy()]
    return out.reindex(patients.index)


def _ols(y: pd.Series, x: pd.DataFrame, term: str) -> tuple[float, float, float, int]:
    fit = sm.OLS(y.astype(float), sm.add_constant(x, has_constant="add")).fit()
    low, high = fit.conf_int().loc[term]
    return float(fit.params[term]), float(low), float(high), int(fit.nobs)


def regression_to_the_mean(frame: pd.DataFrame, counts: pd.DataFrame, covariates: list[str],
                           references: dict[str, str] | None = None,
                           cv: float | None = None, cv_source: str = "") -> pd.DataFrame:
    """Does the CD4 change depend on the baseline level, once regression to the mean is
    accounted for? ``frame``: patients in a definition's denominator with ``baseline_cd4`` and
    ``assessed_cd4`` (cells/mm³); ``counts``: :func:`baseline_window_counts`. Slopes are per
    cell/mm³ of baseline, adjusted for ``covariates`` (OLS, statsmodels).

    Rows: the change-score slope (gain on baseline); the ANCOVA slope (follow-up on baseline;
    always the change-score slope + 1); the reliability of one baseline count,
    lambda = 1 - within-person variance / variance of the baseline counts, with the
    within-person variance pooled over patients with two or more counts in the baseline window
    and, given a published ``cv``, CV² E[X²] / (1 + CV²) (multiplicative error); for each
    lambda, the change-score slope regression to the mean alone would give if change did not
    depend on the true level (lambda - 1) and the slope corrected for measurement error
    (regression calibration: ANCOVA slope / lambda - 1); and, among patients with two or more
    baseline counts, the change-score slope on a single count and on the mean of counts."""
    data = frame.join(counts[["n_baseline_counts", "mean_baseline_cd4"]])
    data = data[data["baseline_cd4"].notna() & data["assessed_cd4"].notna()]
    used = [c for c in available(data, covariates) if c not in ("cd4_per100", "cd4_per50",
                                                                "sqrt_cd4", "baseline_cd4_band")]
    design = design_matrix(data, used, references).dropna()
    data = data.loc[design.index]
    gain = data["assessed_cd4"] - data["baseline_cd4"]
    x = design.assign(baseline=data["baseline_cd4"])
    if len(data) < x.shape[1] + MIN_RESIDUAL_DF:
        return pd.DataFrame([{
            "analysis": "change score: gain on baseline", "patients": len(data),
            "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
            "note": f"not estimable: {len(data)} patients with a baseline count and a count "
                    "at the assessment under this definition"}], columns=RTM_COLUMNS)
    change = _ols(gain, x, "baseline")
    ancova = _ols(data["assessed_cd4"], x, "baseline")

    def row(analysis, patients, est, low=np.nan, high=np.nan, note=""):
        return {"analysis": analysis, "patients": patients, "estimate": est, "ci_low": low,
                "ci_high": high, "note": note}

    rows = [row("change score: gain on baseline", change[3], *change[:3],
                "cells/mm³ of gain per cell/mm³ of baseline"),
            row("ANCOVA: follow-up count on baseline", ancova[3], *ancova[:3],
                "= change-score slope + 1; below 1 from regression to the mean, a true "
                "dependence, or both")]
    total = float(data["baseline_cd4"].var(ddof=1))
    variances = []
    ss = counts.loc[counts["n_baseline_counts"] >= 2]
    df = float((ss["n_baseline_counts"] - 1).sum())
    if df > 0:
        variances.append((float(ss["within_ss"].sum()) / df, len(ss),
                          "this cohort's patients with two or more baseline counts"))
    if cv is not None:
        variances.append((cv ** 2 * float((data["baseline_cd4"] ** 2).mean()) / (1 + cv ** 2),
                          len(data), f"published CV {100 * cv:g}% ({cv_source})"))
    for within, n, source in variances:
        lam = max(1 - within / total, np.finfo(float).eps)
        rows += [row(f"reliability of one baseline count (lambda), {source}", n, lam,
                     note=f"within-person SD {np.sqrt(within):.0f} cells/mm³"),
                 row(f"change-score slope from regression to the mean alone, {source}", n,
                     lam - 1, note="lambda - 1: what the change score shows if change does "
                                   "not depend on the true level"),
                 row(f"change-score slope corrected for measurement error, {source}",
                     ancova[3], ancova[0] / lam - 1, ancova[1] / lam - 1, ancova[2] / lam - 1,
                     "ANCOVA slope / lambda - 1 (regression calibration; the CI ignores the "
                     "uncertainty of lambda)")]
    multi = data["n_baseline_counts"] >= 2
    if multi.sum() >= 20:
        sub = x[multi.to_numpy()]
        single = _ols(gain[multi], sub, "baseline")
        averaged = _ols(data.loc[multi, "assessed_cd4"] - data.loc[multi, "mean_baseline_cd4"],
                        sub.assign(baseline=data.loc[multi, "mean_baseline_cd4"]), "baseline")
        rows += [row("change score, patients with 2+ baseline counts: single count", single[3],
                     *single[:3], "baseline = the count closest to T0"),
                 row("change score, patients with 2+ baseline counts: mean of counts",
                     averaged[3], *averaged[:3],
                     "baseline = mean of the window's counts (less measurement error)")]
    rows.append(row(OLDHAM, len(data), *oldham(data["baseline_cd4"], data["assessed_cd4"]),
                    "positive: patients at a higher true level gain more; free of regression "
                    "to the mean when both counts have equal variance (Oldham 1962), "
                    "unadjusted"))
    return pd.DataFrame(rows, columns=RTM_COLUMNS)


#: The name of Oldham's row in :func:`regression_to_the_mean`.
OLDHAM = "Oldham: correlation of the gain with the mean of baseline and follow-up"


def oldham(baseline: pd.Series, follow_up: pd.Series) -> tuple[float, float, float]:
    """Oldham's correlation (J Chronic Dis 1962;15:969-977) of the change with the mean of the
    two counts, with its Fisher-z 95% CI: unlike the change regressed on the baseline, it is
    not biased by regression to the mean (given equal variances), so a value off 0 means the
    change depends on the true level."""
    n = len(baseline)
    r = float(np.corrcoef(follow_up - baseline, (follow_up + baseline) / 2)[0, 1])
    half = Z95 / np.sqrt(n - 3)
    return r, float(np.tanh(np.arctanh(r) - half)), float(np.tanh(np.arctanh(r) + half))


def with_assessed(frame: pd.DataFrame, result: Classification, definition_id: str
                  ) -> pd.DataFrame:
    """``model_frame`` plus each patient's ``assessed_cd4`` under the definition."""
    assessed = pd.Series(result.results[definition_id].assessed_cd4, index=result.patients)
    return frame.assign(assessed_cd4=assessed.reindex(frame.index).to_numpy())


def baseline_terms(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of an odds-ratio table for the baseline CD4 terms."""
    return table[table["term"].astype(str).str.contains("cd4", case=False)]


def compare_definitions(models: dict[str, NonResponseModel]) -> pd.DataFrame:
    """The baseline CD4 terms of several fitted models, one block per definition (e.g. a
    gain-based and a level-based definition side by side)."""
    return pd.concat([baseline_terms(m.summary).assign(definition=name)
                      for name, m in models.items()], ignore_index=True) \
        .pipe(lambda t: t[["definition", *[c for c in t.columns if c != "definition"]]])


def regression_to_the_mean_sentence(table: pd.DataFrame) -> str:
    """What the :func:`regression_to_the_mean` table says, in one paragraph (numbers from
    the table; the published-CV reliability when there are several)."""
    rows = table.set_index("analysis")
    change = rows.loc["change score: gain on baseline"]
    if not np.isfinite(change["estimate"]):
        return f"Regression to the mean could not be examined ({change['note']})."
    alone = [a for a in rows.index if a.startswith("change-score slope from regression")]
    fixed = [a for a in rows.index if a.startswith("change-score slope corrected")]
    text = (f"The gain falls by {-change['estimate']:.2f} cells/mm³ per cell/mm³ of higher "
            f"baseline (95% CI {-change['ci_high']:.2f} to {-change['ci_low']:.2f})"
            if change["estimate"] < 0 else
            f"The gain rises by {change['estimate']:.2f} cells/mm³ per cell/mm³ of higher "
            f"baseline (95% CI {change['ci_low']:.2f} to {change['ci_high']:.2f})")
    if not alone:
        return text + "; with no estimate of the reliability of one count, regression to " \
                      "the mean cannot be separated from a true dependence."
    expected, corrected = rows.loc[alone[-1]], rows.loc[fixed[-1]]
    share = expected["estimate"] / change["estimate"] if change["estimate"] < 0 else np.nan
    text += (f". Regression to the mean alone would give {expected['estimate']:.2f} "
             f"({alone[-1].split(', ', 1)[1]})")
    if share == share:
        text += f", {min(share, 1):.0%} of the observed slope"
    text += (f"; corrected for measurement error the slope is {corrected['estimate']:.2f} "
             f"(95% CI {corrected['ci_low']:.2f} to {corrected['ci_high']:.2f}). A gain-based "
             "outcome therefore makes a higher measured baseline look like a risk factor "
             "partly or wholly because of measurement error; a level-based outcome does not have "
             "this artefact (its baseline odds ratio is attenuated by the same error, not "
             "reversed).")
    return text


def gain_vs_level(cohort, patients: pd.DataFrame, gain_result: Classification,
                  gain_id: str, level_definition, covariates: list[str],
                  references: dict[str, str] | None = None) -> pd.DataFrame:
    """The baseline CD4 terms of the same model under a gain-based definition (already
    classified) and a level-based one, side by side (:func:`compare_definitions`)."""
    level_result = classify(cohort, [level_definition])
    models = {name: NonResponseModel(covariates, references).fit(model_frame(res, name, patients))
              for name, res in ((gain_id, gain_result), (level_definition.id, level_result))}
    return compare_definitions(models)
