"""Clinical outcomes by response group: landmark data, incidence rates, rate ratios.

Landmark analysis (avoids immortal-time bias and conditioning on the future): response status
is fixed at the landmark (the end of the definition's assessment window, or a given day);
only patients under follow-up and free of the event at the landmark enter; time is counted
from the landmark to the first event or the end of follow-up.

Events: ``ade_or_death`` = the first new AIDS-defining event after T0 (``tblDIS`` codes in
:data:`~immune_recovery.events.AIDS_DEFINING`) or death; ``ade`` (death censors); ``death``;
``endpoint`` = the trial's primary endpoint (``tblSTUDY.ENDPOINT_Y``/``ENDPOINT_D``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from lifelines.utils import restricted_mean_survival_time

from . import disclosure
from .baseline import rna_copies
from .classify import Classification
from .cohort import Cohort
from .conventions import BASELINE_WINDOW_DAYS, DAYS_PER_YEAR, Z95
from .covariates import design_matrix, term_label
from .efron import CoxPHFitter
from .estimable import separated, too_few_events
from .events import event_dates
from .formatting import captioned
from .intervals import exact_poisson_ci, rate_ratio_ci
from .phreg import PHReg
from .plots import forest
from .results import (
    RESULT_COLUMNS,
    coefficients_table,
    empty_estimates,
    estimates_table,
    not_estimable_table,
)
from .runs import ends_run, ffill_runs, run_starts
from .schoenfeld import proportional_hazard_test


def landmark_data(cohort: Cohort, patients: pd.DataFrame, status: pd.Series,
                  landmark_days: int, event: str = "ade_or_death",
                  end_column: str = "followup_end", when: pd.Series | None = None
                  ) -> pd.DataFrame:
    """One row per patient eligible at the landmark (T0 + ``landmark_days``).

    Eligible: status known, follow-up beyond the landmark, and no event on or before it.
    Columns: ``PATIENT``, ``status``, ``time_years`` (landmark to event or censoring), ``event``
    (0/1), then the columns of ``patients`` (for adjustment). ``when``: the event dates
    (:func:`~immune_recovery.events.event_dates`), when the caller has them already.
    """
    # numpy arrays, aligned once on the patients: a pandas operation between two series
    # compares their (text) indexes first, most of the time of 27 definitions at 10^5
    landmark = (patients["t0"].to_numpy(dtype="datetime64[ns]")
                + np.timedelta64(landmark_days, "D"))
    if when is None:
        when = event_dates(cohort, patients, event)
    when = when.reindex(patients.index).to_numpy(dtype="datetime64[ns]")
    status = status.reindex(patients.index)
    end = patients["endpoint_d" if event == "endpoint" and "endpoint_d" in patients
                   else end_column].to_numpy(dtype="datetime64[ns]")
    known = status.notna().to_numpy()
    event_by_landmark = ~np.isnat(when) & (when <= landmark)
    excluded = {
        "status_unknown": ~known,
        "event_before_landmark": known & event_by_landmark,
        "followup_ended_before_landmark": known & ~event_by_landmark
        & (np.isnat(end) | (end <= landmark)),
    }
    eligible = ~(excluded["status_unknown"] | excluded["event_before_landmark"]
                 | excluded["followup_ended_before_landmark"])
    had_event = ~np.isnat(when) & (when <= end)
    stop = np.where(had_event, when, end)
    data = patients[eligible].copy()
    data.insert(0, "status", status.array[eligible])
    data.insert(1, "time_years", (stop - landmark)[eligible] // np.timedelta64(1, "D")
                / DAYS_PER_YEAR)
    data.insert(2, "event", had_event[eligible].astype(int))
    data.attrs["exclusions"] = {k: int(v.sum()) for k, v in excluded.items()}
    data.attrs["n_eligible"] = int(eligible.sum())
    return data.reset_index()


def landmark_by_definition(cohort: Cohort, patients: pd.DataFrame, result: Classification,
                           definition_id: str, event: str = "ade_or_death",
                           landmark_days: int | None = None, when: pd.Series | None = None
                           ) -> pd.DataFrame:
    """Landmark data with the response group of one definition as the status.

    The default landmark is the end of the assessment window (target + window days), the first
    day on which every patient's status is known (``when``: see :func:`landmark_data`).
    """
    definition = next(d for d in result.definitions if d.id == definition_id)
    groups = result.groups(definition_id).astype(object)
    status = groups.where(groups != "not_assessable")
    if landmark_days is None:
        landmark_days = definition.target_days + definition.window_days
    return landmark_data(cohort, patients, status, landmark_days, event=event, when=when)


def inr_vs_complete_landmark(cohort: Cohort, patients: pd.DataFrame, result: Classification,
                             definition_id: str) -> pd.DataFrame:
    """Landmark data of one definition's immunologic non-responders and complete responders
    only, with ``inr`` 1 for a non-responder (the comparison of the outcome hazard ratio)."""
    data = landmark_by_definition(cohort, patients, result, definition_id)
    data = data[data["status"].isin(["immunologic_nonresponder", "complete_responder"])]
    return data.assign(inr=(data["status"] == "immunologic_nonresponder").astype(int))


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
    return disclosure.declare(out, partition=["group"])


def rate_ratios(rates: pd.DataFrame, reference: str, alpha: float = 0.05) -> pd.DataFrame:
    """Incidence-rate ratios against ``reference`` with Wald CIs on the log scale.

    Columns: ``group``, ``reference``, ``events``, ``reference_events``, ``rate_ratio``,
    ``ci_low``, ``ci_high`` (the events: a ratio's CI reveals them, so disclosure control
    hides the ratio of a group with few).
    """
    ref = rates.set_index("group").loc[reference]
    others = rates[rates["group"] != reference]
    with np.errstate(divide="ignore", invalid="ignore"):  # no events: not estimable
        ratio, low, high = rate_ratio_ci(others["events"], others["person_years"],
                                         ref["events"], ref["person_years"], alpha)
    out = pd.DataFrame({"group": others["group"].to_numpy(), "reference": reference,
                        "events": others["events"].to_numpy(),
                        "reference_events": int(ref["events"]),
                        "rate_ratio": ratio, "ci_low": low, "ci_high": high})
    none = (out["events"] == 0) | (out["reference_events"] == 0)
    if none.any():
        out["note"] = np.where(none, "not estimable: no events in a group", "")
    return out


# --------------------------------------------------------------------------------------
# Cox models
# --------------------------------------------------------------------------------------

#: lifelines' Efron likelihood computed over all tied event times at once ("batch"), not
#: time by time in a Python loop: the same likelihood, gradient and estimates (to about
#: 1e-14), and 2-3 times faster on cohorts of 10^5 patients, where lifelines' own choice
#: (a fitted heuristic) takes the loop.
COX_BATCH_MODE = True
#: Cox tables: the model name, the one result shape (measure ``HR``), the events.
COX_LEADING, COX_EXTRAS = ("model",), ("events",)
COX_COLUMNS = [*COX_LEADING, *RESULT_COLUMNS, *COX_EXTRAS]


class CoxModel:
    """Cox proportional-hazards model (lifelines ``CoxPHFitter``) on the package's design
    (:func:`~immune_recovery.covariates.design_matrix`).

    ``fit(data)`` returns the model; ``summary`` is the tidy table (``model``, the one result
    shape with measure ``HR``, ``events``); :meth:`proportional_hazards` the Schoenfeld test.
    Rows with a missing covariate or a non-positive duration are left out (``n_`` says how
    many were used).
    """

    def __init__(self, covariates: list[str], model: str,
                 references: dict[str, str] | None = None, strata: list[str] | None = None,
                 duration: str = "time_years", event: str = "event", alpha: float = 0.05):
        self.covariates = covariates
        self.model = model
        self.references = references or {}
        self.strata = list(strata or [])
        self.duration = duration
        self.event = event
        self.alpha = alpha

    def fit(self, data: pd.DataFrame) -> CoxModel:
        design = design_matrix(data, self.covariates, self.references)
        self.references_ = design.attrs["references"]
        frame = pd.concat([design, data[[self.duration, self.event, *self.strata]]],
                          axis=1).dropna()
        self.frame_ = frame[frame[self.duration] > 0]
        self.n_ = len(self.frame_)
        self.events_ = int(self.frame_[self.event].sum())
        self.terms_ = list(design.columns)
        self.fitter_ = None
        self.not_estimable_ = too_few_events(self.events_, len(self.terms_))
        if self.not_estimable_:
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifelines' convergence warnings: judged below
            try:
                self.fitter_ = CoxPHFitter(alpha=self.alpha).fit(
                    self.frame_, duration_col=self.duration, event_col=self.event,
                    strata=self.strata or None, batch_mode=COX_BATCH_MODE)
            except (ConvergenceError, np.linalg.LinAlgError) as err:
                reason = str(err).split(".")[0]
                self.not_estimable_ = f"not estimable: the Cox model did not converge ({reason})"
                return self
        self.not_estimable_ = separated(self.fitter_.params_, self.fitter_.standard_errors_)
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Tidy hazard ratios (one result shape, measure ``HR``, with ``model`` and
        ``events``); a model that cannot be estimated has a row per term with the reason in
        ``note`` (:mod:`immune_recovery.estimable`)."""
        caption = f"Cox model ({self.model}): hazard ratios with 95% CIs"
        if self.not_estimable_:
            return captioned(not_estimable_table(
                self.not_estimable_, leading={"model": self.model}, term=self.terms_,
                label=[term_label(t, self.references_) for t in self.terms_], measure="HR",
                n=self.n_, events=self.events_), caption)
        summary = self.fitter_.summary
        ci = np.exp(self.fitter_.confidence_intervals_.to_numpy())  # limits at 1 - alpha
        return captioned(estimates_table(
            leading={"model": self.model}, term=summary.index,
            label=[term_label(t, self.references_) for t in summary.index], measure="HR",
            estimate=summary["exp(coef)"], ci_low=ci[:, 0], ci_high=ci[:, 1],
            p=summary["p"], n=self.n_, events=self.events_), caption)

    def coefficients(self) -> pd.DataFrame:
        """Log hazard ratios with SE, CI (at 1 - ``alpha``) and p, by term (the results
        protocol, :class:`~immune_recovery.results.ModelResult`); NaN when not estimable."""
        if self.not_estimable_:
            nan = np.full(len(self.terms_), np.nan)
            return coefficients_table(self.terms_, nan, nan, nan, nan, nan)
        f = self.fitter_
        ci = f.confidence_intervals_.to_numpy()
        return coefficients_table(f.params_.index, f.params_, f.standard_errors_, ci[:, 0],
                                  ci[:, 1], f.summary["p"])

    def proportional_hazards(self) -> pd.DataFrame:
        """Schoenfeld-residual test of proportional hazards per term (rank-transformed
        time): ``model, term, test_statistic, p`` (empty when the model is not estimable)."""
        if self.fitter_ is None or self.not_estimable_:
            return pd.DataFrame(columns=["model", "term", "test_statistic", "p"])
        test = proportional_hazard_test(self.fitter_, self.frame_, time_transform="rank")
        out = test.reset_index().rename(columns={"index": "term", "covariate": "term"})
        out.insert(0, "model", self.model)
        return out[["model", "term", "test_statistic", "p"]]


# --------------------------------------------------------------------------------------
# Time-varying covariates: current CD4 (last value carried forward) and current viremia
# --------------------------------------------------------------------------------------


def _join(columns: list[list[np.ndarray]], k: int) -> np.ndarray:
    """Column ``k`` of every table's marks joined end to end, the pieces let go."""
    joined = np.concatenate(columns[k])
    columns[k] = []
    return joined


def time_varying_data(cohort: Cohort, patients: pd.DataFrame, event: str = "ade_or_death",
                      viremia_cutoff: float = 400.0) -> pd.DataFrame:
    """Counting-process data from T0: a new interval at every measurement after T0.

    Each interval carries the last measured values: ``current_sqrt_cd4`` (square root of the
    last absolute CD4 count) and ``current_viremic`` (last RNA at or above ``viremia_cutoff``
    copies/mL; 0 before any result). Values measured in the 180 days before T0 apply from T0
    (the latest of them). Intervals end at the next measurement, the event, or the end of
    follow-up; times are years since T0. Patients without a baseline CD4 count are left out.
    Columns: ``PATIENT``, ``start``, ``stop``, ``event``, ``current_sqrt_cd4``,
    ``current_viremic``.
    """
    t0 = patients["t0"]
    when = event_dates(cohort, patients, event)
    end = when.where(when.notna() & (when <= patients["followup_end"]), patients["followup_end"])
    had_event = (when.notna() & (when <= patients["followup_end"])).to_numpy()
    end_years = ((end - t0).dt.days / DAYS_PER_YEAR).to_numpy()
    earliest = -BASELINE_WINDOW_DAYS[0] / DAYS_PER_YEAR

    has_baseline = patients["baseline_cd4"].notna().to_numpy()

    def marks(dates: pd.Series, code: np.ndarray, value: np.ndarray, rna: bool) -> tuple:
        """The rows of one table the intervals use (baseline CD4 known, from 180 days before
        T0 to the end of follow-up): patient code (int32), day since T0, value, is-RNA."""
        day = (dates - t0.to_numpy()[code]).dt.days.to_numpy(dtype=float)
        raw = day / DAYS_PER_YEAR
        keep = np.flatnonzero(has_baseline[code] & (raw >= earliest) & (raw < end_years[code]))
        return (code[keep].astype(np.int32), day[keep], value[keep],
                np.full(len(keep), rna))

    cd4 = cohort.absolute_cd4()
    parts = [marks(cd4["CD4_D"], cd4["code"].to_numpy(), np.sqrt(cd4["CD4_V"].to_numpy()),
                   False)]
    if not cohort.rna.empty:
        viremic = (rna_copies(cohort.rna["RNA_V"]).fillna(0) >= viremia_cutoff).astype(float)
        parts.append(marks(cohort.rna["RNA_D"], cohort.codes("tblLAB_RNA"), viremic.to_numpy(),
                           True))
        del viremic
    # one column at a time (CD4 rows, then RNA rows), each table's copy let go once joined
    columns = [list(column) for column in zip(*parts)]
    del parts
    code, day, value, is_rna = (_join(columns, k) for k in range(4))
    raw = day / DAYS_PER_YEAR
    # sorted by patient and day (the order of the years), stable as pandas' sort: one key
    day = day.astype(np.int64)
    low = day.min(initial=0)
    key = code.astype(np.int64)
    key *= day.max(initial=0) - low + 1
    day -= low
    key += day
    del day
    order = np.argsort(key, kind="stable")
    del key
    code, raw, value, is_rna = code[order], raw[order], value[order], is_rna[order]
    del order
    first_row = run_starts(code)
    sqrt_cd4 = ffill_runs(np.where(is_rna, np.nan, value), first_row)
    viremic = ffill_runs(np.where(is_rna, value, np.nan), first_row)
    del first_row, value, is_rna
    start = np.maximum(raw, 0.0)  # values measured before T0 apply from T0
    del raw
    last = ends_run(code) | ends_run(start)  # the last value of each patient's day
    code, start, sqrt_cd4 = code[last], start[last], sqrt_cd4[last]
    viremic = np.nan_to_num(viremic[last], nan=0.0)
    known = ~np.isnan(sqrt_cd4)
    code, start, sqrt_cd4, viremic = code[known], start[known], sqrt_cd4[known], viremic[known]
    at_t0 = start[run_starts(code)] == 0.0  # a CD4 value known at T0 (the baseline)
    code, start, sqrt_cd4, viremic = code[at_t0], start[at_t0], sqrt_cd4[at_t0], viremic[at_t0]
    final = ends_run(code)  # each patient's last interval ends at the end of follow-up
    stop = end_years[code]
    stop[~final] = start[1:][~final[:-1]]
    positive = stop > start
    code, start, stop = code[positive], start[positive], stop[positive]
    sqrt_cd4, viremic = sqrt_cd4[positive], viremic[positive]
    return pd.DataFrame({  # copy=False: the arrays as they are, not copied into blocks
        "PATIENT": patients.index.to_numpy()[code],
        "start": start,
        "stop": stop,
        "event": (ends_run(code) & had_event[code]).astype(int),
        "current_sqrt_cd4": sqrt_cd4,
        "current_viremic": viremic.astype(int),
    }, copy=False)


def counting_process_ranks(start, stop) -> tuple[np.ndarray, np.ndarray]:
    """(entry, stop) for statsmodels ``PHReg`` that give R survival's ``(start, stop]`` risk
    sets: a row is at risk at event times t with start < t <= stop.

    ``PHReg`` counts a row as at risk at its own entry time (start <= t), so a patient whose
    follow-up is split on an event day is in that day's risk set twice. The partial likelihood
    depends only on the order of times, so times are replaced by ranks: a stop time ``u`` by
    2 x its rank, a start time by 2 x its rank + 1, which puts every entry just after the
    events of its own day, deterministically (no jitter)."""
    start, stop = np.asarray(start, float), np.asarray(stop, float)
    times = np.unique(np.r_[start, stop])
    return (2 * np.searchsorted(times, start) + 1).astype(float), \
        (2 * np.searchsorted(times, stop)).astype(float)


def time_varying_cox(data: pd.DataFrame, covariates: list[str], model: str,
                     patients: pd.DataFrame | None = None,
                     references: dict[str, str] | None = None) -> pd.DataFrame:
    """Cox model with time-varying covariates on counting-process data (statsmodels
    ``PHReg``, set up in linear time by :class:`~immune_recovery.phreg.PHReg`, on
    :func:`counting_process_ranks`, R's ``(start, stop]`` rule, Breslow ties) on the
    package's design (:func:`~immune_recovery.covariates.design_matrix`); tidy rows like
    :class:`CoxModel`."""
    columns = {c: data[c] for c in covariates if c in data}
    extra = [c for c in covariates if c not in data]
    if extra:  # the patients' covariates, row by row (a left join on PATIENT)
        joined = patients[extra].reindex(data["PATIENT"].to_numpy())
        columns.update({c: pd.Series(joined[c].array, index=data.index) for c in extra})
        del joined
    design = design_matrix(pd.DataFrame(columns, copy=False), covariates, references)
    del columns
    used = design.attrs["references"]
    # the complete rows of the intervals and the design (what dropna on both side by side keeps)
    complete = data[["PATIENT", "start", "stop", "event"]].notna().all(axis=1).to_numpy() & \
        design.notna().all(axis=1).to_numpy()
    terms = list(design.columns)
    status = data["event"].to_numpy()[complete].astype(np.int8)  # 0/1: an eighth of int64
    events = int(status.sum())
    shape = {"leading": {"model": model}, "term": terms,
             "label": [term_label(t, used) for t in terms], "measure": "HR",
             "n": pd.unique(data["PATIENT"].to_numpy()[complete]).size, "events": events}
    reason = too_few_events(events, len(terms))
    if reason is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-convergence and overflow: judged below
            entry, stop = counting_process_ranks(data["start"].to_numpy()[complete],
                                                 data["stop"].to_numpy()[complete])
            # the intervals are let go: freed here when the caller passed them without
            # keeping a name for them (as time_varying_analysis does), before the fit's copies
            del data
            exog = np.empty((len(status), len(terms)))  # filled column by column, each
            for j, term in enumerate(terms):             # design column let go once copied
                exog[:, j] = design.pop(term).to_numpy(dtype=float)[complete]
            del design
            fit = PHReg(stop, exog, status=status, entry=entry, ties="breslow").fit()
            retvals = getattr(fit, "mle_retvals", None) or {}
            converged = retvals.get("converged", True)
            reason = separated(np.asarray(fit.params), np.asarray(fit.bse)) if converged \
                else "not estimable: the Cox model did not converge"
    if reason:
        return not_estimable_table(reason, **shape)
    ci = np.asarray(fit.conf_int())
    return estimates_table(estimate=np.exp(np.asarray(fit.params)), ci_low=np.exp(ci[:, 0]),
                           ci_high=np.exp(ci[:, 1]), p=np.asarray(fit.pvalues), **shape)


# --------------------------------------------------------------------------------------
# Non-proportional hazards: time-split hazard ratios and restricted mean survival time
# --------------------------------------------------------------------------------------

#: Schoenfeld p-value below which a term's hazard ratio is treated as changing over time.
PH_ALPHA = 0.05


def flagged_terms(ph: pd.DataFrame, alpha: float = PH_ALPHA) -> list[str]:
    """Terms of a :meth:`CoxModel.proportional_hazards` table with p < ``alpha``."""
    return [str(t) for t in ph.loc[ph["p"] < alpha, "term"]]


def _interval_labels(cuts: list[float]) -> list[str]:
    edges = [0.0, *cuts]
    return [f"{a:g}-{b:g} y" for a, b in zip(edges[:-1], edges[1:])] + [f">{cuts[-1]:g} y"]


def time_split_cox(data: pd.DataFrame, covariates: list[str], split: list[str],
                   cuts_years: list[float], references: dict[str, str] | None = None,
                   model: str = "time-split") -> pd.DataFrame:
    """Cox model in which each design column of ``split`` has its own hazard ratio in each
    follow-up interval (cut at ``cuts_years`` after the origin of ``time_years``); the other
    columns keep one HR. Episode-split counting-process data, statsmodels ``PHReg`` on
    :func:`counting_process_ranks` (R's ``(start, stop]`` rule; Breslow ties). Rows in the
    one result shape; terms ``column @ interval`` (an interval in which no patient with a
    non-zero value has an event is left out)."""
    design = design_matrix(data, covariates, references)
    used = design.attrs["references"]
    frame = pd.concat([design, data[["time_years", "event"]]], axis=1).dropna()
    frame = frame[frame["time_years"] > 0]
    edges = np.array([0.0, *cuts_years, np.inf])
    labels = _interval_labels(cuts_years)
    parts = []
    for i in range(len(labels)):
        start, stop = edges[i], np.minimum(frame["time_years"], edges[i + 1])
        part = frame[frame["time_years"] > start].copy()
        part["start"], part["stop"] = start, stop[part.index]
        part["event"] = part["event"] * (part["time_years"] <= edges[i + 1])
        for column in split:
            for j, other in enumerate(labels):
                part[f"{column} @ {other}"] = part[column] * (j == i)
        parts.append(part)
    episodes = pd.concat(parts)
    terms = [c for c in design.columns if c not in split] + [
        f"{c} @ {lab}" for c in split for lab in labels
        if ((episodes[f"{c} @ {lab}"] != 0) & (episodes["event"] == 1)).any()]
    entry, stop = counting_process_ranks(episodes["start"], episodes["stop"])
    fit = PHReg(stop, episodes[terms].to_numpy(dtype=float),
                status=episodes["event"].to_numpy(), entry=entry, ties="breslow").fit()
    ci = np.asarray(fit.conf_int())

    def label(term: str) -> str:
        column, _, interval = term.partition(" @ ")
        return term_label(column, used) + (f", {interval} after the origin" if interval else "")

    return estimates_table(
        leading={"model": model}, term=terms, label=[label(t) for t in terms], measure="HR",
        estimate=np.exp(np.asarray(fit.params)), ci_low=np.exp(ci[:, 0]),
        ci_high=np.exp(ci[:, 1]), p=np.asarray(fit.pvalues), n=len(frame),
        events=int(frame["event"].sum()))


def rmst(time: np.ndarray, event: np.ndarray, horizon: float) -> tuple[float, float]:
    """Restricted mean survival time to ``horizon`` under the Kaplan-Meier curve (lifelines
    ``KaplanMeierFitter`` and ``restricted_mean_survival_time``) and its Greenwood-type
    variance, sum over event times t_j <= horizon of A_j^2 d_j / (n_j (n_j - d_j)) with A_j
    the area under the curve from t_j to the horizon (the estimator of R ``survRM2``)."""
    kmf = KaplanMeierFitter().fit(time, event)
    mean = float(restricted_mean_survival_time(kmf, t=horizon))
    table = kmf.event_table
    table = table[(table.index <= horizon) & (table.index > 0)]
    times = np.r_[table.index.to_numpy(dtype=float), horizon]
    surv = kmf.survival_function_at_times(table.index).to_numpy()
    # area from each event time t_j to the horizon under the step function
    area = np.cumsum((surv * np.diff(times))[::-1])[::-1]
    d, n = table["observed"].to_numpy(), table["at_risk"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where((d > 0) & (n > d), area ** 2 * d / (n * (n - d)), 0.0)
    return mean, float(terms.sum())


def rmst_difference(data: pd.DataFrame, reference: str, horizon_years: float | None = None,
                    group: str = "status") -> pd.DataFrame:
    """Restricted mean event-free time to ``horizon_years`` by group (:func:`rmst`) and each
    group's difference from ``reference`` with a normal 95% CI. Default horizon: the shortest
    of the groups' longest follow-up times (so every curve is estimated up to it).

    Columns: ``group``, ``patients``, ``events``, ``horizon_years``, ``rmst_years``,
    ``difference_years`` (group minus reference; negative = less event-free time),
    ``ci_low``, ``ci_high``."""
    groups = sorted(data[group].dropna().unique(), key=str)
    if horizon_years is None:
        horizon_years = float(data.groupby(group)["time_years"].max().min())
    fits = {}
    for g in groups:
        part = data[data[group] == g]
        fits[g] = (len(part), int(part["event"].sum()),
                   *rmst(part["time_years"].to_numpy(), part["event"].to_numpy(),
                         horizon_years))
    ref_mean, ref_var = fits[reference][2], fits[reference][3]
    rows = []
    for g in groups:
        n, events, mean, var = fits[g]
        own = g == reference
        diff = np.nan if own else mean - ref_mean
        se = np.nan if own else np.sqrt(var + ref_var)
        rows.append({"group": g, "patients": n, "events": events,
                     "horizon_years": horizon_years, "rmst_years": mean,
                     "difference_years": diff, "ci_low": diff - Z95 * se,
                     "ci_high": diff + Z95 * se})
    return pd.DataFrame(rows)


def non_proportional_sentence(flagged: list[str]) -> str:
    """The report's sentence about terms whose hazard ratio changes over time."""
    if not flagged:
        return ("No term's Schoenfeld test has p < 0.05: the single hazard ratios are not "
                "contradicted by the proportional-hazards check.")
    return ("Schoenfeld tests with p < 0.05 for " + ", ".join(flagged) + ": the hazard "
            "ratio changes over follow-up, so the single hazard ratio above averages over a "
            "changing effect (weighted by when events happen). The time-split hazard ratios "
            "show how it changes; the restricted mean survival time difference is a summary "
            "that does not assume proportional hazards.")


def exclusions_table(data: pd.DataFrame) -> pd.DataFrame:
    """Who entered the landmark analysis and why the others did not."""
    rows = [{"step": k.replace("_", " "), "patients": v}
            for k, v in data.attrs.get("exclusions", {}).items()]
    rows.append({"step": "entered the landmark analysis", "patients": len(data)})
    return captioned(pd.DataFrame(rows), "Patients entering the landmark analysis, and why "
                     "the others did not")


def time_varying_analysis(cohort: Cohort, patients: pd.DataFrame, event: str,
                          adjust: tuple[str, ...] = ("age10", "prior_aids")) -> pd.DataFrame:
    """Current CD4 (and current viremia, with viral loads) as time-varying covariates, with the
    baseline covariates of ``adjust`` that every patient has."""
    terms = ["current_sqrt_cd4"] + (["current_viremic"] if cohort.has_rna else [])
    usable = [a for a in adjust if a in patients and patients[a].notna().all()
              and patients[a].nunique() > 1]
    # the intervals are not named here, so time_varying_cox can free them before its fit
    table = time_varying_cox(time_varying_data(cohort, patients, event=event),
                             terms + usable, "time-varying", patients)
    return captioned(table, "Cox model with current CD4 (and viremia) as time-varying "
                     "covariates")


def combine(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack the tidy Cox tables of several models (``cox.csv``)."""
    return pd.concat(tables, ignore_index=True) if tables else \
        empty_estimates(COX_LEADING, COX_EXTRAS)


def forest_of(cox: pd.DataFrame):
    """Forest plot of every term of every model in a ``cox.csv`` table."""
    table = cox.assign(row_label=cox["model"] + ": " + cox["label"])
    return forest(table, "estimate", "ci_low", "ci_high", label="row_label",
                  xlabel="Hazard ratio (95% CI)")
