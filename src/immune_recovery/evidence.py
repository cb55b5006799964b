"""The background's claims, judged on pooled estimates of the published suppressed cohorts,
with their certainty.

``data/reference/claims.csv`` holds one row per checkable claim of the background text: its id,
a short paraphrase, the quoted passage, the kind of evidence that would test it, the tables that
hold that evidence (``sources``) and the data that would test it where ours cannot
(``data_needed``). A source is written ``<report-id>/<table>.csv[col col ...]`` (a table of
another report, found through ``reports/manifest.json``) or ``reference/<file>.csv[col ...]``
(a reference table under ``data/reference/``). Every claim has one evidence function
(:data:`EVALUATORS`); it may read only what its claim declares (:class:`ClaimSources`).

**What decides.** Immunologic non-response is defined by virologic suppression on combination
ART, so the direct evidence is the published cohorts (and, for IL-2, the randomized trials).
A verdict rests on one pooled estimate per claim (:mod:`immune_recovery.synthesis`: one
estimate per study, random effects with REML, HKSJ interval and prediction interval), or,
where the studies' estimates share no scale, on a synthesis by direction of effect with a sign
test (SWiM). It compares that estimate's 95% CI with the claim's decision threshold, named
below with its source:

* ``supported`` — the CI lies wholly on the claimed side of the threshold (inside a claimed
  range);
* ``contradicted`` — the CI lies wholly on the other side (outside the range);
* ``uncertain`` — the CI crosses the threshold;
* ``insufficient evidence`` — fewer than :data:`MIN_STUDIES` studies can be synthesized.

Each evidence row has a ``role``: ``pooled`` (decides), ``study`` (a study behind it, or a
study's other estimates), ``indirect`` (our analyses of the 1990s trials, which used nucleoside
therapy without viral loads, and trials that did not enrol non-responders) or ``simulated``
(the simulated cohort: calibrated to the same literature, it never decides).

**Certainty** (GRADE-style, :func:`certainty`): ``high`` to start (prevalence and prognosis
from cohorts, interventions from randomized trials; a direction-of-effect synthesis starts at
``low`` since it ignores magnitude), one level down for each of risk of bias, inconsistency,
indirectness and imprecision, each with its reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import synthesis
from .conventions import Z95
from .exceptions import EvidenceError
from .formatting import format_ci
from .meta.il2 import randomized_il2_trials
from .paths import reference_dir, relative_to_root, resolve

VERDICTS = ("supported", "contradicted", "uncertain", "insufficient evidence")
ROLES = ("pooled", "study", "indirect", "simulated")
CERTAINTY = ("high", "moderate", "low", "very low")
CLAIM_COLUMNS = ["claim_id", "claim", "seed_excerpt", "evidence_kind", "sources", "data_needed"]
EVIDENCE_COLUMNS = ["claim_id", "role", "data", "quantity", "estimate", "ci_low", "ci_high", "n",
                    "scale", "display", "weight", "source", "note"]

#: Why each kind of our data is not direct evidence.
SIMULATED_NOTE = ("simulated cohort calibrated to the published figures: a test bench, never "
                  "decides")
PRE_HAART_NOTE = ("1990s nucleoside therapy without viral loads: non-response cannot be "
                  "restricted to suppressed patients (indirect)")

#: A hazard ratio at or below this is a clinically meaningful benefit: a 25% reduction (ours:
#: the smallest effect in the trial-design report's range; not taken from ESPRIT's design).
MEANINGFUL_HR = 0.75
#: Fewest studies a pooled or direction-of-effect synthesis needs (ours).
MIN_STUDIES = 3
#: I^2 above which inconsistency is downgraded (Cochrane Handbook 10.10.2: 50-90% "may
#: represent substantial heterogeneity").
INCONSISTENCY_I2 = 0.5
#: "Stalled": at least this share of suppressed patients still below 200 cells/mm³ after three
#: or more years is a share that matters clinically (ours).
MIN_STALLED_SHARE = 0.05
STALLED_AFTER_MONTHS = synthesis.STALLED_AFTER_MONTHS
#: Measurement variability used in the regression-to-the-mean demonstration: the
#: within-subject CV of CD4 counts, cd4_variability.csv row CV01 (Hughes 1994: 25%).
RTM_CV = 0.25

_SOURCE = re.compile(r"^\s*(?P<location>[A-Za-z0-9_.-]+)/(?P<table>[A-Za-z0-9_.-]+\.csv)"
                     r"\[(?P<columns>[^\]]*)\]\s*$")


# ---------------------------------------------------------------------------------------------
# Claims and their sources
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceRef:
    """One declared source: a report's table (``location`` = report id) or a reference table
    (``location`` = ``"reference"``), and the columns the claim reads."""

    location: str
    table: str
    columns: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.location}/{self.table}"

    @property
    def is_reference(self) -> bool:
        return self.location == "reference"


def parse_sources(text: str, claim_id: str = "") -> tuple[SourceRef, ...]:
    """Parse a ``sources`` cell; a malformed entry raises :class:`EvidenceError`."""
    refs = []
    for entry in str(text).split(";"):
        if not entry.strip():
            continue
        match = _SOURCE.match(entry)
        if match is None:
            raise EvidenceError(f"claims.csv, claim {claim_id!r}, column sources: {entry.strip()!r} "
                                "is not of the form <report-id>/<table>.csv[col col ...]")
        columns = tuple(match["columns"].split())
        if not columns:
            raise EvidenceError(f"claims.csv, claim {claim_id!r}: source {entry.strip()!r} "
                                "names no columns")
        refs.append(SourceRef(match["location"], match["table"], columns))
    return tuple(refs)


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """``data/reference/claims.csv`` with its columns and unique ids checked."""
    path = resolve(path) if path is not None else reference_dir() / "claims.csv"
    claims = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in CLAIM_COLUMNS if c not in claims.columns]
    if missing:
        raise EvidenceError(f"{path.name}: missing column(s) {', '.join(missing)}")
    duplicated = claims.loc[claims["claim_id"].duplicated(), "claim_id"].tolist()
    if duplicated:
        raise EvidenceError(f"{path.name}: duplicated claim_id {', '.join(duplicated)}")
    for row, claim in enumerate(claims.itertuples(index=False), start=1):
        if not claim.claim_id or not claim.claim:
            raise EvidenceError(f"{path.name}, row {row}: claim_id and claim must not be empty")
        parse_sources(claim.sources, claim.claim_id)
    return claims


class TableStore:
    """Reads report tables through ``manifest.json`` and reference tables from
    ``data/reference``. ``reports_root`` is where the reports being cited live (the committed
    ``reports/``), not where this report writes its own outputs."""

    def __init__(self, reports_root: str | Path = "reports",
                 reference_root: str | Path | None = None):
        self.reports_root = resolve(reports_root)
        self.reference_root = Path(reference_root) if reference_root else reference_dir()
        manifest_path = self.reports_root / "manifest.json"
        if not manifest_path.is_file():
            raise EvidenceError(f"{manifest_path.name} not found in the reports folder: build "
                                "the reports first (make reports)")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        self.records = {r["id"]: r for r in manifest["reports"]}
        self._cache: dict[str, pd.DataFrame] = {}

    def path(self, ref: SourceRef) -> Path:
        """The file a source points to; :class:`EvidenceError` if the manifest lacks it."""
        if ref.is_reference:
            path = self.reference_root / ref.table
        else:
            record = self.records.get(ref.location)
            if record is None:
                raise EvidenceError(f"source {ref.key}: no report {ref.location!r} in "
                                    "manifest.json")
            if f"tables/{ref.table}" not in record["outputs"]["tables"]:
                raise EvidenceError(f"source {ref.key}: report {ref.location!r} has no table "
                                    f"{ref.table!r} (it has: "
                                    f"{', '.join(Path(t).name for t in record['outputs']['tables'])})")
            path = self.reports_root / ref.location / "tables" / ref.table
        if not path.is_file():
            raise EvidenceError(f"source {ref.key}: file not found")
        return path

    def read(self, ref: SourceRef) -> pd.DataFrame:
        """The declared columns of a source; :class:`EvidenceError` names any missing one."""
        if ref.key not in self._cache:
            self._cache[ref.key] = pd.read_csv(self.path(ref))
        table = self._cache[ref.key]
        missing = [c for c in ref.columns if c not in table.columns]
        if missing:
            raise EvidenceError(f"source {ref.key}: no column(s) {', '.join(missing)}")
        return table[list(ref.columns)].copy()

    def input_files(self, claims: pd.DataFrame) -> list[str]:
        """Every distinct file the claims cite, project-relative (for provenance checksums)."""
        files = {relative_to_root(self.path(ref)) for claim in claims.itertuples(index=False)
                 for ref in parse_sources(claim.sources, claim.claim_id)}
        return sorted(files)

    def parameters(self, report_id: str) -> dict:
        """The parameters a cited report was built with (from the manifest)."""
        if report_id not in self.records:
            raise EvidenceError(f"no report {report_id!r} in manifest.json")
        return self.records[report_id]["parameters"]


def check_sources(claims: pd.DataFrame, store: TableStore) -> pd.DataFrame:
    """One row per declared source: claim, source, whether it resolves, and the problem if not.

    Used by the tests (a claim pointing to a missing table or column fails) and shown in the
    report.
    """
    rows = []
    for claim in claims.itertuples(index=False):
        for ref in parse_sources(claim.sources, claim.claim_id):
            try:
                store.read(ref)
                problem = ""
            except EvidenceError as err:
                problem = str(err)
            rows.append({"claim_id": claim.claim_id, "source": ref.key,
                         "columns": " ".join(ref.columns), "ok": problem == "",
                         "problem": problem})
    return pd.DataFrame(rows, columns=["claim_id", "source", "columns", "ok", "problem"])


@dataclass
class ClaimSources:
    """The sources one claim declares; reading anything else is an error."""

    claim_id: str
    refs: tuple[SourceRef, ...]
    store: TableStore

    def table(self, key: str) -> pd.DataFrame:
        for ref in self.refs:
            if ref.key == key:
                return self.store.read(ref)
        raise EvidenceError(f"claim {self.claim_id!r} reads {key}, which its sources in "
                            "claims.csv do not declare")

    def parameter(self, report_id: str, name: str) -> object:
        return self.store.parameters(report_id).get(name)


# ---------------------------------------------------------------------------------------------
# Evidence rows, verdict rules and certainty
# ---------------------------------------------------------------------------------------------

@dataclass
class ClaimResult:
    """Evidence rows, the verdict with its reason, and its certainty for one claim."""

    evidence: list[dict] = field(default_factory=list)
    verdict: str = "insufficient evidence"
    reason: str = ""
    certainty: str = ""
    downgrades: list[str] = field(default_factory=list)
    decision: dict = field(default_factory=dict)

    def add(self, *, role: str, data: str, quantity: str, source: str, estimate: float = np.nan,
            ci_low: float = np.nan, ci_high: float = np.nan, n: float = np.nan,
            scale: str = "ratio", weight: float = np.nan, note: str = "") -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self.evidence.append({"role": role, "data": data, "quantity": quantity,
                              "estimate": estimate, "ci_low": ci_low, "ci_high": ci_high,
                              "n": n, "scale": scale, "weight": weight, "source": source,
                              "note": note})

    def rows(self, role: str) -> list[dict]:
        return [e for e in self.evidence if e["role"] == role]


def _num(value: object) -> float:
    out = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return float(out) if pd.notna(out) else np.nan


def describe(row: dict) -> str:
    """One evidence row as text: ``Grabar2000: 1.98 (1.26–3.10)``."""
    percent = row["scale"] == "proportion"
    digits = 1 if percent else (0 if row["scale"] == "difference" else 2)
    return f"{row['data']}: {format_ci(row['estimate'], row['ci_low'], row['ci_high'], digits, percent)}"


def interval(low: float, high: float, percent: bool = False) -> str:
    """``17.0–27.0%`` or ``1.65–3.74``."""
    if percent:
        return f"{100 * low:.1f}–{100 * high:.1f}%"
    return f"{low:.2f}–{high:.2f}"


def judge(low: float, high: float, *, above: float | None = None, below: float | None = None,
          inside: tuple[float, float] | None = None) -> str:
    """The verdict of a 95% CI against a claim: ``above`` (the claim: the quantity exceeds it),
    ``below`` (it is less than it) or ``inside`` a range (see the module docstring)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "insufficient evidence"
    if above is not None:
        return "supported" if low > above else "contradicted" if high < above else "uncertain"
    if below is not None:
        return "supported" if high < below else "contradicted" if low > below else "uncertain"
    lo, hi = inside
    if lo <= low and high <= hi:
        return "supported"
    return "contradicted" if high < lo or low > hi else "uncertain"


def certainty(start: str, downgrades: list[str]) -> str:
    """GRADE-style certainty: ``start`` lowered one level per downgrade (floor: very low)."""
    return CERTAINTY[min(CERTAINTY.index(start) + len(downgrades), len(CERTAINTY) - 1)]


def _pooled_downgrades(fit, crosses, *, v2_share: float = 0.0, indirect: str = "",
                       bias: str = "") -> list[str]:
    """Downgrades of a pooled estimate: risk of bias, inconsistency (I^2, or a prediction
    interval crossing the threshold), indirectness, imprecision (CI crossing the threshold,
    or fewer than MIN_STUDIES studies)."""
    p = fit.back_transformed().iloc[0]
    out = []
    if bias:
        out.append(f"risk of bias: {bias}")
    elif v2_share > 0.5:
        out.append(f"risk of bias: {v2_share:.0%} of the pooled estimates were read only in a "
                   "secondary copy (V2)")
    if fit.k_ > 1 and (p["i2"] > INCONSISTENCY_I2 or crosses(p["pi_low"], p["pi_high"])):
        why = [f"I² = {p['i2']:.0%}"] if p["i2"] > INCONSISTENCY_I2 else []
        if crosses(p["pi_low"], p["pi_high"]):
            why.append("the 95% prediction interval crosses the decision threshold")
        out.append("inconsistency: " + "; ".join(why))
    if indirect:
        out.append(f"indirectness: {indirect}")
    if crosses(p["ci_low"], p["ci_high"]) or fit.k_ < MIN_STUDIES:
        why = ["the 95% CI crosses the decision threshold"] if crosses(p["ci_low"],
                                                                        p["ci_high"]) else []
        if fit.k_ < MIN_STUDIES:
            why.append(f"only {fit.k_} stud{'y' if fit.k_ == 1 else 'ies'}")
        out.append("imprecision: " + "; ".join(why))
    return out


def _decide_pooled(result: ClaimResult, question: synthesis.PooledQuestion, *,
                   threshold_text: str, crosses, verdict_of, start: str = "high",
                   indirect: str = "", bias: str = "", measure: str) -> None:
    """Verdict and certainty from a pooled estimate."""
    fit = question.fit
    if fit is None or fit.k_ < MIN_STUDIES:
        k = 0 if fit is None else fit.k_
        result.verdict = "insufficient evidence"
        result.reason = (f"{k} stud{'y' if k == 1 else 'ies'} can be pooled "
                         f"(at least {MIN_STUDIES} needed)")
        return
    p = fit.back_transformed().iloc[0]
    result.verdict = verdict_of(p["ci_low"], p["ci_high"])
    v2 = float((question.pooled_rows["verification"] == "V2").mean())
    result.downgrades = _pooled_downgrades(fit, crosses, v2_share=v2, indirect=indirect,
                                           bias=bias)
    result.certainty = certainty(start, result.downgrades)
    result.decision = {"kind": "pooled", "measure": measure, "estimate": p["estimate"],
                       "ci_low": p["ci_low"], "ci_high": p["ci_high"], "pi_low": p["pi_low"],
                       "pi_high": p["pi_high"], "k": int(fit.k_), "i2": p["i2"],
                       "tau2": p["tau2"], "threshold": threshold_text,
                       "rule": question.rule}


def _decide_direction(result: ClaimResult, ds: synthesis.DirectionSynthesis, *,
                      threshold_text: str, indirect: str = "", what: str) -> None:
    """Verdict and certainty from a direction-of-effect synthesis (claim: more than half of
    the studies point the claimed way)."""
    if ds.k < MIN_STUDIES:
        result.verdict = "insufficient evidence"
        result.reason = (f"{ds.k} stud{'y' if ds.k == 1 else 'ies'} report a direction of "
                         f"effect for {what} (at least {MIN_STUDIES} needed)")
        return
    result.verdict = judge(ds.ci_low, ds.ci_high, above=0.5)
    downgrades = []
    if indirect:
        downgrades.append(f"indirectness: {indirect}")
    if ds.ci_low <= 0.5 or ds.p_sign >= 0.05:
        downgrades.append(f"imprecision: {ds.k} studies; sign test p = {ds.p_sign:.2g}"
                          + ("; the 95% CI of the share pointing the claimed way includes "
                             "one half" if ds.ci_low <= 0.5 else ""))
    result.downgrades = downgrades
    result.certainty = certainty("low", downgrades)
    result.decision = {"kind": "direction of effect", "measure": f"share of studies: {what}",
                       "estimate": ds.proportion, "ci_low": ds.ci_low, "ci_high": ds.ci_high,
                       "pi_low": np.nan, "pi_high": np.nan, "k": ds.k, "i2": np.nan,
                       "tau2": np.nan, "threshold": threshold_text,
                       "rule": f"{ds.favour} of {ds.k} point the claimed way; sign test "
                               f"p = {ds.p_sign:.3g}"}


def _add_question(result: ClaimResult, question: synthesis.PooledQuestion, source: str,
                  scale: str, quantity: str, label: str = "pooled") -> None:
    """The pooled estimate (HKSJ CI, with the prediction interval in the note), its studies
    with their weights, and the other estimates of those studies."""
    fit = question.fit
    if fit is None:
        return
    p = fit.back_transformed().iloc[0]
    percent = scale == "proportion"
    pi = (f"95% prediction interval {interval(p['pi_low'], p['pi_high'], percent)}"
          if np.isfinite(p["pi_low"]) else "no prediction interval (k < 3)")
    result.add(role="pooled", data=f"{label} (k = {fit.k_})", quantity=quantity,
               estimate=p["estimate"], ci_low=p["ci_low"], ci_high=p["ci_high"], scale=scale,
               source=source, note=f"{p['model']}; I² = {p['i2']:.0%}, τ² = {p['tau2']:.3g}; {pi}")
    weights = dict(zip(fit.studies["study"], fit.studies["weight"], strict=True))
    rows = question.rows
    for row in rows[rows["verification"].isin(("V", "V2"))].itertuples(index=False):
        pooled = bool(row.pooled)
        result.add(role="study", data=row.study_id, quantity=getattr(row, "label", quantity),
                   estimate=row.estimate_value, ci_low=row.ci_low_value,
                   ci_high=row.ci_high_value, n=_num(getattr(row, "n_analysed", np.nan)),
                   scale=scale, weight=weights.get(row.study_id, np.nan) if pooled else np.nan,
                   source=source, note=("pooled" if pooled else row.fate)
                   + f"; verification {row.verification}")


def _frequency_values(rows: pd.DataFrame) -> pd.DataFrame:
    """Each frequency row's own proportion with its Wilson CI, for display."""
    from .intervals import wilson

    p, low, high = wilson(rows["events"].fillna(0).to_numpy(),
                          rows["n_analysed"].fillna(0).to_numpy())
    return rows.assign(estimate_value=p, ci_low_value=low, ci_high_value=high,
                       label=[f"{r.cd4_rule} {r.cd4_threshold:g} at month {r.assess_month:g}"
                              if pd.notna(r.cd4_threshold) and pd.notna(r.assess_month)
                              else f"{r.cd4_rule}" for r in rows.itertuples(index=False)])


def _ratio_values(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(estimate_value=rows["estimate"], ci_low_value=rows["ci_low"],
                       ci_high_value=rows["ci_high"],
                       label=rows["outcome"].str.replace("_", " ") + ", "
                       + rows["measure"].fillna("") + np.where(rows["adjusted"] == "yes",
                                                               " (adjusted)", " (crude)"))


def _indirect_frequency(result: ClaimResult, src: "ClaimSources", definitions: tuple[str, ...]
                        ) -> None:
    for report, label, role, note in (
            ("frequency-cpcra002", "CPCRA 002", "indirect", PRE_HAART_NOTE),
            ("frequency-synthetic", "Simulated cohort", "simulated", SIMULATED_NOTE)):
        freq = src.table(f"{report}/frequency.csv")
        rows = freq[freq["definition"].isin(definitions) & (freq["stratum"] == "overall")]
        for row in rows.itertuples(index=False):
            result.add(role=role, data=f"{label} ({row.definition})",
                       quantity="non-responders at month 12", estimate=row.proportion,
                       ci_low=row.ci_low, ci_high=row.ci_high, n=row.n_assessable,
                       scale="proportion", source=f"{report}/frequency.csv", note=note)


# ---------------------------------------------------------------------------------------------
# One evidence function per claim
# ---------------------------------------------------------------------------------------------

FREQUENCY_SOURCE = "reference/inr_frequency.csv"
OUTCOMES_SOURCE = "reference/inr_outcomes.csv"
RISK_SOURCE = "reference/inr_risk_factors.csv"
THERAPY_SOURCE = "reference/immune_therapy_trials.csv"


def _frequency_10_20(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    table = src.table(FREQUENCY_SOURCE)
    question = synthesis.pool_frequency(table=table)
    question.rows = _frequency_values(question.rows)
    _add_question(result, question, FREQUENCY_SOURCE, "proportion",
                  "non-responders, one definition per study")
    low, high = synthesis.CLAIM_FREQUENCY_RANGE
    suppressed = float((question.pooled_rows["suppressed_population"] == "yes").mean())
    _decide_pooled(
        result, question, measure="pooled proportion of non-responders",
        threshold_text=f"the claimed range {low:.0%}-{high:.0%} (the background's own)",
        crosses=lambda a, b: judge(a, b, inside=(low, high)) == "uncertain",
        verdict_of=lambda a, b: judge(a, b, inside=(low, high)),
        indirect=(f"only {suppressed:.0%} of the pooled cohorts required viral suppression"
                  if suppressed < 0.5 else ""))
    sensitivity = synthesis.pool_frequency(suppressed_only=True, table=table)
    s = sensitivity.summary().iloc[0]
    result.add(role="pooled", data=f"suppressed cohorts only (k = {int(s['k'])})",
               quantity="sensitivity: cohorts requiring viral suppression",
               estimate=s["estimate"], ci_low=s["ci_low"], ci_high=s["ci_high"],
               scale="proportion", source=FREQUENCY_SOURCE,
               note=f"{s['model']}; I² = {s['i2']:.0%}; does not decide")
    _indirect_frequency(result, src, ("seed_gain_le100_m6_12", "seed_level_le200_m6_12"))
    p = result.decision
    if p:
        result.reason = (f"pooled proportion {format_ci(p['estimate'], p['ci_low'], p['ci_high'], 1, True)}"
                         f" from {p['k']} studies, one definition each; 95% prediction interval "
                         f"{interval(p['pi_low'], p['pi_high'], True)}. The "
                         "meta-regression below shows how much of the spread the definition "
                         "explains.")
    return result


def _late_response(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    for report, label, role, note in (
            ("trajectories-cpcra002", "CPCRA 002", "indirect", PRE_HAART_NOTE),
            ("trajectories-actg175", "ACTG 175", "indirect", PRE_HAART_NOTE),
            ("trajectories-synthetic", "Simulated cohort", "simulated", SIMULATED_NOTE)):
        table = src.table(f"{report}/late_response.csv")
        early = src.parameter(report, "early_definition")
        table = table[table["method"] == "aalen-johansen"]
        last = table.sort_values(["threshold", "month"]).groupby("threshold").tail(1)
        for row in last.itertuples(index=False):
            result.add(role=role, data=label,
                       quantity=(f"early non-responders ({early}) below {row.threshold:g} at "
                                 f"the assessment crossing CD4 > {row.threshold:g} by month "
                                 f"{row.month:g} (Aalen-Johansen, death competing)"),
                       estimate=row.cumulative_incidence, ci_low=row.ci_low,
                       ci_high=row.ci_high, n=row.n_start, scale="proportion",
                       source=f"{report}/late_response.csv",
                       note=(f"{note}; n = {row.n_start} at risk at the assessment "
                             f"({row.already_above} of {row.early_nonresponders} early "
                             f"non-responders already above and excluded); by then "
                             f"{row.crossings} crossed, {row.deaths} died first, "
                             f"{row.censored} censored"))
    result.reason = ("no published suppressed cohort in the reference tables reports the share "
                     "of early non-responders who later cross a threshold; our trials are "
                     "indirect (estimates among those below the threshold at the early "
                     "assessment, with death as a competing event)")
    return result


def _stalled(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    question = synthesis.pool_stalled(src.table(FREQUENCY_SOURCE))
    question.rows = _frequency_values(question.rows)
    _add_question(result, question, FREQUENCY_SOURCE, "proportion",
                  f"still below 200 cells/mm³ after {STALLED_AFTER_MONTHS}+ months suppressed")
    _decide_pooled(result, question, measure="pooled proportion still below 200",
                   threshold_text=f"{MIN_STALLED_SHARE:.0%} of patients (ours)",
                   crosses=lambda a, b: a <= MIN_STALLED_SHARE <= b,
                   verdict_of=lambda a, b: judge(a, b, above=MIN_STALLED_SHARE),
                   indirect="a level at one time is not a plateau (no slopes after year 3)")
    for report, label, role, note in (
            ("trajectories-cpcra002", "CPCRA 002", "indirect",
             PRE_HAART_NOTE + "; 18 months of follow-up"),
            ("trajectories-synthetic", "Simulated cohort", "simulated", SIMULATED_NOTE)):
        for row in src.table(f"{report}/stalled.csv").itertuples(index=False):
            result.add(role=role, data=label, quantity="early non-responders with a flat slope",
                       estimate=row.proportion, ci_low=row.ci_low, ci_high=row.ci_high,
                       n=row.patients_with_slope, scale="proportion",
                       source=f"{report}/stalled.csv", note=note)
    if result.decision:
        p = result.decision
        result.reason = (f"pooled {format_ci(p['estimate'], p['ci_low'], p['ci_high'], 1, True)} "
                         f"of suppressed patients remain below 200 cells/mm³ after three or more "
                         f"years ({p['k']} cohorts)")
    return result


def _events_inr_vs_cr(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    table = src.table(OUTCOMES_SOURCE)
    question = synthesis.pool_outcomes(table=table)
    question.rows = _ratio_values(question.rows)
    _add_question(result, question, OUTCOMES_SOURCE, "ratio",
                  "AIDS or death, immunologic non-responders vs complete responders")
    unadjusted = float((question.pooled_rows["adjusted"] != "yes").mean())
    _decide_pooled(result, question, measure="pooled ratio of AIDS or death",
                   threshold_text="1 (no difference)", crosses=lambda a, b: a <= 1 <= b,
                   verdict_of=lambda a, b: judge(a, b, above=1.0),
                   bias=(f"{unadjusted:.0%} of the pooled estimates are unadjusted"
                         if unadjusted > 0.5 else ""))
    death = synthesis.pool_outcomes(outcomes=("death",), table=table)
    d = death.summary().iloc[0]
    result.add(role="pooled", data=f"death only (k = {int(d['k'])})",
               quantity="sensitivity: death, non-responders vs complete responders",
               estimate=d["estimate"], ci_low=d["ci_low"], ci_high=d["ci_high"],
               source=OUTCOMES_SOURCE, note=f"{d['model']}; I² = {d['i2']:.0%}; does not decide")
    for report, label, term, role, note in (
            ("outcomes-cpcra002", "CPCRA 002", "status[cd4_nonresponder]", "indirect",
             PRE_HAART_NOTE + "; event: death"),
            ("outcomes-actg175", "ACTG 175", "status[cd4_nonresponder]", "indirect",
             PRE_HAART_NOTE + "; the endpoint contains a CD4 decline"),
            ("outcomes-synthetic", "Simulated cohort", "status[immunologic_nonresponder]",
             "simulated", SIMULATED_NOTE)):
        cox = src.table(f"{report}/cox.csv")
        for r in cox[(cox["model"] == "adjusted") & (cox["term"] == term)].itertuples(index=False):
            result.add(role=role, data=label, quantity="adjusted HR, non-responders vs responders",
                       estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n,
                       source=f"{report}/cox.csv", note=note + f"; {r.events} events")
    if result.decision:
        p = result.decision
        result.reason = (f"pooled ratio {format_ci(p['estimate'], p['ci_low'], p['ci_high'], 2)} "
                         f"from {p['k']} cohorts (HR, IRR and OR on one log scale)")
    return result


def _events_inr_vs_cnr(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    table = src.table(OUTCOMES_SOURCE)
    inr = synthesis.pool_outcomes("INR vs CR", table=table)
    cnr = synthesis.pool_outcomes("CNR vs CR", table=table)
    cnr.rows = _ratio_values(cnr.rows)
    _add_question(result, cnr, OUTCOMES_SOURCE, "ratio",
                  "AIDS or death, complete non-responders vs complete responders",
                  label="pooled CNR vs CR")
    if cnr.fit is None or cnr.fit.k_ < MIN_STUDIES:
        result.reason = "fewer than three cohorts compare complete non-responders"
        return result
    a, b = inr.fit.primary, cnr.fit.primary
    diff = float(a["estimate"] - b["estimate"])
    se = float(np.hypot(a["se"], b["se"]))
    low, high = np.exp(diff - Z95 * se), np.exp(diff + Z95 * se)
    result.add(role="pooled", data="INR vs CNR (indirect comparison)",
               quantity="ratio of the pooled ratios (INR vs CR) / (CNR vs CR)",
               estimate=float(np.exp(diff)), ci_low=low, ci_high=high, source=OUTCOMES_SOURCE,
               note="Bucher indirect comparison through the complete responders; SE = "
                    "sqrt(SE1² + SE2²) of the HKSJ pooled log ratios")
    result.verdict = judge(low, high, below=1.0)
    downgrades = ["indirectness: an indirect comparison across different cohorts"]
    if low <= 1 <= high:
        downgrades.append("imprecision: the 95% CI crosses 1")
    if cnr.fit.k_ <= 3:
        downgrades.append(f"imprecision: only {cnr.fit.k_} cohorts compare complete "
                          "non-responders")
    result.downgrades = downgrades
    result.certainty = certainty("high", downgrades)
    result.decision = {"kind": "pooled", "measure": "ratio INR/CNR of AIDS or death",
                       "estimate": float(np.exp(diff)), "ci_low": low, "ci_high": high,
                       "pi_low": np.nan, "pi_high": np.nan, "k": int(inr.fit.k_ + cnr.fit.k_),
                       "i2": np.nan, "tau2": np.nan, "threshold": "1 (equal rates)",
                       "rule": "ratio of two pooled ratios against complete responders"}
    result.reason = (f"non-responders' rate relative to complete non-responders "
                     f"{format_ci(np.exp(diff), low, high, 2)}")
    rr = src.table("outcomes-synthetic/rate_ratios.csv")
    for r in rr.itertuples(index=False):
        result.add(role="simulated", data=f"Simulated cohort, {r.group}",
                   quantity=f"rate ratio vs {r.reference}", estimate=r.rate_ratio,
                   ci_low=r.ci_low, ci_high=r.ci_high, source="outcomes-synthetic/rate_ratios.csv",
                   note=SIMULATED_NOTE)
    return result


def _risk_rows(result: ClaimResult, rows: pd.DataFrame,
               family_notes: dict[str, str] | None = None) -> None:
    """Every verified row of a risk factor, with its direction and why it was (not) used."""
    for r in rows[rows["verification"].isin(("V", "V2"))].itertuples(index=False):
        harmonized = ("no direction printed" if pd.isna(r.favours_claim) else
                      "points the claimed way" if r.favours_claim else "points the other way")
        fate = "used in the direction synthesis" if r.used else f"not used: {r.fate}"
        extra = (family_notes or {}).get(r.outcome_family)
        result.add(role="study", data=r.study_id,
                   quantity=f"{r.contrast} ({r.outcome_family} outcome): {harmonized}",
                   estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n_analysed,
                   source=RISK_SOURCE, scale="ratio",
                   note=fate + (f"; {extra}" if extra else "")
                   + f"; {r.measure or 'no measure'} as printed, not harmonized; "
                     f"population suppressed: {r.suppressed_population}; verification "
                     f"{r.verification}")


def _direction_claim(src: ClaimSources, factor: str, what: str, level_based_only: bool,
                     family_notes: dict[str, str] | None = None) -> ClaimResult:
    result = ClaimResult()
    ds, rows = synthesis.direction_of_effect(factor, level_based_only,
                                             table=src.table(RISK_SOURCE))
    _risk_rows(result, rows, family_notes)
    partial = rows.loc[rows["used"], "suppressed_population"].eq("partial").mean() \
        if rows["used"].any() else 0.0
    _decide_direction(result, ds, what=what,
                      threshold_text="half of the studies (a sign test against 1/2)",
                      indirect=(f"{partial:.0%} of the studies were only partly suppressed"
                                if partial > 0.5 else ""))
    if ds.k:
        result.add(role="pooled", data=f"direction of effect (k = {ds.k})",
                   quantity=f"share of studies in which {what}", estimate=ds.proportion,
                   ci_low=ds.ci_low, ci_high=ds.ci_high, scale="proportion", source=RISK_SOURCE,
                   note=f"{ds.favour} of {ds.k}; sign test p = {ds.p_sign:.3g}; SWiM "
                        "synthesis without meta-analysis (the estimates share no scale)")
        if result.verdict != "insufficient evidence":
            result.reason = (f"{ds.favour} of {ds.k} studies (one row each) find that {what} "
                             f"(share {format_ci(ds.proportion, ds.ci_low, ds.ci_high, 0, True)}, "
                             f"sign test p = {ds.p_sign:.2g})")
    return result


def _predictor_low_baseline_cd4(src: ClaimSources) -> ClaimResult:
    result = _direction_claim(src, "baseline_cd4", "a lower baseline CD4 goes with a lower "
                              "follow-up level (level-based outcomes)", level_based_only=True,
                              family_notes={"gain": "gain-based: biased by regression to the "
                                                    "mean, not used for the verdict"})
    for report, label, term, role in (("risk-factors-actg175", "ACTG 175", "cd4_per100",
                                       "indirect"),
                                      ("risk-factors-cpcra002", "CPCRA 002", "cd4_per50",
                                       "indirect")):
        table = src.table(f"{report}/odds_ratios.csv")
        for r in table[table["term"] == term].itertuples(index=False):
            result.add(role=role, data=label, quantity=f"gain-based OR per higher baseline "
                       f"({r.label})", estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high,
                       n=r.n, source=f"{report}/odds_ratios.csv",
                       note=PRE_HAART_NOTE + "; a gain regressed on a noisy baseline: see the "
                            "regression-to-the-mean demonstration")
    demo = synthesis.regression_to_the_mean_demo(RTM_CV)
    for r in demo.itertuples(index=False):
        result.add(role="simulated", data=f"no true effect, CV {RTM_CV:.0%}",
                   quantity=f"OR per 100 cells/mm³ higher measured baseline, {r.outcome}",
                   estimate=r.or_per100_higher_baseline, ci_low=r.ci_low, ci_high=r.ci_high,
                   n=r.n, source=RISK_SOURCE,
                   note="simulated with baseline having no effect on the true gain, entry "
                        "200-500 on the measured count: the gain-based OR moves off 1 by "
                        "regression to the mean alone")
    result.reason += (". Gain-based outcomes point the other way because a gain regressed on a "
                      "noisy baseline is biased (regression to the mean): with no true effect "
                      f"and a {RTM_CV:.0%} within-person CV, a simulated ACTG 175-like cohort "
                      "reproduces a gain-based OR well above 1 per 100 cells higher baseline.")
    return result


def _predictor_age(src: ClaimSources) -> ClaimResult:
    result = _direction_claim(src, "age", "older age goes with non-response",
                              level_based_only=False)
    for report, label, role, note in (("risk-factors-actg175", "ACTG 175", "indirect",
                                       PRE_HAART_NOTE),
                                      ("risk-factors-synthetic", "Simulated cohort",
                                       "simulated", SIMULATED_NOTE)):
        table = src.table(f"{report}/odds_ratios.csv")
        for r in table[table["term"] == "age10"].itertuples(index=False):
            result.add(role=role, data=label, quantity="OR of non-response per 10 years",
                       estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n,
                       source=f"{report}/odds_ratios.csv", note=note)
    return result


def _factor_claim(src: ClaimSources, factor: str, what: str, ours: dict[str, tuple[str, str]]
                  ) -> ClaimResult:
    """A risk-factor claim with few published rows: direction synthesis (usually
    insufficient), and our analyses as indirect or simulated rows."""
    result = _direction_claim(src, factor, what, level_based_only=False)
    for report, (term, label) in ours.items():
        table = src.table(f"{report}/odds_ratios.csv")
        role = "simulated" if "synthetic" in report else "indirect"
        for r in table[table["term"] == term].itertuples(index=False):
            result.add(role=role, data=report.removeprefix("risk-factors-"), quantity=label,
                       estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n,
                       source=f"{report}/odds_ratios.csv",
                       note=SIMULATED_NOTE if role == "simulated" else PRE_HAART_NOTE)
    return result


def _predictor_prior_oi(src: ClaimSources) -> ClaimResult:
    return _factor_claim(src, "prior_aids", "a prior AIDS event / OI goes with non-response",
                         {"risk-factors-cpcra002": ("prior_aids", "OR, prior AIDS-defining "
                                                                  "illness"),
                          "risk-factors-synthetic": ("prior_aids", "OR, prior AIDS/OI")})


def _predictor_hcv(src: ClaimSources) -> ClaimResult:
    return _factor_claim(src, "hcv", "HCV co-infection goes with non-response",
                         {"risk-factors-synthetic": ("hcv", "OR, HCV co-infection")})


def _predictor_duration(src: ClaimSources) -> ClaimResult:
    return _factor_claim(src, "duration_of_infection",
                         "a longer duration of infection goes with non-response",
                         {"risk-factors-synthetic": ("years_since_diagnosis",
                                                     "OR per year since diagnosis")})


def _regimen_ddi_tdf(src: ClaimSources) -> ClaimResult:
    return _factor_claim(src, "ddi_tdf", "didanosine with tenofovir goes with non-response",
                         {"risk-factors-synthetic": ("ddi_tdf", "OR, didanosine + tenofovir")})


def _regimen_zdv_tmp_smx(src: ClaimSources) -> ClaimResult:
    result = _factor_claim(src, "zidovudine", "zidovudine goes with non-response",
                           {"risk-factors-synthetic": ("zdv", "OR, zidovudine")})
    definition = src.parameter("risk-factors-actg175", "definition_id")
    freq = src.table("frequency-actg175/frequency.csv")
    for r in freq[(freq["definition"] == definition)
                  & freq["stratum"].str.startswith("arm=")].itertuples(index=False):
        result.add(role="indirect", data=f"ACTG 175, {r.stratum.split('=', 1)[1]} arm",
                   quantity=f"non-responders ({definition})", estimate=r.proportion,
                   ci_low=r.ci_low, ci_high=r.ci_high, n=r.n_assessable, scale="proportion",
                   source="frequency-actg175/frequency.csv",
                   note=PRE_HAART_NOTE + "; randomised arms: zidovudine alone did worst, "
                        "zidovudine with didanosine best")
    return result


def _intensification(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    trials = src.table(THERAPY_SOURCE)
    intensification = trials[trials["intervention"].str.contains(
        "maraviroc|raltegravir", case=False, na=False)]
    for r in intensification.itertuples(index=False):
        result.add(role="study", data=r.trial, quantity=f"{r.intervention}: {r.cd4_measure}",
                   scale="text", source=THERAPY_SOURCE,
                   note=f"{r.design}; restricted to non-responders: {r.restricted_to_inr}; "
                        f"CD4 difference as printed: {r.cd4_difference}; verification "
                        f"{r.verification}")
    result.reason = (f"{len(intensification)} intensification trials, none reporting a CD4 "
                     "difference with a confidence interval on a common scale, so no pooled "
                     "estimate can be formed; the individual trials are listed")
    return result


#: The leading number of a CD4 difference as printed ("567 (derived)", "134 / 133").
_LEADING_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


def _il2_raises_cd4(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    il2 = randomized_il2_trials(src.table(THERAPY_SOURCE))
    differences = {}
    for r in il2.itertuples(index=False):
        match = _LEADING_NUMBER.match(str(r.cd4_difference)) if pd.notna(r.cd4_difference) \
            else None
        if match is None or r.trial in differences:
            continue
        differences[r.trial] = float(match.group(1))
        result.add(role="study", data=r.trial, quantity=f"IL-2 minus control: {r.cd4_measure}",
                   estimate=differences[r.trial], scale="difference", source=THERAPY_SOURCE,
                   note=f"as printed: {r.cd4_difference}; on ART: {r.on_art}; restricted to "
                        f"non-responders: {r.restricted_to_inr}; verification {r.verification}")
    ds = synthesis.DirectionSynthesis.of(pd.Series(list(differences.values())) > 0)
    _decide_direction(result, ds, what="IL-2 raised CD4 counts", threshold_text="half of the "
                      "trials (a sign test against 1/2)",
                      indirect="most trials did not enrol immunologic non-responders")
    result.add(role="pooled", data=f"direction of effect (k = {ds.k})",
               quantity="share of randomized trials with a higher CD4 count on IL-2",
               estimate=ds.proportion, ci_low=ds.ci_low, ci_high=ds.ci_high,
               scale="proportion", source=THERAPY_SOURCE,
               note=f"sign test p = {ds.p_sign:.3g}; measures differ (means, areas under the "
                    "curve, over follow-up), so the differences are not pooled")
    effects = src.table("il2-evidence/cd4_effects.csv")
    for r in effects[effects["ci_low"].notna()].itertuples(index=False):
        result.add(role="study", data=r.trial, quantity=f"IL-2 minus control: {r.measure}",
                   estimate=_num(r.difference), ci_low=_num(r.ci_low), ci_high=_num(r.ci_high),
                   scale="difference", source="il2-evidence/cd4_effects.csv",
                   note="CI computed by the il2-evidence report; shown, not used for the verdict")
    result.reason = (f"{ds.favour} of {ds.k} randomized trials report a higher CD4 count on "
                     f"IL-2 (sign test p = {ds.p_sign:.2g}); magnitudes are on different scales")
    return result


def _il2_most_promising(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    meta = src.table("il2-evidence/meta_clinical.csv")
    rows = meta[meta["endpoint"] == "opportunistic disease or death (trials on ART)"]
    for r in rows.itertuples(index=False):
        primary = r.model == "random effects (REML), HKSJ CI"
        result.add(role="pooled" if primary else "study",
                   data=f"ESPRIT + SILCAAT, {r.model} (k = {r.k})",
                   quantity="HR of opportunistic disease or death, IL-2 vs control",
                   estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high,
                   source="il2-evidence/meta_clinical.csv",
                   note=("decides" if primary else "sensitivity, does not decide")
                   + f"; I² = {r.i2:.0%}; with k = {r.k}, τ² can hardly be estimated")
    trials = randomized_il2_trials(src.table(THERAPY_SOURCE))
    for r in trials[trials["hr"].notna()].itertuples(index=False):
        result.add(role="study", data=r.trial, quantity=f"HR of {r.clinical_endpoint}",
                   estimate=_num(r.hr), ci_low=_num(r.hr_ci_low), ci_high=_num(r.hr_ci_high),
                   source=THERAPY_SOURCE, note=f"on ART: {r.on_art}; restricted to "
                   f"non-responders: {r.restricted_to_inr}; verification {r.verification}")
    pooled = result.rows("pooled")
    if not pooled:
        result.reason = "no pooled clinical estimate"
        return result
    p = pooled[0]
    result.verdict = ("supported" if p["ci_high"] < 1 else
                      "contradicted" if p["ci_low"] > MEANINGFUL_HR else "uncertain")
    downgrades = ["indirectness: neither trial enrolled immunologic non-responders",
                  "risk of bias: open-label trials; hazard ratios read in a secondary copy (V2)"]
    if p["ci_low"] <= MEANINGFUL_HR and p["ci_high"] >= 1:
        downgrades.append("imprecision: the 95% CI includes both 1 and a meaningful benefit")
    result.downgrades = downgrades
    result.certainty = certainty("high", downgrades)
    result.decision = {"kind": "pooled", "measure": "pooled HR of opportunistic disease or death",
                       "estimate": p["estimate"], "ci_low": p["ci_low"], "ci_high": p["ci_high"],
                       "pi_low": np.nan, "pi_high": np.nan, "k": 2, "i2": np.nan,
                       "tau2": np.nan, "threshold": f"1, and a meaningful benefit HR ≤ "
                       f"{MEANINGFUL_HR} (ours)",
                       "rule": "supported if the CI lies below 1; contradicted if it excludes "
                               "a meaningful benefit"}
    result.reason = (f"ESPRIT and SILCAAT raised CD4 counts, yet the pooled HR is "
                     f"{format_ci(p['estimate'], p['ci_low'], p['ci_high'], 2)}; a CD4 gain "
                     "was no surrogate for clinical benefit")
    return result


EVALUATORS: dict[str, Callable[[ClaimSources], ClaimResult]] = {
    "frequency_10_20": _frequency_10_20,
    "late_response": _late_response,
    "stalled": _stalled,
    "events_inr_vs_cr": _events_inr_vs_cr,
    "events_inr_vs_cnr": _events_inr_vs_cnr,
    "predictor_low_baseline_cd4": _predictor_low_baseline_cd4,
    "predictor_age": _predictor_age,
    "predictor_prior_oi": _predictor_prior_oi,
    "predictor_hcv": _predictor_hcv,
    "predictor_duration": _predictor_duration,
    "regimen_ddi_tdf": _regimen_ddi_tdf,
    "regimen_zdv_tmp_smx": _regimen_zdv_tmp_smx,
    "intensification": _intensification,
    "il2_raises_cd4": _il2_raises_cd4,
    "il2_most_promising": _il2_most_promising,
}


# ---------------------------------------------------------------------------------------------
# The whole assessment
# ---------------------------------------------------------------------------------------------

VERDICT_COLUMNS = ["claim_id", "claim", "verdict", "certainty", "measure", "estimate", "ci_low",
                   "ci_high", "pi_low", "pi_high", "k", "i2", "tau2", "threshold", "downgrades",
                   "reason", "sources"]


@dataclass
class Assessment:
    """Verdicts (one row per claim) and evidence (one row per number) for every claim."""

    verdicts: pd.DataFrame
    evidence: pd.DataFrame

    def summary(self) -> str:
        """One paragraph from the verdicts and their certainty."""
        v = self.verdicts
        counts = v["verdict"].value_counts()
        text = (f"Of the background's {len(v)} checkable claims, judged on pooled estimates of "
                "the published cohorts and trials, "
                + ", ".join(f"{counts.get(x, 0)} {x}" for x in VERDICTS if counts.get(x, 0))
                + ".")
        for verdict in ("supported", "contradicted", "uncertain"):
            part = v[v["verdict"] == verdict]
            if len(part):
                text += f" {verdict.capitalize()}: " + "; ".join(
                    f"{_lower(r.claim)} ({r.certainty} certainty)"
                    for r in part.itertuples(index=False)) + "."
        missing = v.loc[v["verdict"] == "insufficient evidence", "claim"]
        if len(missing):
            text += " Insufficient evidence: " + "; ".join(_lower(c) for c in missing) + "."
        return text

    def certainty_table(self) -> pd.DataFrame:
        """One row per claim with a verdict: certainty and each downgrade with its reason."""
        return self.verdicts.loc[self.verdicts["verdict"] != "insufficient evidence",
                                 ["claim_id", "verdict", "certainty", "k", "downgrades"]]


def _lower(text: str) -> str:
    """A claim inside a sentence: first letter lower-cased unless it starts an acronym."""
    first = text.split()[0]
    acronym = len(first) > 1 and first.replace("-", "")[:2].isupper()
    return text if acronym or text[:1].isdigit() else text[0].lower() + text[1:]


def assess_claims(claims: pd.DataFrame, store: TableStore) -> Assessment:
    """Run every claim's evidence function. A claim whose sources do not resolve, or whose id
    has no evidence function, is an error naming it."""
    problems = check_sources(claims, store).query("not ok")
    if len(problems):
        raise EvidenceError("claims.csv cites missing evidence: " + "; ".join(
            f"claim {r.claim_id}: {r.problem}" for r in problems.itertuples(index=False)))
    verdicts, evidence = [], []
    for claim in claims.itertuples(index=False):
        evaluator = EVALUATORS.get(claim.claim_id)
        if evaluator is None:
            raise EvidenceError(f"claims.csv: claim {claim.claim_id!r} has no evidence function "
                                f"(known: {', '.join(EVALUATORS)})")
        refs = parse_sources(claim.sources, claim.claim_id)
        result = evaluator(ClaimSources(claim.claim_id, refs, store))
        if result.verdict == "insufficient evidence" and claim.data_needed:
            result.reason += f". Data that would decide it: {claim.data_needed}"
        rows = [dict(e, claim_id=claim.claim_id) for e in result.evidence]
        for row in rows:
            row["display"] = describe(row).split(": ", 1)[1] if row["scale"] != "text" else ""
        evidence += rows
        d = result.decision
        verdicts.append({"claim_id": claim.claim_id, "claim": claim.claim,
                         "verdict": result.verdict, "certainty": result.certainty,
                         "measure": d.get("measure", ""), "estimate": d.get("estimate", np.nan),
                         "ci_low": d.get("ci_low", np.nan), "ci_high": d.get("ci_high", np.nan),
                         "pi_low": d.get("pi_low", np.nan), "pi_high": d.get("pi_high", np.nan),
                         "k": d.get("k", 0), "i2": d.get("i2", np.nan),
                         "tau2": d.get("tau2", np.nan), "threshold": d.get("threshold", ""),
                         "downgrades": "; ".join(result.downgrades) or
                         ("none" if result.certainty else ""),
                         "reason": result.reason.rstrip(".") + ".", "sources": claim.sources})
    return Assessment(pd.DataFrame(verdicts, columns=VERDICT_COLUMNS),
                      pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS))


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1 else f"{value:.0%}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def claims_markdown(assessment: Assessment, claims: pd.DataFrame) -> str:
    """Every claim as a Markdown section: the quoted passage, verdict with certainty and its
    downgrades, the reason, the decision rule, and every evidence row."""
    sections = []
    evidence = assessment.evidence
    for verdict, claim in zip(assessment.verdicts.itertuples(index=False),
                              claims.itertuples(index=False), strict=True):
        certainty_text = (f" Certainty: **{verdict.certainty}** (downgrades: "
                          f"{verdict.downgrades})." if verdict.certainty else "")
        lines = [f"### {claim.claim}", "", f"> {claim.seed_excerpt}", "",
                 f"**Verdict: {verdict.verdict}.**{certainty_text} "
                 f"{verdict.reason[0].upper()}{verdict.reason[1:]}", ""]
        if verdict.threshold:
            lines += [f"*Decision threshold:* {verdict.threshold}.", ""]
        rows = evidence[evidence["claim_id"] == claim.claim_id]
        if len(rows):
            lines += ["| role | data | quantity | estimate (95% CI) | weight | n | note | table |",
                      "|---|---|---|---|---:|---:|---|---|"]
            lines += [f"| {r.role} | {_cell(r.data)} | {_cell(r.quantity)} | {_cell(r.display)} "
                      f"| {_cell(r.weight)} | {_cell(r.n)} | {_cell(r.note)} | `{r.source}` |"
                      for r in rows.itertuples(index=False)]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)
