"""Late response: do early non-responders cross a CD4 threshold later, before death?

The question is a competing-risks one. Among early non-responders (the numerator of an early
definition), follow-up starts on the day of the assessed count that made them non-responders.

* **At-risk set** for a threshold T: early non-responders whose assessed count was *not above*
  T (CD4 <= T). Those already above T at the early assessment cannot "reach" it later; they are
  counted (``already_above``) and excluded. A gain-based definition (gain < 50) makes many
  early non-responders who are already above 350; counting them as late responders inflates
  late response.
* **Event** (cause 1): the first count above T after the assessment; with ``confirm`` = k, the
  first of k consecutive counts above T, each within ``confirm_gap_days`` of the one before
  (the event is dated at the first of them).
* **Competing event** (cause 2): death before a crossing was observed. Death ends the chance of
  crossing; censoring it (Kaplan-Meier) estimates the proportion that would cross in a world
  without death, which in a cohort with high mortality is far larger than the proportion that
  does cross.
* **Censoring**: alive without a crossing, at the last CD4 count.

The cumulative incidence of crossing is the Aalen-Johansen estimator
(:class:`~immune_recovery.competing.AalenJohansen`: delayed entry at the assessment, R
survival's ``(start, stop]`` counting and tie handling, no jitter; variance by the delta method,
CI on log(-log)). "By month M" reads the curve at M + 0.5 months: counts are dated around their
visit month.

Time is years since T0 (ART start or randomisation) in the fitted data; the table gives months.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.exceptions import StatError

from .classify import nonresponder_flags
from .competing import AalenJohansen
from .conventions import CONFIRM_MAX_GAP_DAYS, DAYS_PER_YEAR
from .disclosure import figures as disclosed
from .plots import PALETTE, legend

#: Causes in the competing-risks data.
CENSORED, CROSSED, DIED = 0, 1, 2
#: Months: "by month M" includes counts dated up to M + half a month.
HALF_MONTH_YEARS = 0.5 / 12

LATE_COLUMNS = ["threshold", "month", "method", "early_nonresponders", "already_above",
                "n_start", "crossings", "deaths", "censored", "cumulative_incidence",
                "ci_low", "ci_high", "note"]
#: Why a curve is missing: with delayed entry, the product-limit estimate reaches zero when
#: everyone at risk has had the event before later patients enter (``degenerate_``; lifelines'
#: Kaplan-Meier refuses it).
NOT_ESTIMABLE = ("not estimable: everyone at risk had crossed before later early "
                 "non-responders entered (delayed entry)")


def early_nonresponders(result, definition_id: str) -> pd.DataFrame:
    """Early non-responders of one definition (its frequency numerator), indexed by patient:
    ``start_years`` (T0 to the assessed count, where follow-up for late response starts) and
    ``assessed_cd4`` (cells/mm³)."""
    _, numerator = nonresponder_flags(result, definition_id)
    res = result.results[definition_id]
    years = (res.assessed_day - result.t0) / DAYS_PER_YEAR
    frame = pd.DataFrame({"start_years": years, "assessed_cd4": res.assessed_cd4},
                         index=result.patients)
    return frame[numerator]


def crossing_times(long: pd.DataFrame, early: pd.DataFrame, threshold: float,
                   confirm: int = 1, confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS) -> pd.Series:
    """Years since T0 of the first (confirmed) count above ``threshold`` after each early
    non-responder's assessment (NaN if none), indexed like ``early``.

    ``long`` has ``PATIENT``, ``years``, ``cd4`` (one row per count); with ``confirm`` = k the
    count and the next k - 1 counts of the patient must all be above the threshold, each within
    ``confirm_gap_days`` of the previous one."""
    data = long.loc[long["PATIENT"].isin(early.index), ["PATIENT", "years", "cd4"]]
    data = data[data["years"] > data["PATIENT"].map(early["start_years"]).to_numpy()]
    data = data.sort_values(["PATIENT", "years"], kind="stable")
    patient = data["PATIENT"].to_numpy()
    years = data["years"].to_numpy()
    above = data["cd4"].to_numpy() > threshold
    run = above.copy()
    gap_years = confirm_gap_days / DAYS_PER_YEAR
    for j in range(1, confirm):  # the j-th later count: same patient, above, close enough
        ok = np.zeros(run.size, bool)
        ok[:-j] = ((patient[j:] == patient[:-j]) & above[j:]
                   & (years[j:] - years[j - 1:years.size - 1] <= gap_years))
        run &= ok
    first = pd.Series(years[run], index=patient[run]).groupby(level=0).min()
    return first.reindex(early.index)


def last_count_years(long: pd.DataFrame, early: pd.DataFrame) -> pd.Series:
    """Years since T0 of each patient's last count, not before the assessment (censoring)."""
    last = long[long["PATIENT"].isin(early.index)].groupby("PATIENT")["years"].max()
    last = last.reindex(early.index)
    return np.maximum(last.fillna(early["start_years"]), early["start_years"])


def competing_risks_data(long: pd.DataFrame, early: pd.DataFrame, death_years: pd.Series,
                         threshold: float, confirm: int = 1, confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS
                         ) -> pd.DataFrame:
    """One row per early non-responder not above ``threshold`` at the assessment: ``entry``,
    ``time`` (years since T0), ``cause`` (0 censored, 1 crossed, 2 died).

    ``death_years``: years from T0 to death (NaN if alive), indexed by patient. Patients with
    no follow-up after the assessment (no later count, no death) are censored at entry.
    ``attrs["already_above"]`` counts the early non-responders excluded for being above the
    threshold already."""
    below = early[early["assessed_cd4"] <= threshold]
    crossed = crossing_times(long, below, threshold, confirm, confirm_gap_days)
    last = last_count_years(long, below)
    death = death_years.reindex(below.index)
    death = death.where(death >= below["start_years"])
    cause = np.select([crossed.notna(), death.notna()], [CROSSED, DIED], CENSORED)
    time = np.select([crossed.notna(), death.notna()], [crossed, death], last)
    out = pd.DataFrame({"entry": below["start_years"].to_numpy(), "time": time, "cause": cause},
                       index=below.index)
    out.attrs["already_above"] = int(len(early) - len(below))
    out.attrs["early_nonresponders"] = int(len(early))
    return out


def aalen_johansen(data: pd.DataFrame, cause: int = CROSSED, alpha: float = 0.05
                   ) -> AalenJohansen:
    """The Aalen-Johansen fit of one cause on :func:`competing_risks_data`; a degenerate
    curve (see :data:`NOT_ESTIMABLE`) raises ``StatError``."""
    fit = AalenJohansen(alpha=alpha).fit(data["entry"], data["time"], data["cause"], cause)
    if fit.degenerate_:
        raise StatError(NOT_ESTIMABLE)
    return fit


def _estimable(fit, *args, **kwargs):
    """``(fit(*args, **kwargs), "")``, or ``(None, NOT_ESTIMABLE)`` when lifelines refuses
    the curve."""
    try:
        return fit(*args, **kwargs), ""
    except StatError:
        return None, NOT_ESTIMABLE


def _at(frame: pd.DataFrame, t: float, default) -> np.ndarray:
    known = frame.index[frame.index <= t]
    return frame.loc[known[-1]].to_numpy() if len(known) else np.asarray(default)


def late_response(long: pd.DataFrame, early: pd.DataFrame, death_years: pd.Series,
                  thresholds: list[float], months: list[float], confirm: int = 1,
                  confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS, kaplan_meier: bool = True) -> pd.DataFrame:
    """Cumulative incidence of crossing each threshold by each month, death competing.

    One row per threshold x month x method (columns :data:`LATE_COLUMNS`): ``aalen-johansen``
    (the estimate; ``aalen-johansen, confirmed on k counts`` with ``confirm`` = k), and with ``kaplan_meier`` the sensitivity row ``kaplan-meier, death
    censored, all early non-responders`` (the former, inflated, estimate: everyone at risk
    including those already above, death censoring). Counts (crossings, deaths, censored) are
    those observed by the month; ``note`` says why a curve is missing (:data:`NOT_ESTIMABLE`)."""
    rows = []
    for threshold in thresholds:
        data = competing_risks_data(long, early, death_years, threshold, confirm,
                                    confirm_gap_days)
        fit, note = _estimable(aalen_johansen, data) if len(data) else (None, "")
        for month in months:
            t = month / 12 + HALF_MONTH_YEARS
            by = data["time"] <= t
            method = "aalen-johansen" + (f", confirmed on {confirm} counts" if confirm > 1
                                         else "")
            row = {"threshold": threshold, "month": month, "method": method,
                   "early_nonresponders": data.attrs["early_nonresponders"],
                   "already_above": data.attrs["already_above"], "n_start": len(data),
                   "crossings": int((by & (data["cause"] == CROSSED)).sum()),
                   "deaths": int((by & (data["cause"] == DIED)).sum()),
                   "censored": int((by & (data["cause"] == CENSORED)).sum()), "note": note}
            if fit is not None:
                estimate, low, high = fit.at(t)
                row.update(cumulative_incidence=estimate, ci_low=low, ci_high=high)
            rows.append(row)
        if kaplan_meier:
            rows += _kaplan_meier_rows(long, early, threshold, months)
    return pd.DataFrame(rows, columns=LATE_COLUMNS)


def _kaplan_meier_rows(long: pd.DataFrame, early: pd.DataFrame, threshold: float,
                       months: list[float]) -> list[dict]:
    """The naive estimate: every early non-responder at risk, death and loss censoring."""
    crossed = crossing_times(long, early, threshold)
    last = last_count_years(long, early)
    duration = crossed.fillna(last)
    kmf, note = _estimable(KaplanMeierFitter().fit, duration, event_observed=crossed.notna(),
                           entry=early["start_years"])
    rows = []
    for month in months:
        t = month / 12 + HALF_MONTH_YEARS
        by = duration <= t
        row = {"threshold": threshold, "month": month,
               "method": "kaplan-meier, death censored, all early non-responders",
               "early_nonresponders": len(early), "already_above": 0,
               "n_start": len(early), "crossings": int((by & crossed.notna()).sum()),
               "deaths": 0, "censored": int((by & crossed.isna()).sum()), "note": note}
        if kmf is not None:
            low_s, high_s = _at(kmf.confidence_interval_survival_function_, t, [1.0, 1.0])
            row.update(cumulative_incidence=1 - float(kmf.survival_function_at_times(t).iloc[0]),
                       ci_low=1 - float(high_s), ci_high=1 - float(low_s))
        rows.append(row)
    return rows


def death_years(patients: pd.DataFrame) -> pd.Series:
    """Years from T0 to death (NaN when alive), indexed by patient."""
    return (patients["death_date"] - patients["t0"]).dt.days / DAYS_PER_YEAR


def plot_late_response(table: pd.DataFrame) -> plt.Figure:
    """Cumulative incidence of crossing by month, one colour per threshold, with its CI band;
    sensitivity rows (other methods) dashed."""
    fig, ax = plt.subplots()
    table = disclosed.shown(table, "n_start")
    for i, (threshold, part) in enumerate(table.groupby("threshold")):
        color = PALETTE[i % len(PALETTE)]
        for method, rows in part.groupby("method", sort=False):
            main = method == "aalen-johansen"
            ax.plot(rows["month"], 100 * rows["cumulative_incidence"], marker="o",
                    color=color, linestyle="-" if main else "--", alpha=1 if main else 0.6,
                    label=f"CD4 > {threshold:g}" + ("" if main else f" ({method})"))
            if main:
                ax.fill_between(rows["month"], 100 * rows["ci_low"], 100 * rows["ci_high"],
                                color=color, alpha=0.15)
    ax.set_xlabel("Months since ART start")
    ax.set_ylabel("% of early non-responders at risk (95% CI)")
    ax.set_ylim(0, 100)
    legend(ax, frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
