"""The coverage study's estimands and the package's estimators applied to one replicate
(:func:`replicate`); :mod:`immune_recovery.simcheck.coverage` runs, summarises and stores them.

Estimands and the estimators applied to each replicate:

``freq_*``
    Percent non-responders among suppressed, assessable patients under a catalogue
    definition (:data:`FREQUENCY_DEFINITIONS`; complete case, Wilson CI), and for
    :data:`LEVEL_DEFINITION` also by IPCW (``freq_ipcw_*``,
    :func:`~immune_recovery.dropout.ipcw_frequency`: among patients alive at the end of the
    window, the weight model with the last CD4 count and viral load before it). Truth: the
    percent whose latent CD4 meets the rule at month 12 among patients alive and truly
    suppressed at month 12.
``log_or_cd4_per100``, ``log_or_cd4_per100_simex``, ``log_or_age10``
    Log odds ratio of level-based non-response (:data:`LEVEL_DEFINITION`) per 100 cells/mm³
    of baseline CD4 and per 10 years of age, by
    :class:`~immune_recovery.riskfactors.NonResponseModel` (Wald CI): the measured count (what
    it predicts) and corrected for its measurement error by
    :func:`~immune_recovery.riskfactors.baseline_cd4_for_aetiology` (SIMEX) with the
    published CV (:data:`CV_ROW`). Truth:
    the same logistic model fitted to latent baseline CD4 and latent month-12 status.
``log_hr_inr_vs_cr``
    Log hazard ratio of a new AIDS-defining event or death, immunologic non-responders vs
    complete responders of :data:`LANDMARK_DEFINITION`, from the landmark at the end of its
    window (:func:`~immune_recovery.outcomes.landmark_by_definition`, Cox model). Truth: the
    same Cox model on the latent month-6 status and true event times, censored only at the
    end of the study (no loss to follow-up).
``slope_sqrt_cd4``
    Mean slope of the square root of CD4 per year between :data:`SLOPE_WINDOW_YEARS`, the
    fixed effect of a linear mixed model (random intercept and slope;
    :func:`~immune_recovery.trajectories.fit_mixed_model` under every optimiser, as the
    trajectory report fits it) on the counts in the window of a seeded sample of
    :data:`SLOPE_PATIENTS` patients. Truth: the
    mean over patients alive at the window's start of the latent slope between its ends.
``late_ci_*``
    Cumulative incidence of CD4 above :data:`LATE_THRESHOLD` by month :data:`LATE_MONTH`
    among early non-responders of :data:`LEVEL_DEFINITION`, death competing
    (:func:`~immune_recovery.lateresponse.late_response`, Aalen-Johansen): confirmed (entry on
    two counts at or below, a crossing on two above; the estimate) and on one count (the
    upper bound). Truth: among patients alive, truly suppressed and with latent CD4 at or
    below the threshold at month 12, the proportion whose latent CD4 exceeds it by the month,
    before death (monthly grid).

The model SE of an estimate whose interval is not symmetric on the reported scale (Wilson,
Aalen-Johansen, IPCW on the logit scale) is the interval's width / (2 x 1.96).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from ..baseline import patient_table
from ..classify import classify, nonresponder_flags
from ..cohort import Cohort
from ..conventions import Z95
from ..covariates import analysis_frame
from ..definitions import load_catalogue
from ..dropout import ipcw_frequency, rna_long
from ..intervals import wilson
from ..lateresponse import death_years, early_nonresponders, late_response, method_name
from ..outcomes import CoxModel, inr_vs_complete_landmark
from ..pinned import (
    FREQUENCY_DEFINITIONS,
    LANDMARK_DEFINITION,
    LATE_MONTH,
    LATE_THRESHOLD,
    LEVEL_DEFINITION,
)
from ..reference import published_cv
from ..results import ModelResult
from ..riskfactors import (
    AETIOLOGY_USES,
    NonResponseModel,
    baseline_cd4_for_aetiology,
    model_frame,
)
from ..simulate import simulate_cohort
from ..trajectories import cd4_long, fit_mixed_model, sample_patients

#: Window (years since T0) of the mixed-model slope, and patients sampled for it.
SLOPE_WINDOW_YEARS = (2.0, 5.0)
SLOPE_PATIENTS = 400
#: ``cd4_variability.csv`` row of the CV SIMEX corrects with (the simulator's own scale).
CV_ROW = "CV11"

REPLICATE_COLUMNS = ["patients", "replicate", "estimand", "estimate", "se", "ci_low",
                     "ci_high", "n", "error"]


@dataclasses.dataclass(frozen=True)
class Estimand:
    id: str
    label: str
    scale: str
    short: str  #: for the figure


ESTIMANDS = (
    *(Estimand(f"freq_{d}", f"Non-response frequency, {d}", "percent", f"Frequency, {d}")
      for d in FREQUENCY_DEFINITIONS),
    Estimand(f"freq_ipcw_{LEVEL_DEFINITION}", f"Non-response frequency, {LEVEL_DEFINITION}, "
             "IPCW (alive at the assessment; last CD4 and viral load in the weights)",
             "percent", f"Frequency, {LEVEL_DEFINITION}, IPCW"),
    Estimand("log_or_cd4_per100", "Log OR of non-response per 100 cells/mm³ baseline CD4 "
             f"({LEVEL_DEFINITION}), measured count (for prediction)", "log OR",
             "Log OR, baseline CD4 per 100, measured"),
    Estimand("log_or_cd4_per100_simex", "Log OR of non-response per 100 cells/mm³ baseline "
             f"CD4 ({LEVEL_DEFINITION}), corrected for measurement error (SIMEX; aetiology)",
             "log OR", "Log OR, baseline CD4 per 100, SIMEX"),
    Estimand("log_or_age10", f"Log OR of non-response per 10 years of age ({LEVEL_DEFINITION})",
             "log OR", "Log OR, age per 10 years"),
    Estimand("log_hr_inr_vs_cr", "Log HR of AIDS or death, non-responders vs complete "
             f"responders ({LANDMARK_DEFINITION}, landmark)", "log HR",
             "Log HR, non-responders vs complete"),
    Estimand("slope_sqrt_cd4", "Mean slope of sqrt CD4 per year, years "
             f"{SLOPE_WINDOW_YEARS[0]:g}-{SLOPE_WINDOW_YEARS[1]:g} (mixed model)",
             "sqrt(cells/mm³) per year",
             f"Slope of sqrt CD4, years {SLOPE_WINDOW_YEARS[0]:g}-{SLOPE_WINDOW_YEARS[1]:g}"),
    Estimand("late_ci_confirmed", f"Late response: CD4 > {LATE_THRESHOLD:g} by month "
             f"{LATE_MONTH}, confirmed entry and crossing on two counts (Aalen-Johansen)",
             "percent", f"Late response > {LATE_THRESHOLD:g}, confirmed"),
    Estimand("late_ci_one_count", f"Late response: CD4 > {LATE_THRESHOLD:g} by month "
             f"{LATE_MONTH}, one count (Aalen-Johansen; an upper bound)", "percent",
             f"Late response > {LATE_THRESHOLD:g}, one count (upper bound)"),
)
ESTIMAND_IDS = tuple(e.id for e in ESTIMANDS)


def replicate_seed(seed: int, index: int, n_patients: int | None = None) -> int:
    """The simulator seed of replicate ``index``: spawned from the study's seed
    (``SeedSequence(seed, spawn_key=(index,))``; for a cohort size of the size sweep,
    ``spawn_key=(n_patients, index)``), independent of how replicates are run."""
    key = (index,) if n_patients is None else (n_patients, index)
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1)[0])


def _row(estimand: str, estimate: float, ci_low: float, ci_high: float, n: int,
         se: float | None = None) -> dict:
    if se is None:
        se = (ci_high - ci_low) / (2 * Z95)
    return {"estimand": estimand, "estimate": estimate, "se": se, "ci_low": ci_low,
            "ci_high": ci_high, "n": n}


def _frequency_rows(result, frame: pd.DataFrame, long: pd.DataFrame, cohort) -> list[dict]:
    rows = []
    for definition in FREQUENCY_DEFINITIONS:
        denominator, numerator = nonresponder_flags(result, definition)
        n = int(denominator.sum())
        p, low, high = wilson(np.array([numerator[denominator].sum()]), np.array([n]))
        rows.append(_row(f"freq_{definition}", 100 * p[0], 100 * low[0], 100 * high[0], n))
    estimates = ipcw_frequency(result, LEVEL_DEFINITION, frame, long, rna=rna_long(cohort))[0]
    ipcw = estimates.set_index("method").loc["IPCW"]
    rows.append({**_row(f"freq_ipcw_{LEVEL_DEFINITION}", 100 * ipcw["proportion"],
                        100 * ipcw["ci_low"], 100 * ipcw["ci_high"], int(ipcw["n_assessable"])),
                 "error": ipcw["note"]})
    return rows


def _odds_ratio_rows(result, frame: pd.DataFrame) -> list[dict]:
    data = model_frame(result, LEVEL_DEFINITION, frame)
    model = NonResponseModel(["cd4_per100", "age10"]).fit(data)
    table = baseline_cd4_for_aetiology(data, ["age10"], published_cv(CV_ROW), CV_ROW)
    simex = table.set_index("use").loc[AETIOLOGY_USES[1]]
    estimate, low, high = np.log(simex[["estimate", "ci_low", "ci_high"]].astype(float))
    corrected = {**_row("log_or_cd4_per100_simex", estimate, low, high, int(simex["n"])),
                 "error": "" if np.isfinite(low) else simex["note"]}
    return [_coefficient_row("log_or_cd4_per100", model, "cd4_per100"), corrected,
            _coefficient_row("log_or_age10", model, "age10")]


def _coefficient_row(estimand: str, model: ModelResult, term: str) -> dict:
    """One estimand from a model's coefficient on its own scale (the results protocol)."""
    c = model.coefficients().loc[term]
    return _row(estimand, float(c["coef"]), float(c["coef_ci_low"]), float(c["coef_ci_high"]),
                model.n_, se=float(c["se"]))


def _hazard_ratio_row(cohort, frame: pd.DataFrame, result) -> dict:
    data = inr_vs_complete_landmark(cohort, frame, result, LANDMARK_DEFINITION)
    model = CoxModel(["inr"], model="unadjusted").fit(data)
    c = model.coefficients().loc["inr"]
    return _row("log_hr_inr_vs_cr", float(c["coef"]), float(c["coef_ci_low"]),
                float(c["coef_ci_high"]), len(data), se=float(c["se"]))


def _slope_row(long: pd.DataFrame, seed: int) -> dict:
    start, stop = SLOPE_WINDOW_YEARS
    data = long[(long["years"] >= start) & (long["years"] <= stop)]
    counts = data.groupby("PATIENT")["years"].transform("size")
    data = sample_patients(data[counts >= 2], SLOPE_PATIENTS, seed=seed)
    data = data.assign(years=data["years"] - start)
    # the trajectory report's estimator: every optimiser, the converged fit of highest
    # likelihood (L-BFGS alone can stop far from the optimum and still report convergence)
    fit = fit_mixed_model(data, "sqrt_cd4 ~ years", "~years")
    return _coefficient_row("slope_sqrt_cd4", fit, "years")


def _late_rows(long: pd.DataFrame, frame: pd.DataFrame, result) -> list[dict]:
    early = early_nonresponders(result, LEVEL_DEFINITION)
    table = late_response(long, early, death_years(frame), [LATE_THRESHOLD], [LATE_MONTH],
                          confirm=2, kaplan_meier=False).set_index("method")
    rows = []
    for estimand, confirm in (("late_ci_confirmed", 2), ("late_ci_one_count", 1)):
        row = table.loc[method_name(confirm)]
        rows.append({**_row(estimand, 100 * row["cumulative_incidence"], 100 * row["ci_low"],
                            100 * row["ci_high"], int(row["n_start"])),
                     "error": row["note"]})  # a curve that cannot be estimated: NaN
    return rows


def replicate(index: int, seed: int, n_patients: int, sweep: bool = False) -> pd.DataFrame:
    """Simulate replicate ``index`` (of the size sweep when ``sweep``) and estimate every
    estimand on it (one row each, :data:`REPLICATE_COLUMNS`). Where an estimate cannot be made
    on a replicate (a late-response curve that is not estimable, see
    :data:`~immune_recovery.lateresponse.NOT_ESTIMABLE`; a weight model that does not fit),
    it is NaN and ``error`` says why; the summary counts these. Any other failure stops the
    study."""
    own_seed = replicate_seed(seed, index, n_patients if sweep else None)
    sim = simulate_cohort(n_patients, own_seed)
    cohort = Cohort.from_tables(sim.tables, name=f"replicate-{index}")
    catalogue = load_catalogue()
    wanted = dict.fromkeys((*FREQUENCY_DEFINITIONS, LEVEL_DEFINITION, LANDMARK_DEFINITION))
    result = classify(cohort, [catalogue[d] for d in wanted])
    frame = analysis_frame(patient_table(cohort))
    long = cd4_long(cohort, frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is judged by the coverage, not per fit
        rows = [*_frequency_rows(result, frame, long, cohort), *_odds_ratio_rows(result, frame),
                _hazard_ratio_row(cohort, frame, result), _slope_row(long, own_seed % 2**31),
                *_late_rows(long, frame, result)]
    out = pd.DataFrame(rows).reindex(columns=REPLICATE_COLUMNS[2:])
    out["error"] = out["error"].fillna("")
    out.loc[out["error"] != "", ["estimate", "se", "ci_low", "ci_high"]] = np.nan
    out.insert(0, "replicate", index)
    out.insert(0, "patients", n_patients)
    return out[REPLICATE_COLUMNS]
