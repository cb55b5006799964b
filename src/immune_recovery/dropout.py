"""Drop-out: what death and loss to follow-up do to frequencies and trajectories.

Frequency (inverse probability of censoring weights)
----------------------------------------------------
Complete-case frequencies use only patients whose response could be judged; a patient who
died or was lost before the assessment window, or missed it, is silently dropped. If those
patients would more often have been non-responders (low CD4 before they left), the
complete-case proportion is too low. The estimand is the proportion among patients **alive at
the end of the assessment window**: a patient who died before it is outside the population the
frequency is about, not missing (treating deaths as missing answers a question about a
population in which nobody dies). IPCW reweights the assessed patients by the inverse of
their probability of being assessed among those alive, modelled (statsmodels logistic
regression) on baseline covariates and on the time-updated values before the assessment
window: the last CD4 count and the last viral load (for a patient who left, the last before
leaving; missingness in this simulator and in cohorts depends on viraemia). Weights are
stabilized (marginal probability of assessment in
the numerator); the weighted proportion's CI uses the robust (sandwich, HC0) variance of an
intercept-only weighted binomial GLM, which treats the weights as known (usually slightly
conservative). Valid under "missing at random given these covariates"; it cannot correct for
drop-out that depends on the unmeasured count itself.

Trajectories
------------
The linear mixed model is valid when drop-out depends only on observed counts (MAR). Two
sensitivity analyses for drop-out driven by the (unobserved) trajectory:

* **pattern-mixture**: the mixed model with the slope varying by drop-out pattern (time of the
  last count, death), and the marginal slope as the pattern-weighted average (delta-method SE);
* **two-stage joint model**: the patient's fitted trajectory (fixed effects + BLUPs of the
  mixed model) as the current value of a time-varying covariate in a Cox model for death
  (statsmodels PHReg), compared with the last-observation-carried-forward Cox model and with a
  published shared-parameter joint model (R ``JM``). Two-stage estimates are known to be biased
  towards the null (the BLUPs are shrunken and their uncertainty ignored; the longitudinal
  fit itself ignores drop-out); LOCF is diluted by measurement error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from patsy import build_design_matrices, dmatrix
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from .baseline import patient_table
from .classify import REASONS, Classification, nonresponder_flags
from .conventions import DAYS_PER_YEAR, Z95
from .covariates import analysis_frame
from .estimable import separated, too_few_events
from .exceptions import ConvergenceWarning
from .outcomes import time_varying_cox, time_varying_data
from .runs import ends_run
from .trajectories import cd4_long, fit_mixed_model

#: Reasons that mean "not assessable for a reason drop-out cannot explain": left out of IPCW.
NOT_DROPOUT = ("no_baseline_cd4", "zero_baseline", "rna_limit_above_cutoff")
#: Candidate covariates of the assessment model (those the cohort has and that vary are used).
IPCW_COVARIATES = ("sqrt_cd4", "last_sqrt_cd4", "last_log10_rna", "age10", "female",
                   "prior_aids", "log10_rna")
#: Missing values of a covariate below which no missing indicator enters the weight model (the
#: project's choice: an indicator for a handful of patients separates the model).
MIN_MISSING_FOR_INDICATOR = 10
#: ``why_missing`` of a patient who died before the window ended: outside the estimand.
DIED = "died before the window ended (outside the estimand: alive at the assessment)"


def rna_long(cohort) -> pd.DataFrame:
    """Viral loads one row each: ``PATIENT``, ``days`` since T0, ``log10_rna`` (log10
    copies/mL; a value coded below the limit, HICDEP's negative ``RNA_V``, at its limit)."""
    rna = cohort.rna if cohort.has_rna else pd.DataFrame()
    if rna.empty:
        return pd.DataFrame({"PATIENT": [], "years": [], "log10_rna": []})
    code = cohort.codes("tblLAB_RNA")
    t0 = cohort.time_origin["t0"].to_numpy()[code]
    days = (rna["RNA_D"].to_numpy() - t0) / np.timedelta64(1, "D")
    value = np.abs(pd.to_numeric(rna["RNA_V"], errors="coerce").to_numpy(dtype=float))
    return pd.DataFrame({"PATIENT": cohort.patients.to_numpy()[code],
                         "years": days / DAYS_PER_YEAR,
                         "log10_rna": np.log10(np.maximum(value, 1.0))}).dropna()


def last_value_before(long: pd.DataFrame, column: str, patients: pd.Index,
                      before_years: float) -> pd.Series:
    """Each patient's last ``column`` of ``long`` (``PATIENT``, ``years``) dated after T0 and
    before ``before_years`` (NaN if none), indexed by ``patients``."""
    years = long["years"].to_numpy()
    keep = np.flatnonzero((years > 0) & (years < before_years) & long[column].notna().to_numpy())
    code, ids = pd.factorize(long["PATIENT"].to_numpy()[keep])
    # the last row by patient and time (ties: the last in ``long``), as a stable sort of
    # (PATIENT, years) then groupby-last gives: the values kept are never missing
    order = np.lexsort((years[keep], code))
    last = order[ends_run(code[order])]
    values = long[column].to_numpy()[keep][last]
    return pd.Series(values, index=pd.Index(ids[code[last]], name="PATIENT"),
                     name=column).reindex(patients)


def assessment_frame(result: Classification, definition_id: str, patients: pd.DataFrame,
                     long: pd.DataFrame, rna: pd.DataFrame | None = None) -> pd.DataFrame:
    """Patients who could have been assessed (a baseline count; not excluded for a reason
    drop-out cannot explain), with ``assessed`` (0/1), ``in_denominator``, ``nonresponder``,
    ``why_missing`` (:data:`DIED` / lost to follow-up before the window ended / in follow-up
    but no qualifying count or viral load) and the covariates of the assessment model
    (``last_log10_rna`` from ``rna``, :func:`rna_long`, when given)."""
    res = result.results[definition_id]
    definition = res.definition
    denominator, numerator = nonresponder_flags(result, definition_id)
    reason = pd.Categorical.from_codes(res.reason, categories=REASONS)
    frame = patients.reindex(result.patients).copy()
    frame["reason"] = np.asarray(reason)
    frame["assessed"] = (res.reason == 0).astype(int)
    frame["in_denominator"] = denominator
    frame["nonresponder"] = numerator.astype(int)
    window_end = frame["t0"] + pd.to_timedelta(definition.target_days + definition.window_days,
                                               unit="D")
    died = frame["death_date"].notna() & (frame["death_date"] <= window_end)
    lost = ~died & (frame["followup_end"] < window_end)
    frame["why_missing"] = np.select(
        [frame["assessed"] == 1, died, lost], ["assessed", DIED,
                                              "lost to follow-up before the window ended"],
        "in follow-up, no qualifying count or viral load")
    window_start = (definition.target_days - definition.window_days) / DAYS_PER_YEAR
    frame["last_sqrt_cd4"] = np.sqrt(last_value_before(long, "cd4", frame.index, window_start)
                                     .fillna(frame["baseline_cd4"]))
    if rna is not None:
        frame["last_log10_rna"] = last_value_before(rna, "log10_rna", frame.index, window_start)
    frame["sqrt_cd4"] = np.sqrt(frame["baseline_cd4"])
    keep = ~frame["reason"].isin(NOT_DROPOUT)
    return frame[keep]


def _model_columns(frame: pd.DataFrame, covariates: tuple[str, ...]) -> tuple[pd.DataFrame,
                                                                              list[str]]:
    """Covariates that vary and are not collinear with the ones before them, missing values
    set to the median, with a missing indicator where at least
    :data:`MIN_MISSING_FOR_INDICATOR` are missing."""
    data = pd.DataFrame(index=frame.index)
    used = []
    for name in covariates:
        if name not in frame:
            continue
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        if values.dropna().nunique() < 2:
            continue
        if values.isna().sum() >= MIN_MISSING_FOR_INDICATOR:
            data[f"{name}_missing"] = values.isna().astype(float)
            used.append(f"{name}_missing")
        values = values.fillna(values.median())
        candidate = data.assign(**{name: values})
        matrix = np.column_stack([np.ones(len(candidate)), candidate.to_numpy(dtype=float)])
        if np.linalg.matrix_rank(matrix) < matrix.shape[1]:
            continue  # collinear with terms already in (e.g. no count before the window)
        data[name] = values
        used.append(name)
    return data, used


def ipcw_weights(frame: pd.DataFrame, covariates: tuple[str, ...] = IPCW_COVARIATES
                 ) -> pd.Series:
    """Stabilized inverse-probability-of-assessment weights for the assessed patients of
    :func:`assessment_frame` (P(assessed) / P(assessed | covariates), logistic model).
    ``attrs["covariates"]`` lists the model's terms."""
    data, used = _model_columns(frame, covariates)
    data["assessed"] = frame["assessed"].to_numpy()
    formula = "assessed ~ " + (" + ".join(used) if used else "1")
    note = too_few_events(int(min(data["assessed"].sum(), (1 - data["assessed"]).sum())),
                          len(used) + 1, "patients in the rarer of assessed / not assessed")
    if note is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-convergence and separation: judged here
            try:
                fit = smf.logit(formula, data).fit(disp=0, maxiter=200)
            except (np.linalg.LinAlgError, PerfectSeparationError) as err:
                note = f"not estimable: {err}"
        if note is None:
            note = ("not estimable: the weights model did not converge"
                    if not fit.mle_retvals.get("converged", True)
                    else separated(fit.params.drop("Intercept"), fit.bse.drop("Intercept")))
    if note is None:
        p = fit.predict(data)
        weights = (frame["assessed"].mean() / p)[frame["assessed"] == 1]
    else:  # IPCW not estimable: the row says why
        weights = pd.Series(np.nan, index=frame.index[frame["assessed"] == 1])
    weights.attrs["covariates"] = used
    weights.attrs["note"] = note or ""
    return weights


def ipcw_tables(cohort, result: Classification, definition_ids: list[str],
                covariates: tuple[str, ...] = IPCW_COVARIATES
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`ipcw_frequency` for several definitions of one classified cohort, stacked."""
    patients = analysis_frame(patient_table(cohort))
    long = cd4_long(cohort, patients)
    rna = rna_long(cohort)
    parts = [ipcw_frequency(result, d, patients, long, covariates, rna) for d in definition_ids]
    return tuple(pd.concat([p[i] for p in parts], ignore_index=True) for i in range(3))


#: What each frequency estimate assumes about the patients alive but not assessed.
ASSUMPTIONS = {
    "complete case": "missing completely at random: the unassessed alive patients are like "
                     "the assessed",
    "IPCW": "missing at random given the weight model's covariates (baseline and the last CD4 "
            "count and viral load before the window)",
}


def weighted_proportion(y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Weighted proportion with a robust (HC0) 95% CI on the logit scale (statsmodels GLM)."""
    y = np.asarray(y, float)
    w = np.asarray(w, float)
    fit = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(),
                 var_weights=w).fit(cov_type="HC0")
    b, se = float(fit.params[0]), float(fit.bse[0])

    def expit(x: float) -> float:
        return float(1 / (1 + np.exp(-x)))

    return expit(b), expit(b - Z95 * se), expit(b + Z95 * se)


def ipcw_frequency(result: Classification, definition_id: str, patients: pd.DataFrame,
                   long: pd.DataFrame, covariates: tuple[str, ...] = IPCW_COVARIATES,
                   rna: pd.DataFrame | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Complete-case and IPCW frequency of one definition among patients alive at the end of
    its window (deaths before it are outside the estimand, not missing).

    Returns (estimates, who was missing and why, weight distribution). Estimates: ``method``,
    ``n_assessable`` (patients in the denominator), ``n_nonresponders``, ``effective_n``
    (Kish), ``proportion``, ``ci_low``, ``ci_high``, ``covariates``, ``assumption``."""
    frame = assessment_frame(result, definition_id, patients, long, rna)
    weights = ipcw_weights(frame[frame["why_missing"] != DIED], covariates)
    den = frame.loc[weights.index, "in_denominator"].to_numpy()
    y = frame.loc[weights.index, "nonresponder"].to_numpy()[den]
    w = weights.to_numpy()[den]
    rows = []
    for method, ww in (("complete case", np.ones_like(w)), ("IPCW", w)):
        estimable = bool(y.size) and bool(np.isfinite(ww).all())
        p, lo, hi = weighted_proportion(y, ww) if estimable else (np.nan,) * 3
        rows.append({"definition": definition_id, "method": method, "n_assessable": int(y.size),
                     "n_nonresponders": int(y.sum()),
                     "effective_n": float(ww.sum() ** 2 / (ww ** 2).sum()) if estimable
                     else 0.0,
                     "proportion": p, "ci_low": lo, "ci_high": hi,
                     "covariates": ", ".join(weights.attrs["covariates"]),
                     "assumption": ASSUMPTIONS[method],
                     "note": weights.attrs["note"] if method == "IPCW" else ""})
    missing = frame["why_missing"].value_counts().rename_axis("status").rename("patients") \
        .reset_index()
    missing.insert(0, "definition", definition_id)
    # no patient assessed (or the weights not estimable): no spread to show
    q = np.quantile(weights, [0, 0.01, 0.25, 0.5, 0.75, 0.99, 1]) \
        if len(weights) and weights.notna().all() else np.full(7, np.nan)
    spread = pd.DataFrame([{"definition": definition_id, "n": len(weights),
                            "mean": float(weights.mean()), "min": q[0], "p01": q[1],
                            "p25": q[2], "median": q[3], "p75": q[4], "p99": q[5],
                            "max": q[6]}])
    return pd.DataFrame(rows), missing, spread


# --------------------------------------------------------------------------------------
# Trajectories: pattern-mixture and two-stage joint model
# --------------------------------------------------------------------------------------


def dropout_pattern(long: pd.DataFrame, patients: pd.DataFrame, cuts_years: list[float]
                    ) -> pd.Series:
    """Per patient, the drop-out pattern: ``died`` or the interval of the last count's time
    (``last <= c1``, ``c1-c2``, ..., ``> ck`` years), indexed by patient."""
    last = long.groupby("PATIENT")["years"].max()
    edges = [-np.inf, *cuts_years, np.inf]
    labels = [f"last count <= {cuts_years[0]:g} y"] + \
        [f"last count {a:g}-{b:g} y" for a, b in zip(cuts_years[:-1], cuts_years[1:])] + \
        [f"last count > {cuts_years[-1]:g} y"]
    pattern = pd.cut(last, edges, labels=labels).astype(str)
    died = patients["death_date"].notna().reindex(last.index).fillna(False)
    return pattern.where(~died.to_numpy(), "died")


def pattern_mixture_slope(data: pd.DataFrame, time: str, pattern: pd.Series,
                          re_formula: str | None = None) -> pd.DataFrame:
    """Mixed model ``sqrt_cd4 ~ time * C(pattern)`` (random intercept and slope) and the
    marginal slope averaged over patterns with their observed shares (delta-method SE).

    Rows: each pattern's slope and the pattern-weighted marginal slope, on the square-root
    scale per unit of ``time``; ``patients`` per pattern."""
    frame = data.assign(pattern=data["PATIENT"].map(pattern).to_numpy())
    levels = sorted(frame["pattern"].unique())
    shares = frame.drop_duplicates("PATIENT")["pattern"].value_counts().reindex(levels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            fit = fit_mixed_model(frame, f"sqrt_cd4 ~ {time} * C(pattern, levels={levels!r})",
                                  re_formula or f"~{time}").best
        except ConvergenceWarning as err:  # a small site: the row says why
            return pd.DataFrame([{"pattern": level, "patients": int(shares[level]),
                                  "slope": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                                  "note": f"not estimable: {err}"} for level in levels])
    names = list(fit.fe_params.index)
    cov = fit.cov_params().loc[names, names].to_numpy()
    rows, gradient = [], np.zeros(len(names))
    for level in levels:
        g = np.zeros(len(names))
        g[names.index(time)] = 1
        term = [n for n in names if n.startswith(f"{time}:") and n.endswith(f"[T.{level}]")]
        if term:
            g[names.index(term[0])] = 1
        est, se = float(g @ fit.fe_params.to_numpy()), float(np.sqrt(g @ cov @ g))
        rows.append({"pattern": level, "patients": int(shares[level]), "slope": est,
                     "ci_low": est - Z95 * se, "ci_high": est + Z95 * se})
        gradient += g * shares[level] / shares.sum()
    est, se = float(gradient @ fit.fe_params.to_numpy()), float(np.sqrt(gradient @ cov @ gradient))
    rows.append({"pattern": "pattern-weighted (marginal)", "patients": int(shares.sum()),
                 "slope": est, "ci_low": est - Z95 * se, "ci_high": est + Z95 * se})
    return pd.DataFrame(rows)


def fitted_trajectory(mixed, data: pd.DataFrame, grid: pd.DataFrame, time: str
                      ) -> np.ndarray:
    """Subject-specific fitted sqrt CD4 (fixed effects + BLUPs of a ``MixedModelFit``) at the
    rows of ``grid`` (``PATIENT``, ``time`` and the fixed-effect covariates)."""
    fit = mixed.best
    rhs = mixed.formula.split("~", 1)[1]
    info = dmatrix(rhs, data, return_type="dataframe").design_info
    (fixed,) = build_design_matrices([info], grid, return_type="dataframe")
    value = fixed.to_numpy() @ fit.fe_params.to_numpy()
    blups = pd.DataFrame(fit.random_effects).T  # patients x random terms
    blups = blups.reindex(grid["PATIENT"].to_numpy()).fillna(0.0).to_numpy()
    random_design = np.ones((len(grid), blups.shape[1]))
    if blups.shape[1] > 1:
        random_design[:, 1] = grid[time].to_numpy()
    return value + (random_design * blups).sum(axis=1)


def two_stage_death(mixed, data: pd.DataFrame, patients: pd.DataFrame, time: str,
                    time_per_year: float, step: float, adjust: list[str],
                    references: dict[str, str] | None = None) -> pd.DataFrame:
    """Cox model of death on the current fitted sqrt CD4 (two-stage joint model).

    Follow-up from T0 to death or the end of follow-up (in units of ``time``:
    ``time_per_year`` units per year) is split into intervals of ``step``; each carries the
    fitted value at its midpoint. Returns the tidy rows of
    :func:`~immune_recovery.outcomes.time_varying_cox`."""
    ids = pd.Index(data["PATIENT"].unique())
    p = patients.reindex(ids)
    end = (p["death_date"].fillna(p["followup_end"]) - p["t0"]).dt.days / DAYS_PER_YEAR
    end = (end * time_per_year).clip(lower=0).to_numpy()
    n_steps = np.ceil(end / step).astype(int)
    keep = n_steps > 0
    pid = np.repeat(ids.to_numpy()[keep], n_steps[keep])
    k = np.concatenate([np.arange(m) for m in n_steps[keep]]) if keep.any() else np.array([])
    start = k * step
    stop = np.minimum(start + step, np.repeat(end[keep], n_steps[keep]))
    died = np.repeat(p["death_date"].notna().to_numpy()[keep], n_steps[keep])
    last = ends_run(pid)
    grid = pd.DataFrame({"PATIENT": pid, "start": start, "stop": stop,
                         "event": (died & last).astype(int)})
    grid[time] = (start + stop) / 2
    for column in set(data.columns) - {"PATIENT", time, "sqrt_cd4", "cd4", "years", "months"}:
        grid[column] = grid["PATIENT"].map(data.drop_duplicates("PATIENT")
                                           .set_index("PATIENT")[column]).to_numpy()
    grid["fitted_sqrt_cd4"] = fitted_trajectory(mixed, data, grid, time)
    return time_varying_cox(grid[grid["stop"] > grid["start"]], ["fitted_sqrt_cd4", *adjust],
                            "two-stage (fitted sqrt CD4)", patients, references)


def association_comparison(mixed, data: pd.DataFrame, cohort, patients: pd.DataFrame,
                           time: str, time_per_year: float, step: float, adjust: list[str],
                           references: dict[str, str] | None = None,
                           published: float | None = None, published_source: str = ""
                           ) -> pd.DataFrame:
    """Log hazard ratio of death per unit of sqrt CD4 by three methods: last observation
    carried forward (time-varying Cox on the measured counts), two-stage (fitted trajectory)
    and, if given, a published joint model. Columns: ``method``, ``log_hr``, ``ci_low``,
    ``ci_high`` (log scale), ``hr``, ``events``, ``source``."""
    locf = time_varying_cox(time_varying_data(cohort, patients, event="death"),
                            ["current_sqrt_cd4", *adjust], "LOCF", patients, references)
    two = two_stage_death(mixed, data, patients, time, time_per_year, step, adjust, references)
    rows = []
    for method, table, source in (
            ("last observed count (time-varying Cox)", locf, "this cohort"),
            ("two-stage: fitted trajectory from the mixed model", two, "this cohort")):
        r = table.iloc[0]
        rows.append({"method": method, "log_hr": float(np.log(r["estimate"])),
                     "ci_low": float(np.log(r["ci_low"])), "ci_high": float(np.log(r["ci_high"])),
                     "hr": float(r["estimate"]), "events": int(r["events"]), "source": source})
    if published is not None:
        rows.append({"method": "shared-parameter joint model (published)", "log_hr": published,
                     "ci_low": np.nan, "ci_high": np.nan, "hr": float(np.exp(published)),
                     "events": np.nan, "source": published_source})
    return pd.DataFrame(rows)
