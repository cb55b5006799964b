"""Clinical outcomes by response group: landmark data, incidence rates, rate ratios.

Landmark analysis (avoids immortal-time bias and conditioning on the future): response status
is fixed at the landmark (the end of the definition's assessment window, or a given day);
only patients under follow-up and free of the event at the landmark enter; time is counted
from the landmark to the first event or the end of follow-up.

Events: ``ade_or_death`` = the first new AIDS-defining event after T0 (``tblDIS`` codes in
:data:`~immune_recovery.overview.AIDS_DEFINING`) or death; ``death``; ``endpoint`` = the trial's
primary endpoint (``tblSTUDY.ENDPOINT_Y``/``ENDPOINT_D``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .classify import Classification
from .cohort import Cohort
from .overview import aids_events

DAYS_PER_YEAR = 365.25
EVENTS = ("ade_or_death", "death", "endpoint")


def event_dates(cohort: Cohort, patients: pd.DataFrame, event: str) -> pd.Series:
    """Per patient: date of the first event of the given kind after T0 (NaT if none)."""
    if event == "death":
        return patients["death_date"].astype("datetime64[ns]")
    if event == "ade_or_death":
        ade = aids_events(cohort, patients)
        return pd.concat([ade, patients["death_date"]], axis=1).min(axis=1).astype(
            "datetime64[ns]")
    if event == "endpoint":
        if "endpoint_y" not in patients:
            raise ValueError("the cohort has no trial endpoint (tblSTUDY.ENDPOINT_Y)")
        return patients["endpoint_d"].where(patients["endpoint_y"] == 1).astype("datetime64[ns]")
    raise ValueError(f"event must be one of {EVENTS}, got {event!r}")


def landmark_data(cohort: Cohort, patients: pd.DataFrame, status: pd.Series,
                  landmark_days: int, event: str = "ade_or_death",
                  end_column: str = "followup_end") -> pd.DataFrame:
    """One row per patient eligible at the landmark (T0 + ``landmark_days``).

    Eligible: status known, follow-up beyond the landmark, and no event on or before it.
    Columns: ``PATIENT``, ``status``, ``time_years`` (landmark to event or censoring), ``event``
    (0/1), then the columns of ``patients`` (for adjustment).
    """
    landmark = patients["t0"] + pd.to_timedelta(landmark_days, unit="D")
    when = event_dates(cohort, patients, event)
    end = patients[end_column]
    if event == "endpoint" and "endpoint_d" in patients:
        end = patients["endpoint_d"]
    excluded = {
        "status_unknown": status.isna(),
        "event_before_landmark": status.notna() & when.notna() & (when <= landmark),
        "followup_ended_before_landmark": status.notna() & ~(when.notna() & (when <= landmark))
        & (end.isna() | (end <= landmark)),
    }
    eligible = ~(excluded["status_unknown"] | excluded["event_before_landmark"]
                 | excluded["followup_ended_before_landmark"])
    stop = when.where(when.notna() & (when <= end), end)
    had_event = when.notna() & (when <= end)
    data = patients[eligible].copy()
    data.insert(0, "status", status[eligible])
    data.insert(1, "time_years", ((stop - landmark)[eligible]).dt.days / DAYS_PER_YEAR)
    data.insert(2, "event", had_event[eligible].astype(int))
    data.attrs["exclusions"] = {k: int(v.sum()) for k, v in excluded.items()}
    data.attrs["n_eligible"] = int(eligible.sum())
    return data.reset_index()


def landmark_by_definition(cohort: Cohort, patients: pd.DataFrame, result: Classification,
                           definition_id: str, event: str = "ade_or_death",
                           landmark_days: int | None = None) -> pd.DataFrame:
    """Landmark data with the response group of one definition as the status.

    The default landmark is the end of the assessment window (target + window days), the first
    day on which every patient's status is known.
    """
    definition = next(d for d in result.definitions if d.id == definition_id)
    groups = result.groups(definition_id).astype(object)
    status = groups.where(groups != "not_assessable")
    if landmark_days is None:
        landmark_days = definition.target_days + definition.window_days
    return landmark_data(cohort, patients, status, landmark_days, event=event)


def exact_poisson_ci(events: np.ndarray, exposure: np.ndarray, alpha: float = 0.05
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) confidence limits of a Poisson rate: chi-square quantiles / 2."""
    events = np.asarray(events, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    low = np.where(events > 0, stats.chi2.ppf(alpha / 2, 2 * events) / 2, 0.0)
    high = stats.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2
    return low / exposure, high / exposure


def incidence(data: pd.DataFrame, group: str = "status", per: float = 100.0,
              alpha: float = 0.05) -> pd.DataFrame:
    """Events, person-years and rate per ``per`` person-years by group, exact Poisson CI.

    Columns: ``group``, ``patients``, ``events``, ``person_years``, ``rate_per_100py``,
    ``ci_low``, ``ci_high``.
    """
    agg = data.groupby(group, observed=True, sort=True).agg(
        patients=("event", "size"), events=("event", "sum"), person_years=("time_years", "sum"))
    low, high = exact_poisson_ci(agg["events"].to_numpy(), agg["person_years"].to_numpy(), alpha)
    out = agg.reset_index().rename(columns={group: "group"})
    out["rate_per_100py"] = per * out["events"] / out["person_years"]
    out["ci_low"] = per * low
    out["ci_high"] = per * high
    out["person_years"] = out["person_years"].round(2)
    return out


def rate_ratios(rates: pd.DataFrame, reference: str, alpha: float = 0.05) -> pd.DataFrame:
    """Incidence-rate ratios against ``reference`` with Wald CIs on the log scale.

    Columns: ``group``, ``reference``, ``rate_ratio``, ``ci_low``, ``ci_high``.
    """
    ref = rates.set_index("group").loc[reference]
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for row in rates.itertuples(index=False):
        if row.group == reference:
            continue
        ratio = (row.events / row.person_years) / (ref["events"] / ref["person_years"])
        if row.events == 0 or ref["events"] == 0:
            low = high = np.nan
        else:
            se = np.sqrt(1 / row.events + 1 / ref["events"])
            low, high = ratio * np.exp(-z * se), ratio * np.exp(z * se)
        rows.append({"group": row.group, "reference": reference, "rate_ratio": ratio,
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)
