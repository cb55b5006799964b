"""Classify every patient under many non-response definitions at once.

Rules (the contract; each is pinned by a test in ``tests/test_classify.py``)
------------------------------------------------------------------------------
* Time origin T0 = ``tblBAS.RECART_D``, else the earliest ``tblART.ART_SD``.
* Only absolute CD4 counts (``CD4_U = 1``, cells/mm³) are used.
* Baseline CD4: the count in [T0 - 180 d, T0 + 7 d] closest to T0, ties to the earlier date.
  Every definition needs a baseline count (so that denominators are comparable across
  definitions); a patient without one is ``no_baseline_cd4``.
* Assessment at month M: target T0 + round(M x 30.4375) days (halves up), or T0 + D for a
  definition given in days; the count in [target - W, target + W] closest to the target, ties
  to the earlier date; W = 45 d up to 12 months, 90 d beyond, unless the definition sets it.
* CD4 rules (true = no CD4 response): ``gain_lt``/``gain_le`` (assessed - baseline against the
  threshold), ``level_lt``/``level_le``, ``rel_gain_lt`` (gain as percent of baseline),
  ``never_above`` (no count above the threshold dated from T0 through the assessed count),
  ``below_baseline``, and ``all_of``/``any_of`` combinations.
* Confirmation (``confirm_counts`` = k): non-response also needs the next k - 1 counts, each at
  most ``confirm_max_gap_days`` after the one before, to meet the rule; one that does not makes
  the patient a responder; a missing one makes the patient ``no_confirmatory_cd4``.
* Viral-load rules: ``at_assessment`` (the RNA result in the assessment window closest to the
  target, ties to the earlier, is below the cut-off), ``sustained`` (every RNA result dated from
  month X through the end of the assessment window is below the cut-off, and there is at least
  one), or ``none``. Negative HICDEP values are below their limit: ``-1`` (limit unknown) counts
  as below; ``-L`` is below the cut-off when L <= cut-off and cannot be judged otherwise.
* Not assessable, first reason that applies: ``no_baseline_cd4``, ``no_cd4_at_assessment``,
  ``zero_baseline`` (relative rule with baseline 0), ``no_confirmatory_cd4``, ``no_rna`` (a viral-load rule applies but
  no result qualifies), ``rna_limit_above_cutoff``.
* Groups with a viral-load rule: ``complete_responder``, ``immunologic_nonresponder``,
  ``virologic_nonresponder``, ``complete_nonresponder``; without one (rule ``none``, or a cohort
  without ``tblLAB_RNA``: ``vl_rule_applied = false``): ``cd4_responder``/``cd4_nonresponder``;
  otherwise ``not_assessable``.

Speed: measurements are held as one series per patient with days relative to T0
(:class:`~immune_recovery.measurements.PatientSeries`), sorted only if the input is not in
order. Every day offset any definition needs (targets, window ends, sustained starts) is
counted for all patients in one pass; each distinct target is then picked once, with a few
O(patients) array operations; ``never_above`` and ``sustained`` read per-patient range maxima
(cut-off-independent, so computed once per distinct range). No per-patient Python loop, no
join, no binary search into the measurement table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cohort import Cohort
from .definitions import Definition
from .conventions import BASELINE_WINDOW_DAYS, CD4_ABSOLUTE_UNIT, MISSING_DAY, from_days, to_days
from .measurements import PatientSeries

GROUPS = ("complete_responder", "immunologic_nonresponder", "virologic_nonresponder",
          "complete_nonresponder", "cd4_responder", "cd4_nonresponder", "not_assessable")
REASONS = ("", "no_baseline_cd4", "no_cd4_at_assessment", "zero_baseline", "no_rna",
           "rna_limit_above_cutoff", "no_confirmatory_cd4")
_G = {name: i for i, name in enumerate(GROUPS)}
_R = {name: i for i, name in enumerate(REASONS)}

@dataclass
class PreparedCohort:
    """Per-patient series of one cohort, built once and shared by every definition."""

    patients: pd.Index
    t0: np.ndarray  #: T0 day (days since 1970-01-01), MISSING_DAY if none
    cd4: PatientSeries  #: absolute counts, days relative to T0
    cd4_values: np.ndarray  #: cells/mm3, in series order, padded with -inf (range maxima)
    rna: PatientSeries | None
    rna_detectable: np.ndarray | None  #: copies/mL of detectable results, -inf if censored
    rna_censor_limit: np.ndarray | None  #: limit L of "< L" results, -inf otherwise
    # the three arrays above carry one trailing -inf (PatientSeries.padded)
    has_rna: bool
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.patients)

    def cached(self, key: tuple, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def prepare(cohort: Cohort) -> PreparedCohort:
    """Extract the per-patient series the classifier needs (absolute CD4 only)."""
    t0_day = cohort.t0_day
    n = cohort.n_patients
    cd4 = cohort.cd4
    absolute = (cd4["CD4_U"] == CD4_ABSOLUTE_UNIT).fillna(False).to_numpy(dtype=bool)
    codes, days = cd4["PATIENT"].cat.codes.to_numpy(), to_days(cd4["CD4_D"].to_numpy())
    cd4_values = cd4["CD4_V"].to_numpy(dtype="float64")
    if not absolute.all():  # exports are mostly absolute counts: no copy then
        codes, days, cd4_values = codes[absolute], days[absolute], cd4_values[absolute]
    series = PatientSeries.build(codes, days, t0_day, n)
    values = series.take_padded(cd4_values)
    rna_series = detectable = limit = None
    if not cohort.rna.empty:
        rna = cohort.rna
        rna_series = PatientSeries.build(rna["PATIENT"].cat.codes.to_numpy(),
                                         to_days(rna["RNA_D"].to_numpy()), t0_day, n)
        v = rna_series.take_padded(rna["RNA_V"].to_numpy(dtype="float64"), np.nan)[:-1]
        detectable = np.full(v.size + 1, -np.inf)
        np.copyto(detectable[:-1], v, where=v >= 0)
        # -L: below the limit L; -1: undetectable with unknown limit (below any cut-off)
        limit = np.full(v.size + 1, -np.inf)
        np.negative(v, out=limit[:-1], where=(v < 0) & (v != -1))
    return PreparedCohort(patients=cohort.patients, t0=t0_day, cd4=series, cd4_values=values,
                          rna=rna_series, rna_detectable=detectable, rna_censor_limit=limit,
                          has_rna=cohort.has_rna)


@dataclass
class DefinitionResult:
    """Per-patient arrays for one definition (length = number of patients)."""

    definition: Definition
    assessed_row: np.ndarray  #: row of the assessed count in the CD4 series, -1 if none
    suppressed: np.ndarray  #: int8: 1 suppressed, 0 not, -1 unknown / not applicable
    group: np.ndarray  #: int8 codes into GROUPS
    reason: np.ndarray  #: int8 codes into REASONS
    vl_rule_applied: bool
    _prep: PreparedCohort = field(repr=False)

    @property
    def assessed_cd4(self) -> np.ndarray:
        """Assessed count, cells/mm3 (NaN when none)."""
        return _take(self._prep.cd4_values, self.assessed_row, np.nan)

    @property
    def assessed_day(self) -> np.ndarray:
        """Day of the assessed count (days since 1970-01-01; MISSING_DAY when none)."""
        rel = _take(self._prep.cd4.rel_day.astype(np.int64), self.assessed_row, 0)
        return np.where(self.assessed_row >= 0, self._prep.t0 + rel, MISSING_DAY)


@dataclass
class Classification:
    """The classifier's output: per-definition arrays plus the shared baseline."""

    patients: pd.Index
    t0: np.ndarray
    baseline_cd4: np.ndarray
    baseline_day: np.ndarray
    results: dict[str, DefinitionResult]
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def definitions(self) -> list[Definition]:
        return [r.definition for r in self.results.values()]

    def groups(self, definition_id: str) -> pd.Series:
        """Group labels of one definition, indexed by patient."""
        codes = self.results[definition_id].group
        return pd.Series(pd.Categorical.from_codes(codes, categories=GROUPS),
                         index=self.patients, name=definition_id)

    def long(self) -> pd.DataFrame:
        """One row per patient x definition (columns of the ``classify`` command)."""
        n = len(self.patients)
        parts = []
        base_date = from_days(self.baseline_day)
        for def_id, res in self.results.items():
            assessed = res.assessed_cd4
            suppressed = pd.array(np.where(res.suppressed < 0, None, res.suppressed == 1),
                                  dtype="boolean")
            parts.append(pd.DataFrame({
                "PATIENT": self.patients.to_numpy(),
                "definition": def_id,
                "baseline_cd4": self.baseline_cd4,
                "baseline_date": base_date,
                "assessed_cd4": assessed,
                "assessed_date": from_days(res.assessed_day),
                "gain": assessed - self.baseline_cd4,
                "suppressed": suppressed,
                "vl_rule_applied": np.full(n, res.vl_rule_applied),
                "group": pd.Categorical.from_codes(res.group, categories=GROUPS),
                "reason": pd.Categorical.from_codes(res.reason, categories=REASONS),
            }))
        out = pd.concat(parts, ignore_index=True)
        out["definition"] = pd.Categorical(out["definition"], categories=list(self.results))
        return out

    def group_counts(self) -> pd.DataFrame:
        """Patients per definition and group (every group column, zeros included)."""
        rows = {d: np.bincount(r.group, minlength=len(GROUPS)) for d, r in self.results.items()}
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(GROUPS))


class _Clock:
    """Seconds per named phase, accumulated between laps (``time.perf_counter``)."""

    def __init__(self) -> None:
        import time

        self._now = time.perf_counter
        self._last = self._now()
        self.totals: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = self._now()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - self._last
        self._last = now


def _take(values: np.ndarray, positions: np.ndarray, fill) -> np.ndarray:
    """``values[positions]`` where ``positions >= 0``, else ``fill`` (safe on empty arrays)."""
    found = positions >= 0
    if values.size == 0:
        return np.full(positions.shape, fill, dtype=np.result_type(values.dtype, type(fill)))
    return np.where(found, values[np.where(found, positions, 0)], fill)


def cd4_nonresponse(definition: Definition, baseline: np.ndarray, assessed: np.ndarray,
                    max_since_t0: np.ndarray | None = None) -> np.ndarray:
    """Whether the CD4 rule of ``definition`` is met (cells/mm³; ``max_since_t0`` only for
    ``never_above``), element-wise."""
    gain = assessed - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = 100.0 * gain / baseline
    flags = []
    for c in definition.criteria:
        if c.rule == "gain_lt":
            flags.append(gain < c.threshold)
        elif c.rule == "gain_le":
            flags.append(gain <= c.threshold)
        elif c.rule == "level_lt":
            flags.append(assessed < c.threshold)
        elif c.rule == "level_le":
            flags.append(assessed <= c.threshold)
        elif c.rule == "rel_gain_lt":
            flags.append(relative < c.threshold)
        elif c.rule == "never_above":
            flags.append(max_since_t0 <= c.threshold)
        elif c.rule == "below_baseline":
            flags.append(assessed < baseline)
    if definition.combine == "any_of":
        return np.logical_or.reduce(flags)
    return np.logical_and.reduce(flags)


def _confirm(prep: PreparedCohort, definition: Definition, baseline: np.ndarray,
             row: np.ndarray, nonresponse: np.ndarray, max_since_t0: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray]:
    """(confirmed non-response, confirmation missing) for ``confirm_counts`` > 1."""
    end = prep.cd4.starts[1:]
    rel_day = prep.cd4.rel_day.astype(np.int64)
    pending = nonresponse & (row >= 0)
    missing = np.zeros(pending.size, bool)
    running_max = max_since_t0
    previous = row
    for j in range(1, definition.confirm_counts):
        nxt = np.where(row >= 0, row + j, -1)
        exists = (row >= 0) & (nxt < end)
        gap = _take(rel_day, np.where(exists, nxt, -1), 0) - _take(rel_day, previous, 0)
        valid = exists & (gap <= definition.confirm_max_gap_days)
        value = _take(prep.cd4_values, np.where(valid, nxt, -1), np.nan)
        if running_max is not None:
            running_max = np.fmax(running_max, value)
        again = cd4_nonresponse(definition, baseline, value, running_max)
        missing |= pending & ~valid
        pending &= valid & again
        previous = nxt
    return pending, missing


def _rna_offsets(definition: Definition) -> list[int]:
    w = definition.window_days
    if definition.vl_rule == "at_assessment":
        return [definition.target_days]
    if definition.vl_rule == "sustained":
        return [definition.vl_sustained_from_days, definition.target_days + w + 1]
    return []


def _viral_load(prep: PreparedCohort, definition: Definition
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(suppressed, no_rna, unjudgeable) per patient for one definition."""
    n = prep.n
    if prep.rna is None or len(prep.rna) == 0:
        return np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool)
    w = definition.window_days
    cutoff = definition.vl_cutoff
    if definition.vl_rule == "at_assessment":
        row = prep.cached(("rna_closest", definition.target_days, w),
                          lambda: prep.rna.closest(definition.target_days, w, w))
        found = row >= 0
        detect = _take(prep.rna_detectable, row, -np.inf)
        limit = _take(prep.rna_censor_limit, row, -np.inf)
        above = found & (detect >= cutoff)
        unjudgeable = found & ~above & (limit > cutoff)
        return found & ~above & ~unjudgeable, ~found, unjudgeable
    first, last = definition.vl_sustained_from_days, definition.target_days + w

    def maxima():
        lo, hi = prep.rna.row_range(first, last)
        return (hi - lo, PatientSeries.range_max(prep.rna_detectable, lo, hi),
                PatientSeries.range_max(prep.rna_censor_limit, lo, hi))

    total, max_detect, max_limit = prep.cached(("rna_range", first, last), maxima)
    above = max_detect >= cutoff
    unjudgeable = (total > 0) & ~above & (max_limit > cutoff)
    return (total > 0) & ~above & ~unjudgeable, total == 0, unjudgeable


def classify(cohort: Cohort | PreparedCohort, definitions: list[Definition]) -> Classification:
    """Classify every patient under every definition (see the module docstring for the rules).

    ``result.timings`` holds the seconds spent per phase (prepare, counts, baseline, picks,
    viral-load rules, assembly), for the benchmark."""
    clock = _Clock()
    prep = cohort if isinstance(cohort, PreparedCohort) else prepare(cohort)
    clock.lap("prepare")
    n = prep.n
    before, after = BASELINE_WINDOW_DAYS
    # every day offset any definition needs, counted for all patients in one pass per series
    prep.cd4.counts_before([0] + [d.target_days for d in definitions])
    if prep.rna is not None and prep.has_rna:
        prep.rna.counts_before([o for d in definitions for o in _rna_offsets(d)] or [0])
    clock.lap("counts")
    base_row = prep.cached(("cd4_closest", 0, before, after),
                           lambda: prep.cd4.closest(0, before, after))
    has_base = base_row >= 0
    baseline = _take(prep.cd4_values, base_row, np.nan)
    baseline_day = np.where(has_base, prep.t0 + _take(prep.cd4.rel_day.astype(np.int64),
                                                       base_row, 0), MISSING_DAY)
    clock.lap("baseline")
    results: dict[str, DefinitionResult] = {}
    for definition in definitions:
        t, w = definition.target_days, definition.window_days
        row = prep.cached(("cd4_closest", t, w, w), lambda: prep.cd4.closest(t, w, w))
        found = row >= 0
        assessed = _take(prep.cd4_values, row, np.nan)
        max_since_t0 = None
        if any(c.rule == "never_above" for c in definition.criteria):
            def since_t0():
                lo = prep.cd4.first_at_or_after(0)
                return PatientSeries.range_max(prep.cd4_values, lo, np.where(found, row + 1, lo))
            max_since_t0 = prep.cached(("cd4_max_since_t0", t, w), since_t0)
        nonresponse = cd4_nonresponse(definition, baseline, assessed, max_since_t0)
        unconfirmed = np.zeros(n, bool)
        if definition.confirm_counts > 1:
            nonresponse, unconfirmed = _confirm(prep, definition, baseline, row, nonresponse,
                                                max_since_t0)
        clock.lap("picks")

        vl_applied = definition.vl_rule != "none" and prep.has_rna
        reason = np.zeros(n, dtype=np.int8)
        reason[~has_base] = _R["no_baseline_cd4"]
        reason[(reason == 0) & ~found] = _R["no_cd4_at_assessment"]
        if definition.is_relative:
            reason[(reason == 0) & (baseline == 0)] = _R["zero_baseline"]
        reason[(reason == 0) & unconfirmed] = _R["no_confirmatory_cd4"]
        suppressed_flag = np.full(n, -1, dtype=np.int8)
        if vl_applied:
            supp, no_rna, unj = _viral_load(prep, definition)
            clock.lap("viral_load")
            reason[(reason == 0) & no_rna] = _R["no_rna"]
            reason[(reason == 0) & unj] = _R["rna_limit_above_cutoff"]
            suppressed_flag = np.where(no_rna | unj, -1, supp).astype(np.int8)
            group = np.select(
                [supp & ~nonresponse, supp & nonresponse, ~supp & ~nonresponse],
                [_G["complete_responder"], _G["immunologic_nonresponder"],
                 _G["virologic_nonresponder"]],
                default=_G["complete_nonresponder"])
        else:
            group = np.where(nonresponse, _G["cd4_nonresponder"], _G["cd4_responder"])
        group = np.where(reason > 0, _G["not_assessable"], group).astype(np.int8)
        results[definition.id] = DefinitionResult(
            definition=definition, assessed_row=row, suppressed=suppressed_flag, group=group,
            reason=reason, vl_rule_applied=vl_applied, _prep=prep)
        clock.lap("assembly")
    return Classification(patients=prep.patients, t0=prep.t0, baseline_cd4=baseline,
                          baseline_day=baseline_day, results=results, timings=clock.totals)


def nonresponder_flags(result: Classification, definition_id: str
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(in the denominator, non-responder) per patient, by the contract above."""
    res = result.results[definition_id]
    g = res.group
    if res.vl_rule_applied:
        denominator = (g == _G["complete_responder"]) | (g == _G["immunologic_nonresponder"])
        numerator = g == _G["immunologic_nonresponder"]
    else:
        denominator = (g == _G["cd4_responder"]) | (g == _G["cd4_nonresponder"])
        numerator = g == _G["cd4_nonresponder"]
    return denominator, numerator
