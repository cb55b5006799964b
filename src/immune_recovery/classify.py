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
order, and the cohort's value columns are used in place. Each distinct (target, window) is
picked once by a compiled loop over patients that reads only the patient's own rows (a binary
search in them); ``never_above`` and ``sustained`` read per-patient range maxima
(cut-off-independent, so computed once per distinct range). These run
``threads`` at a time (the loops release the GIL). Per definition, only O(patients) array
operations remain. No per-patient Python loop, no join; the only temporaries as long as the
measurement table are the days relative to T0 (and, for input out of order, the sort).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from .cohort import Cohort
from .conventions import BASELINE_WINDOW_DAYS, CD4_ABSOLUTE_UNIT, MISSING_DAY, from_days
from .definitions import Definition
from .measurements import PatientSeries, first_row_at_or_after
from .timing import Stopwatch

GROUPS = ("complete_responder", "immunologic_nonresponder", "virologic_nonresponder",
          "complete_nonresponder", "cd4_responder", "cd4_nonresponder", "not_assessable")
REASONS = ("", "no_baseline_cd4", "no_cd4_at_assessment", "zero_baseline", "no_rna",
           "rna_limit_above_cutoff", "no_confirmatory_cd4")
_G = {name: i for i, name in enumerate(GROUPS)}
_R = {name: i for i, name in enumerate(REASONS)}
#: The codes :func:`_assemble` writes, in its order.
_CODES = np.array([_R[r] for r in ("no_baseline_cd4", "no_cd4_at_assessment", "zero_baseline",
                                   "no_confirmatory_cd4", "no_rna", "rna_limit_above_cutoff")]
                  + [_G[g] for g in ("complete_responder", "immunologic_nonresponder",
                                     "virologic_nonresponder", "complete_nonresponder",
                                     "cd4_responder", "cd4_nonresponder", "not_assessable")],
                  dtype=np.int8)

@dataclass
class PreparedCohort:
    """Per-patient series of one cohort, built once and shared by every definition."""

    patients: pd.Index
    t0: np.ndarray  #: T0 day (days since 1970-01-01), MISSING_DAY if none
    cd4: PatientSeries  #: absolute counts, days relative to T0
    cd4_values: np.ndarray  #: cells/mm3, in series order
    rna: PatientSeries | None
    rna_values: np.ndarray | None  #: HICDEP RNA_V (copies/mL; -L: "< L"), in series order
    has_rna: bool
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.patients)

    @property
    def rna_rows(self) -> bool:
        """Whether there are RNA results to apply a viral-load rule to."""
        return self.has_rna and self.rna is not None and len(self.rna) > 0

    def pick_cd4(self, offset: int, before: int, after: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, count in cells/mm3) per patient of the CD4 count closest to T0 + ``offset``
        within the window (days); -1 and NaN where there is none."""
        return self.cd4.pick(self.cd4_values, offset, before, after)

    def cached(self, key: tuple, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def prepare(cohort: Cohort) -> PreparedCohort:
    """Extract the per-patient series the classifier needs (absolute CD4 only). Nothing is
    copied from the cohort's columns when they are in (patient, date) order. (The two series
    are built one after the other: side by side in two threads measured slower, the build
    being bound by memory traffic.)"""
    t0_day = cohort.t0_day
    n = cohort.n_patients
    cd4 = cohort.cd4
    absolute = (cd4["CD4_U"] == CD4_ABSOLUTE_UNIT).fillna(False).to_numpy(dtype=bool)
    codes, dates = cd4["PATIENT"].cat.codes.to_numpy(), cd4["CD4_D"].to_numpy()
    cd4_values = cd4["CD4_V"].to_numpy(dtype="float64")
    if not absolute.all():  # exports are mostly absolute counts: no copy then
        codes, dates, cd4_values = codes[absolute], dates[absolute], cd4_values[absolute]
    series = PatientSeries.build(codes, dates, t0_day, n)
    rna_series = rna_values = None
    if not cohort.rna.empty:
        rna = cohort.rna
        rna_series = PatientSeries.build(rna["PATIENT"].cat.codes.to_numpy(),
                                         rna["RNA_D"].to_numpy(), t0_day, n)
        rna_values = rna_series.take(rna["RNA_V"].to_numpy(dtype="float64"))
    return PreparedCohort(patients=cohort.patients, t0=t0_day, cd4=series,
                          cd4_values=series.take(cd4_values), rna=rna_series,
                          rna_values=rna_values, has_rna=cohort.has_rna)


def _run(work: list, threads: int | None) -> list:
    """Results of the callables in ``work``, ``threads`` at a time (default: the machine's
    cores). Meant for the compiled loops, which release the GIL; each callable must write only
    its own arrays, so that the results do not depend on the schedule."""
    threads = min(threads or os.cpu_count() or 1, len(work))
    if threads <= 1:
        return [compute() for compute in work]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda compute: compute(), work))


@dataclass
class DefinitionResult:
    """Per-patient arrays for one definition (length = number of patients)."""

    definition: Definition
    assessed_row: np.ndarray  #: row of the assessed count in the CD4 series, -1 if none
    suppressed: np.ndarray  #: int8: 1 suppressed, 0 not, -1 unknown / not applicable
    group: np.ndarray  #: int8 codes into GROUPS
    reason: np.ndarray  #: int8 codes into REASONS
    vl_rule_applied: bool
    assessed_cd4: np.ndarray  #: assessed count, cells/mm3 (NaN when none)
    _prep: PreparedCohort = field(repr=False)

    @property
    def assessed_day(self) -> np.ndarray:
        """Day of the assessed count (days since 1970-01-01; MISSING_DAY when none)."""
        rel = _take(self._prep.cd4.rel_day, self.assessed_row, 0)
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
    rules = {c.rule for c in definition.criteria}
    gain = assessed - baseline if rules & {"gain_lt", "gain_le", "rel_gain_lt"} else None
    relative = None
    if "rel_gain_lt" in rules:
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
    rel_day = prep.cd4.rel_day
    pending = nonresponse & (row >= 0)
    missing = np.zeros(pending.size, bool)
    running_max = max_since_t0
    previous = row
    for j in range(1, definition.confirm_counts):
        nxt = np.where(row >= 0, row + j, -1)
        exists = (row >= 0) & (nxt < end)
        gap = (_take(rel_day, np.where(exists, nxt, -1), 0).astype(np.int64)
               - _take(rel_day, previous, 0))
        valid = exists & (gap <= definition.confirm_max_gap_days)
        value = _take(prep.cd4_values, np.where(valid, nxt, -1), np.nan)
        if running_max is not None:
            running_max = np.fmax(running_max, value)
        again = cd4_nonresponse(definition, baseline, value, running_max)
        missing |= pending & ~valid
        pending &= valid & again
        previous = nxt
    return pending, missing


@numba.njit(cache=True, nogil=True)
def _rna_range_maxima(starts, rel, values, first, last):  # pragma: no cover - compiled
    """Per patient, over RNA_V dated ``first <= day <= last`` (days since T0): (number of
    results, largest detectable value, largest limit L of a "< L" result (RNA_V = -L; -1,
    limit unknown, is below any cut-off)); -inf where there is none."""
    n = starts.size - 1
    total = np.empty(n, np.int64)
    detectable = np.full(n, -np.inf)
    limit = np.full(n, -np.inf)
    for p in range(n):
        lo = first_row_at_or_after(rel, starts[p], starts[p + 1], first)
        hi = first_row_at_or_after(rel, lo, starts[p + 1], last + 1)
        total[p] = hi - lo
        for i in range(lo, hi):
            v = values[i]
            if v >= 0:
                detectable[p] = max(detectable[p], v)
            elif v < 0 and v != -1:
                limit[p] = max(limit[p], -v)
    return total, detectable, limit


def _rna_pick(prep: PreparedCohort, target: int, window: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(found, detectable value or -inf, limit L of "< L" or -inf) of the RNA result closest
    to the target (cut-off-independent, so computed once per target and window)."""
    row, value = prep.rna.pick(prep.rna_values, target, window, window)
    return (row >= 0, np.where(value >= 0, value, -np.inf),
            np.where((value < 0) & (value != -1), -value, -np.inf))


def _viral_load(prep: PreparedCohort, definition: Definition
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(suppressed, no_rna, unjudgeable) per patient for one definition."""
    n = prep.n
    if not prep.rna_rows:
        return np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool)
    w = definition.window_days
    cutoff = definition.vl_cutoff
    if definition.vl_rule == "at_assessment":
        found, detect, limit = _shared(prep, ("rna_pick", definition.target_days, w))
        above = found & (detect >= cutoff)
        unjudgeable = found & ~above & (limit > cutoff)
        return found & ~above & ~unjudgeable, ~found, unjudgeable
    total, max_detect, max_limit = _shared(
        prep, ("rna_range", definition.vl_sustained_from_days, definition.target_days + w))
    above = max_detect >= cutoff
    unjudgeable = (total > 0) & ~above & (max_limit > cutoff)
    return (total > 0) & ~above & ~unjudgeable, total == 0, unjudgeable


@numba.njit(cache=True, nogil=True)
def _assemble(has_base, found, zero_base, unconfirmed, nonresponse, vl_applied, supp, no_rna,
              unj, codes):  # pragma: no cover - compiled
    """(reason, group, suppressed) per patient: the first reason that applies, in the order of
    the contract; the group from CD4 non-response and (if applied) suppression; suppressed 1/0,
    -1 when unknown or not applied. ``codes``: :data:`_CODES`."""
    n = has_base.size
    reason = np.zeros(n, np.int8)
    group = np.empty(n, np.int8)
    suppressed = np.full(n, -1, np.int8)
    for i in range(n):
        if not has_base[i]:
            reason[i] = codes[0]
        elif not found[i]:
            reason[i] = codes[1]
        elif zero_base[i]:
            reason[i] = codes[2]
        elif unconfirmed[i]:
            reason[i] = codes[3]
        elif vl_applied and no_rna[i]:
            reason[i] = codes[4]
        elif vl_applied and unj[i]:
            reason[i] = codes[5]
        if vl_applied:
            if not (no_rna[i] or unj[i]):
                suppressed[i] = 1 if supp[i] else 0
            if supp[i]:
                group[i] = codes[7] if nonresponse[i] else codes[6]
            else:
                group[i] = codes[9] if nonresponse[i] else codes[8]
        else:
            group[i] = codes[11] if nonresponse[i] else codes[10]
        if reason[i] > 0:
            group[i] = codes[12]
    return reason, group, suppressed


def _shared_keys(prep: PreparedCohort, definitions: list[Definition]
                 ) -> tuple[list[tuple], list[tuple]]:
    """The cut-off-independent pieces the definitions share (keys of :func:`_shared`): one CD4
    pick per distinct (target, window); one RNA pick or range per distinct viral-load rule."""
    cd4 = {("cd4_pick", d.target_days, d.window_days) for d in definitions}
    rna = set()
    if prep.rna_rows:
        for d in definitions:
            if d.vl_rule == "at_assessment":
                rna.add(("rna_pick", d.target_days, d.window_days))
            elif d.vl_rule == "sustained":
                rna.add(("rna_range", d.vl_sustained_from_days, d.target_days + d.window_days))
    return sorted(cd4), sorted(rna)


def _compute(prep: PreparedCohort, key: tuple):
    """One shared piece: ``("cd4_pick", target, window)`` (row, count),
    ``("rna_pick", target, window)`` (see :func:`_rna_pick`) or ``("rna_range", first, last)``
    (see :func:`_rna_range_maxima`); days since T0."""
    kind, a, b = key
    if kind == "cd4_pick":
        return prep.pick_cd4(a, b, b)
    if kind == "rna_pick":
        return _rna_pick(prep, a, b)
    return _rna_range_maxima(prep.rna.starts, prep.rna.rel_day, prep.rna_values, a, b)


def _shared(prep: PreparedCohort, key: tuple):
    """The shared piece ``key``, computed on first use and kept in ``prep``."""
    return prep.cached(key, lambda: _compute(prep, key))


def _compute_shared(prep: PreparedCohort, keys: list[tuple], threads: int | None) -> None:
    """Compute the pieces ``keys`` not yet in ``prep``, ``threads`` at a time (:func:`_run`)."""
    keys = [key for key in keys if key not in prep._cache]
    done = _run([lambda key=key: _compute(prep, key) for key in keys], threads)
    prep._cache.update(zip(keys, done, strict=True))


def classify(cohort: Cohort | PreparedCohort, definitions: list[Definition],
             threads: int | None = None) -> Classification:
    """Classify every patient under every definition (see the module docstring for the rules).

    The picks and ranges the definitions share are computed once each, ``threads`` at a time
    (default: the machine's cores); the result does not depend on ``threads``.
    ``result.timings`` holds the seconds spent per phase (prepare, baseline, picks, viral-load
    rules, assembly), for the benchmark."""
    clock = Stopwatch()
    prep = cohort if isinstance(cohort, PreparedCohort) else prepare(cohort)
    clock.lap("prepare")
    n = prep.n
    before, after = BASELINE_WINDOW_DAYS
    base_row, baseline = prep.pick_cd4(0, before, after)
    has_base = base_row >= 0
    baseline_day = np.where(has_base, prep.t0 + _take(prep.cd4.rel_day, base_row, 0),
                            MISSING_DAY)
    clock.lap("baseline")
    cd4_keys, rna_keys = _shared_keys(prep, definitions)
    _compute_shared(prep, cd4_keys, threads)
    clock.lap("picks")
    _compute_shared(prep, rna_keys, threads)
    clock.lap("viral_load")
    results: dict[str, DefinitionResult] = {}
    for definition in definitions:
        t, w = definition.target_days, definition.window_days
        row, assessed = _shared(prep, ("cd4_pick", t, w))
        found = row >= 0
        max_since_t0 = None
        if any(c.rule == "never_above" for c in definition.criteria):
            def since_t0(found=found, row=row):
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
        if vl_applied:
            supp, no_rna, unj = _viral_load(prep, definition)
        else:
            supp = no_rna = unj = np.zeros(n, bool)
        clock.lap("viral_load")
        zero_base = (baseline == 0) if definition.is_relative else np.zeros(n, bool)
        reason, group, suppressed_flag = _assemble(
            has_base, row >= 0, zero_base, unconfirmed, nonresponse, vl_applied, supp,
            no_rna, unj, _CODES)
        results[definition.id] = DefinitionResult(
            definition=definition, assessed_row=row, suppressed=suppressed_flag, group=group,
            reason=reason, vl_rule_applied=vl_applied, assessed_cd4=assessed, _prep=prep)
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
