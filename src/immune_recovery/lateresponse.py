"""Late response: do early non-responders cross a CD4 threshold later, before death?

The question is a competing-risks one. Among early non-responders (the numerator of an early
definition), follow-up starts on the day of the assessed count that made them non-responders.
What a single count can support is limited: a count carries a within-person error of about
15-25% (``cd4_variability``), so one count below a threshold at entry includes patients truly
above it, and one count above it later includes patients who never got there. The estimand is
therefore defined on **confirmed** counts (``confirm`` = k, 2 by default):

* **At-risk set** for a threshold T: early non-responders whose assessed count and the k - 1
  on-ART counts before it (dated after T0, each within ``confirm_gap_days`` of the next) were
  all at or below T. Those above T at the assessment cannot "reach" it later; they are counted
  (``already_above``) and excluded; those below it on one count but not confirmed are counted
  too (``excluded_unconfirmed``). Where the cohort has no on-ART count before the assessed one
  (ACTG 175, CPCRA 002), entry rests on the assessed count alone and the method says so.
* **Event** (cause 1): the first of k consecutive later counts above T, each within
  ``confirm_gap_days`` of the one before (dated at the first of them).
* **Competing event** (cause 2): death before a crossing, or where a cohort does not separate
  deaths, the event given as competing (ACTG 175: its composite endpoint of a CD4 decline,
  AIDS or death). Censoring it (Kaplan-Meier) estimates the proportion that would cross in a
  world without it.
* **Censoring**: alive without a crossing, at the last CD4 count.

The one-count version (k = 1: entry on the assessed count, crossing on one count) is shown as
an **upper bound**: every confirmed crossing is also a one-count crossing, and noise adds
crossings that are not there (the coverage study measures by how much). Where no patient at risk has the counts a confirmation needs (ACTG 175: one
count after week 20), the confirmed estimate is "not estimable" (:data:`NOT_CONFIRMABLE`),
never 0.

The cumulative incidence of crossing is the Aalen-Johansen estimator
(:class:`~immune_recovery.competing.AalenJohansen`: delayed entry at the assessment, R
survival's ``(start, stop]`` counting and tie handling, no jitter; variance by the delta method,
CI on log(-log)). "By month M" reads the curve at M + 0.5 months: counts are dated around their
visit month. :func:`late_response_bounds` adds the complete-case share (patients whose
crossing status by month M was not observed left out: losses, and competing events without a
count in the month) and the
worst case (every patient not seen to cross counted as not crossing), with Wilson CIs; the
Aalen-Johansen estimate lies between them.

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
from .intervals import wilson
from .plots import PALETTE, legend

#: Causes in the competing-risks data.
CENSORED, CROSSED, DIED = 0, 1, 2
#: Months: "by month M" includes counts dated up to M + half a month.
HALF_MONTH_YEARS = 0.5 / 12

LATE_COLUMNS = ["threshold", "month", "method", "early_nonresponders", "already_above",
                "excluded_unconfirmed", "n_start", "crossings", "competing", "censored",
                "cumulative_incidence", "ci_low", "ci_high", "note"]
BOUND_COLUMNS = ["threshold", "month", "definition", "bound", "n_start", "crossings",
                 "n_known", "proportion", "ci_low", "ci_high", "note"]
#: Counts that confirm entry and a crossing (the estimand; :func:`method_name`).
CONFIRM_COUNTS = 2
#: The naive estimate this report once gave (a sensitivity row).
NAIVE = "kaplan-meier, competing event censored, all early non-responders (naive)"
#: Why a curve is missing: with delayed entry, the product-limit estimate reaches zero when
#: everyone at risk has had the event before later patients enter (``degenerate_``; lifelines'
#: Kaplan-Meier refuses it).
NOT_ESTIMABLE = ("not estimable: everyone at risk had crossed before later early "
                 "non-responders entered (delayed entry)")
#: Why a curve is missing when nobody is at risk (no early non-responder, or all above).
NO_ONE_AT_RISK = "not estimable: no early non-responder at risk"
#: Why a confirmed curve is missing: the cohort's counts cannot confirm (too few, too far apart).
NOT_CONFIRMABLE = ("not estimable: no early non-responder at risk has the {k} later counts, "
                   "each within {gap:g} days of the one before, that a confirmed crossing needs")


def method_name(confirm: int, entry_confirmed: bool = True) -> str:
    """The ``method`` of the Aalen-Johansen rows: confirmed on k counts (entry and crossing;
    the crossing only where the cohort has no on-ART count before the assessment to confirm
    entry with), or one count (an upper bound)."""
    if confirm > 1:
        return f"aalen-johansen, confirmed on {confirm} counts" + (
            "" if entry_confirmed else " (crossing only: entry on one count)")
    return "aalen-johansen, one count (upper bound)"


def prior_counts(long: pd.DataFrame, early: pd.DataFrame,
                 confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS) -> bool:
    """Whether any early non-responder has an on-ART count (dated after T0) before the
    assessed one, within ``confirm_gap_days``: whether entry can be confirmed at all (not in
    ACTG 175 or CPCRA 002, whose first on-ART count is the assessed one)."""
    patient, years, _ = _sorted(long, early.index)
    start = pd.Series(patient).map(early["start_years"]).to_numpy()
    before = (years > 0) & (years < start) & (start - years <= confirm_gap_days / DAYS_PER_YEAR)
    return bool(before.any())


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


def _runs(patient: np.ndarray, years: np.ndarray, ok: np.ndarray, k: int, gap_years: float,
          backwards: bool = False) -> np.ndarray:
    """Rows that start a run of k consecutive counts of one patient meeting ``ok``, each
    within ``gap_years`` of the next (``backwards``: the run is the row and the k - 1 before
    it). Rows sorted by patient and time."""
    run = ok.copy()
    for j in range(1, k):
        step = np.zeros(run.size, bool)
        if backwards:  # row i and the count j before it (row i - j)
            step[j:] = ((patient[:-j] == patient[j:]) & ok[:-j]
                        & (years[1:years.size - j + 1] - years[:-j] <= gap_years))
        else:  # row i and the count j after it (row i + j)
            step[:-j] = ((patient[j:] == patient[:-j]) & ok[j:]
                         & (years[j:] - years[j - 1:years.size - 1] <= gap_years))
        run &= step
    return run


class _Counts:
    """The counts of a set of patients sorted by patient and time, once: what the functions
    below read in place of ``long`` (:func:`_sorted`), so that the late-response tables sort
    the count history once rather than once per threshold, definition and step."""

    def __init__(self, long: pd.DataFrame | _Counts, ids: pd.Index) -> None:
        self.patient, self.years, self.cd4 = _sorted(long, ids)
        self.ids = pd.Index(ids)
        self.code = self.ids.get_indexer(self.patient)

    def subset(self, ids: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sorted rows of ``ids`` (a subset of the patients held)."""
        chosen = np.zeros(len(self.ids) + 1, bool)
        chosen[self.ids.get_indexer(ids)] = True  # -1 (not held) marks the spare last slot
        keep = chosen[:-1][self.code]
        return self.patient[keep], self.years[keep], self.cd4[keep]


def _sorted(long: pd.DataFrame | _Counts, ids: pd.Index
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patient, years and CD4 of the counts of ``ids``, sorted by patient and years (stable:
    the order of ``long`` within ties)."""
    if isinstance(long, _Counts):
        return long.subset(ids)
    data = long.loc[long["PATIENT"].isin(ids), ["PATIENT", "years", "cd4"]]
    data = data.sort_values(["PATIENT", "years"], kind="stable")
    return data["PATIENT"].to_numpy(), data["years"].to_numpy(), data["cd4"].to_numpy()


def crossing_times(long: pd.DataFrame, early: pd.DataFrame, threshold: float,
                   confirm: int = 1, confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS) -> pd.Series:
    """Years since T0 of the first (confirmed) count above ``threshold`` after each early
    non-responder's assessment (NaN if none), indexed like ``early``.

    ``long`` has ``PATIENT``, ``years``, ``cd4`` (one row per count); with ``confirm`` = k the
    count and the next k - 1 counts of the patient must all be above the threshold, each within
    ``confirm_gap_days`` of the previous one."""
    patient, years, cd4 = _sorted(long, early.index)
    after = years > pd.Series(patient).map(early["start_years"]).to_numpy()
    patient, years, cd4 = patient[after], years[after], cd4[after]
    run = _runs(patient, years, cd4 > threshold, confirm, confirm_gap_days / DAYS_PER_YEAR)
    first = pd.Series(years[run], index=patient[run]).groupby(level=0).min()
    return first.reindex(early.index)


def confirmed_low(long: pd.DataFrame, early: pd.DataFrame, threshold: float, confirm: int,
                  confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS) -> pd.Series:
    """Per early non-responder (bool, indexed like ``early``): the assessed count and the
    ``confirm`` - 1 on-ART counts before it (dated after T0) are all at or below
    ``threshold``, each within ``confirm_gap_days`` of the next. ``confirm`` = 1: the assessed
    count alone."""
    low = early["assessed_cd4"] <= threshold
    if confirm <= 1:
        return low
    patient, years, cd4 = _sorted(long, early.index)
    start = pd.Series(patient).map(early["start_years"]).to_numpy()
    keep = (years > 0) & (years <= start)  # on ART, up to and including the assessment
    patient, years, cd4 = patient[keep], years[keep], cd4[keep]
    run = _runs(patient, years, cd4 <= threshold, confirm, confirm_gap_days / DAYS_PER_YEAR,
                backwards=True)
    at_assessment = years == pd.Series(patient).map(early["start_years"]).to_numpy()
    ok = pd.Series(run & at_assessment, index=patient).groupby(level=0).any()
    return low & ok.reindex(early.index, fill_value=False)


def can_confirm(long: pd.DataFrame, data: pd.DataFrame, confirm: int,
                confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS) -> bool:
    """Whether any patient of :func:`competing_risks_data` has ``confirm`` counts after entry,
    each within ``confirm_gap_days`` of the one before (whatever their level)."""
    if confirm <= 1:
        return len(data) > 0
    patient, years, _ = _sorted(long, data.index)
    after = years > pd.Series(patient).map(data["entry"]).to_numpy()
    patient, years = patient[after], years[after]
    return bool(_runs(patient, years, np.ones(patient.size, bool), confirm,
                      confirm_gap_days / DAYS_PER_YEAR).any())


def last_count_years(long: pd.DataFrame, early: pd.DataFrame) -> pd.Series:
    """Years since T0 of each patient's last count, not before the assessment (censoring)."""
    patient, years, _ = _sorted(long, early.index)
    last = pd.Series(years, index=patient).groupby(level=0).max().reindex(early.index)
    return np.maximum(last.fillna(early["start_years"]), early["start_years"])


def competing_risks_data(long: pd.DataFrame, early: pd.DataFrame, competing_years: pd.Series,
                         threshold: float, confirm: int = 1,
                         confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS) -> pd.DataFrame:
    """One row per early non-responder at risk for ``threshold`` (:func:`confirmed_low`):
    ``entry``, ``time`` (years since T0), ``cause`` (0 censored, 1 crossed, 2 competing event)
    and ``last_count`` (years since T0 of the last count, not before entry).

    ``competing_years``: years from T0 to the competing event (death; NaN if none), indexed by
    patient. Patients with no follow-up after the assessment (no later count, no competing
    event) are censored at entry. Entry is confirmed only where the cohort has counts to
    confirm it with (:func:`prior_counts`). ``attrs``: ``early_nonresponders``,
    ``already_above`` (above the threshold at the assessment), ``excluded_unconfirmed`` (at or
    below it on the assessed count, not confirmed), ``confirmable`` (:func:`can_confirm`) and
    ``method`` (:func:`method_name`)."""
    long = _Counts(long, early.index)
    entry_confirmed = confirm > 1 and prior_counts(long, early, confirm_gap_days)
    low = confirmed_low(long, early, threshold, confirm if entry_confirmed else 1,
                        confirm_gap_days)
    below = early[low]
    crossed = crossing_times(long, below, threshold, confirm, confirm_gap_days)
    last = last_count_years(long, below)
    competing = competing_years.reindex(below.index)
    competing = competing.where(competing >= below["start_years"])
    cause = np.select([crossed.notna(), competing.notna()], [CROSSED, DIED], CENSORED)
    time = np.select([crossed.notna(), competing.notna()], [crossed, competing], last)
    out = pd.DataFrame({"entry": below["start_years"].to_numpy(), "time": time, "cause": cause,
                        "last_count": last.to_numpy()}, index=below.index)
    above = int((early["assessed_cd4"] > threshold).sum())
    out.attrs.update(early_nonresponders=int(len(early)), already_above=above,
                     excluded_unconfirmed=int(len(early) - len(below) - above),
                     confirmable=can_confirm(long, out, confirm, confirm_gap_days),
                     method=method_name(confirm, entry_confirmed or confirm <= 1))
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
    """``(fit(*args, **kwargs), "")``, or ``(None, NOT_ESTIMABLE)`` when the curve is
    degenerate."""
    try:
        return fit(*args, **kwargs), ""
    except StatError:
        return None, NOT_ESTIMABLE


def _at(frame: pd.DataFrame, t: float, default) -> np.ndarray:
    known = frame.index[frame.index <= t]
    return frame.loc[known[-1]].to_numpy() if len(known) else np.asarray(default)


def _risk_sets(long: pd.DataFrame, early: pd.DataFrame, competing_years: pd.Series,
               thresholds: list[float], confirm: int, confirm_gap_days: float):
    """(threshold, data, note) for each threshold and definition (confirmed on ``confirm``
    counts, then one count): :func:`competing_risks_data` and :data:`NOT_CONFIRMABLE` where the
    counts cannot confirm a crossing."""
    for threshold in thresholds:
        for k in dict.fromkeys((confirm, 1)):
            data = competing_risks_data(long, early, competing_years, threshold, k,
                                        confirm_gap_days)
            note = "" if k == 1 or data.attrs["confirmable"] else \
                NOT_CONFIRMABLE.format(k=k, gap=confirm_gap_days)
            yield threshold, data, note


def _by_month(data: pd.DataFrame, t: float) -> dict:
    """Crossings, competing events and censored rows by ``t``; ``seen``: patients not crossed
    by ``t`` with a count within the month read at ``t`` or later (after t - one month), whose
    crossing status by the month was observed (whatever happened after or before)."""
    by = data["time"] <= t
    crossed = by & (data["cause"] == CROSSED)
    return {"crossings": int(crossed.sum()),
            "competing": int((by & (data["cause"] == DIED)).sum()),
            "censored": int((by & (data["cause"] == CENSORED)).sum()),
            "seen": int((~crossed & (data["last_count"] > t - 2 * HALF_MONTH_YEARS)).sum())}


def late_response(long: pd.DataFrame, early: pd.DataFrame, competing_years: pd.Series,
                  thresholds: list[float], months: list[float],
                  confirm: int = CONFIRM_COUNTS,
                  confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS, kaplan_meier: bool = True
                  ) -> pd.DataFrame:
    """Cumulative incidence of crossing each threshold by each month, the competing event
    competing.

    One row per threshold x month x method (columns :data:`LATE_COLUMNS`):
    :func:`method_name` of ``confirm`` (the estimate), the one-count upper bound (when
    ``confirm`` > 1) and, with ``kaplan_meier``, the naive Kaplan-Meier row (every early
    non-responder at risk including those already above, the competing event censored).
    Counts (crossings, competing events, censored) are those observed by the month; ``note``
    says why a curve is missing (:data:`NOT_CONFIRMABLE`, :data:`NOT_ESTIMABLE`)."""
    long = _Counts(long, early.index)
    rows = []
    for threshold, data, note in _risk_sets(long, early, competing_years, thresholds, confirm,
                                            confirm_gap_days):
        fit = None
        if not note and len(data):
            fit, note = _estimable(aalen_johansen, data)
        elif not note:
            note = NO_ONE_AT_RISK
        for month in months:
            t = month / 12 + HALF_MONTH_YEARS
            row = {"threshold": threshold, "month": month, "method": data.attrs["method"],
                   "n_start": len(data), "note": note, **_by_month(data, t),
                   **{key: data.attrs[key] for key in
                      ("early_nonresponders", "already_above", "excluded_unconfirmed")}}
            if fit is not None:
                estimate, low, high = fit.at(t)
                row.update(cumulative_incidence=estimate, ci_low=low, ci_high=high)
            rows.append(row)
        if kaplan_meier and data.attrs["method"] == method_name(1):  # after the last definition
            rows += _kaplan_meier_rows(long, early, threshold, months)
    return pd.DataFrame(rows, columns=LATE_COLUMNS)


def late_response_bounds(long: pd.DataFrame, early: pd.DataFrame, competing_years: pd.Series,
                         thresholds: list[float], months: list[float],
                         confirm: int = CONFIRM_COUNTS,
                         confirm_gap_days: float = CONFIRM_MAX_GAP_DAYS) -> pd.DataFrame:
    """Bounds on the share crossing by each month for missing follow-up (columns
    :data:`BOUND_COLUMNS`), for the confirmed and the one-count definitions: ``complete
    case`` (crossed by the month / patients whose crossing status by then was observed:
    crossed, or a count within the month or later without crossing; patients lost or with the
    competing event and no such count left out) and ``worst case`` (crossed by the month / all at risk: nobody unobserved crossed). Wilson
    95% CIs."""
    long = _Counts(long, early.index)
    rows = []
    for threshold, data, note in _risk_sets(long, early, competing_years, thresholds, confirm,
                                            confirm_gap_days):
        for month in months:
            t = month / 12 + HALF_MONTH_YEARS
            counts = _by_month(data, t)
            known = counts["crossings"] + counts["seen"]
            for bound, denominator in (("complete case", known), ("worst case", len(data))):
                row = {"threshold": threshold, "month": month,
                       "definition": data.attrs["method"], "bound": bound,
                       "n_start": len(data), "crossings": counts["crossings"],
                       "n_known": denominator, "note": note}
                if not note:
                    p, low, high = wilson([counts["crossings"]], [denominator])
                    row.update(proportion=p[0], ci_low=low[0], ci_high=high[0])
                rows.append(row)
    return pd.DataFrame(rows, columns=BOUND_COLUMNS)


def _kaplan_meier_rows(long: pd.DataFrame, early: pd.DataFrame, threshold: float,
                       months: list[float]) -> list[dict]:
    """The naive estimate: every early non-responder at risk, competing events and loss
    censored, one count."""
    crossed = crossing_times(long, early, threshold)
    last = last_count_years(long, early)
    duration = crossed.fillna(last).astype(float)
    kmf, note = _estimable(KaplanMeierFitter().fit, duration, event_observed=crossed.notna(),
                           entry=early["start_years"].astype(float)) \
        if len(early) and duration.notna().all() else (None, NO_ONE_AT_RISK)
    rows = []
    for month in months:
        t = month / 12 + HALF_MONTH_YEARS
        by = duration <= t
        row = {"threshold": threshold, "month": month, "method": NAIVE,
               "early_nonresponders": len(early), "already_above": 0, "excluded_unconfirmed": 0,
               "n_start": len(early), "crossings": int((by & crossed.notna()).sum()),
               "competing": 0, "censored": int((by & crossed.isna()).sum()), "note": note}
        if kmf is not None:
            low_s, high_s = _at(kmf.confidence_interval_survival_function_, t, [1.0, 1.0])
            row.update(cumulative_incidence=1 - float(kmf.survival_function_at_times(t).iloc[0]),
                       ci_low=1 - float(high_s), ci_high=1 - float(low_s))
        rows.append(row)
    return rows


def death_years(patients: pd.DataFrame) -> pd.Series:
    """Years from T0 to death (NaN when alive), indexed by patient."""
    return event_years(patients["death_date"], patients)


def event_years(dates: pd.Series, patients: pd.DataFrame) -> pd.Series:
    """Years from T0 to an event date (NaN when none), indexed by patient: the competing
    event of :func:`late_response` (death; a trial's composite endpoint where deaths are not
    separated, :func:`~immune_recovery.events.event_dates`)."""
    return (dates.reindex(patients.index) - patients["t0"]).dt.days / DAYS_PER_YEAR


def plot_late_response(table: pd.DataFrame) -> plt.Figure:
    """Cumulative incidence of crossing by month, one colour per threshold: the estimate (the
    first method of each threshold; solid, with its CI band), the other methods dashed."""
    fig, ax = plt.subplots()
    table = disclosed.shown(table, "n_start")
    for i, (threshold, part) in enumerate(table.groupby("threshold")):
        color = PALETTE[i % len(PALETTE)]
        for j, (method, rows) in enumerate(part.groupby("method", sort=False)):
            main = j == 0
            ax.plot(rows["month"], 100 * rows["cumulative_incidence"], marker="o",
                    color=color, linestyle="-" if main else "--", alpha=1 if main else 0.6,
                    label=f"CD4 > {threshold:g} ({method})")
            if main:
                ax.fill_between(rows["month"], 100 * rows["ci_low"], 100 * rows["ci_high"],
                                color=color, alpha=0.15)
    ax.set_xlabel("Months since ART start")
    ax.set_ylabel("% of early non-responders at risk (95% CI)")
    ax.set_ylim(0, 100)
    legend(ax, frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
