"""The pinned analyses a site runs for a consortium: one row per estimate on its analysis scale.

Every site of a consortium runs these same analyses (their definitions fixed by the package
version and the definitions' hash in the bundle's manifest), so that the pooled estimates
combine like with like. Each row is an estimate with its SE on the scale it is pooled on
(:data:`~immune_recovery.meta.SCALES`):

``frequency``
    Non-response under each definition (catalogue and user file), overall and by baseline CD4
    band: logit of non-responders / assessable patients, variance 1/x + 1/(n - x)
    (:func:`~immune_recovery.meta.logit_proportion`).
``risk_factors``
    Log odds ratios of non-response under :data:`LEVEL_DEFINITION` per 100 cells/mm³ of
    baseline CD4, per 10 years of age and for women (:class:`~immune_recovery.riskfactors.
    NonResponseModel`), with their covariance matrix (for a multivariate pooling).
``outcome_hr``
    Log hazard ratio of a new AIDS-defining event or death, immunologic non-responders vs
    complete responders of :data:`LANDMARK_DEFINITION` from its landmark (Cox model).
``late_response``
    Logit of the cumulative incidence of CD4 above :data:`LATE_THRESHOLD` by month
    :data:`LATE_MONTH` among early non-responders of :data:`LEVEL_DEFINITION`, confirmed entry
    and crossing, death competing (Aalen-Johansen; the SE from its CI by the delta method).

Counts (``n``, ``events``) come with each row; whether a row may leave the site is decided by
:mod:`.bundle`, not here (the estimates are the analysis's, never altered).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..baseline import patient_table
from ..classify import Classification, classify
from ..cohort import Cohort
from ..conventions import DAYS_PER_YEAR, Z95
from ..covariates import analysis_frame
from ..definitions import Definition
from ..frequency import frequency_table, strata_from
from ..lateresponse import death_years, early_nonresponders, late_response, method_name
from ..meta import logit_proportion
from ..outcomes import CoxModel, inr_vs_complete_landmark
from ..pinned import (
    LANDMARK_DEFINITION,
    LATE_MONTH,
    LATE_THRESHOLD,
    LEVEL_DEFINITION,
)
from ..riskfactors import NonResponseModel, model_frame
from ..trajectories import cd4_long

#: Covariates of the pinned risk-factor model (baseline; see :mod:`immune_recovery.covariates`).
RISK_FACTORS = ("cd4_per100", "age10", "female")
#: The stratifying column of the frequency rows.
STRATUM = "baseline_cd4_band"
ESTIMATE_COLUMNS = ["estimand", "definition", "stratum", "term", "scale", "estimate", "se",
                    "n", "events", "smallest_cell", "status"]
COVARIANCE_COLUMNS = ["estimand", "definition", "term", "term_other", "covariance"]
#: What each estimand's row means, for the bundle summary and the pooled report.
ESTIMANDS = {
    "frequency": "non-response, percent of assessable patients",
    "risk_factors": f"odds ratio of non-response ({LEVEL_DEFINITION})",
    "outcome_hr": "hazard ratio of AIDS or death, non-responders vs complete responders "
                  f"({LANDMARK_DEFINITION}, landmark)",
    "late_response": f"CD4 > {LATE_THRESHOLD:g} by month {LATE_MONTH} among early "
                     f"non-responders ({LEVEL_DEFINITION}), confirmed, death competing",
}
OK = "ok"


def site_analyses(cohort: Cohort, definitions: list[Definition]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The pinned analyses of one cohort: (estimates, covariances, cohort-level covariates).

    ``estimates`` has :data:`ESTIMATE_COLUMNS` (``smallest_cell``: the smallest non-zero count
    the row's estimate reveals, :func:`smallest_cell`, for the disclosure rules); ``covariances`` the covariance
    matrices of the multi-parameter models (:data:`COVARIANCE_COLUMNS`); the covariates are
    the cohort's size, median baseline CD4 and median year of ART start (for meta-regression
    across cohorts).
    """
    wanted = {d.id: d for d in definitions}
    result = classify(cohort, list(wanted.values()))
    frame = analysis_frame(patient_table(cohort))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is judged per model, in its status
        rows = [*_frequency_rows(result, frame)]
        model_rows, covariance = _risk_factor_rows(result, frame)
        rows += [*model_rows, _hazard_ratio_row(cohort, frame, result),
                 _late_response_row(cohort, frame, result)]
    estimates = pd.DataFrame(rows).reindex(columns=ESTIMATE_COLUMNS)
    return estimates, covariance, cohort_covariates(cohort, frame)


def cohort_covariates(cohort: Cohort, frame: pd.DataFrame) -> dict:
    """Cohort-level moderators: patients, median baseline CD4 (cells/mm³, whole number) and
    median calendar year of ART start (one decimal)."""
    t0 = pd.to_datetime(cohort.time_origin["t0"])
    year = t0.dt.year + (t0.dt.dayofyear - 1) / DAYS_PER_YEAR
    return {"patients": int(cohort.n_patients),
            "median_baseline_cd4": float(np.round(frame["baseline_cd4"].median())),
            "median_art_year": float(np.round(year.median(), 1))}


def smallest_cell(*counts: int) -> int:
    """The smallest count other than 0 among ``counts`` (0 when all are 0): what the minimum
    cell rule judges (a count of 0 is shown, one of 1 to k - 1 is not)."""
    positive = [int(c) for c in counts if c > 0]
    return min(positive) if positive else 0


def _frequency_rows(result: Classification, frame: pd.DataFrame) -> list[dict]:
    table = frequency_table(result, "site", strata_from(frame, [STRATUM]))
    x, n = table["n_nonresponders"].to_numpy(float), table["n_assessable"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        y, v = logit_proportion(x, n)
    rows = []
    for row, yi, vi in zip(table.itertuples(index=False), y, v, strict=True):
        assessable = row.n_assessable > 0
        rows.append({"estimand": "frequency", "definition": row.definition,
                     "stratum": row.stratum, "term": "proportion", "scale": "logit",
                     "estimate": yi if assessable else np.nan,
                     "se": np.sqrt(vi) if assessable else np.nan, "n": row.n_assessable,
                     "events": row.n_nonresponders,
                     "smallest_cell": smallest_cell(row.n_assessable, row.n_nonresponders,
                                                    row.n_assessable - row.n_nonresponders),
                     "status": OK if assessable else "not estimable: no assessable patient"})
    return rows


def _risk_factor_rows(result: Classification, frame: pd.DataFrame
                      ) -> tuple[list[dict], pd.DataFrame]:
    data = model_frame(result, LEVEL_DEFINITION, frame)
    model = NonResponseModel(list(RISK_FACTORS)).fit(data)
    coefficients = model.coefficients()
    smallest = smallest_cell(model.n_, model.events_, model.n_ - model.events_)
    status = model.not_estimable_ or OK
    rows = [{"estimand": "risk_factors", "definition": LEVEL_DEFINITION, "stratum": "overall",
             "term": term, "scale": "log", "estimate": c["coef"], "se": c["se"],
             "n": model.n_, "events": model.events_, "smallest_cell": smallest,
             "status": status} for term, c in coefficients.iterrows()]
    covariance = pd.DataFrame(columns=COVARIANCE_COLUMNS)
    if status == OK:
        matrix = model.result_.cov_params().drop(index="const", columns="const")
        covariance = matrix.stack().rename_axis(["term", "term_other"]) \
            .rename("covariance").reset_index() \
            .assign(estimand="risk_factors", definition=LEVEL_DEFINITION)[COVARIANCE_COLUMNS]
    return rows, covariance


def _hazard_ratio_row(cohort: Cohort, frame: pd.DataFrame, result: Classification) -> dict:
    data = inr_vs_complete_landmark(cohort, frame, result, LANDMARK_DEFINITION)
    model = CoxModel(["inr"], model="unadjusted").fit(data)
    c = model.coefficients().loc["inr"]
    used = model.frame_
    cells = [int(len(used)), *(int(used.loc[used["inr"] == g, "event"].sum()) for g in (0, 1)),
             *(int((used["inr"] == g).sum()) for g in (0, 1))]
    return {"estimand": "outcome_hr", "definition": LANDMARK_DEFINITION, "stratum": "overall",
            "term": "inr_vs_complete", "scale": "log", "estimate": c["coef"], "se": c["se"],
            "n": model.n_, "events": model.events_, "smallest_cell": smallest_cell(*cells),
            "status": model.not_estimable_ or OK}


def _late_response_row(cohort: Cohort, frame: pd.DataFrame, result: Classification) -> dict:
    early = early_nonresponders(result, LEVEL_DEFINITION)
    long = cd4_long(cohort, frame)
    table = late_response(long, early, death_years(frame), [LATE_THRESHOLD], [LATE_MONTH],
                          kaplan_meier=False).set_index("method")
    # the crossing confirmed on two counts; entry too where the cohort has the counts for it
    methods = [m for m in (method_name(2), method_name(2, entry_confirmed=False))
               if m in table.index]
    if not methods:
        return {"estimand": "late_response", "definition": LEVEL_DEFINITION,
                "stratum": "overall", "term": f"above {LATE_THRESHOLD:g} by month {LATE_MONTH}",
                "scale": "logit", "estimate": np.nan, "se": np.nan, "n": 0, "events": 0,
                "smallest_cell": 0, "status": "not estimable: no early non-responder"}
    row = table.loc[methods[0]]
    p, low, high = (float(row[c]) for c in ("cumulative_incidence", "ci_low", "ci_high"))
    estimable = np.isfinite(p) and 0 < p < 1
    se_p = (high - low) / (2 * Z95)
    n, crossings = int(row["n_start"]), int(row["crossings"])
    return {"estimand": "late_response", "definition": LEVEL_DEFINITION, "stratum": "overall",
            "term": f"above {LATE_THRESHOLD:g} by month {LATE_MONTH}", "scale": "logit",
            "estimate": np.log(p / (1 - p)) if estimable else np.nan,
            "se": se_p / (p * (1 - p)) if estimable else np.nan, "n": n, "events": crossings,
            "smallest_cell": smallest_cell(n, crossings, n - crossings),
            "status": OK if estimable else (row["note"] or "not estimable: no crossing")}

