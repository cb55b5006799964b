"""The background's claims, checked against the other reports' tables and published figures.

``data/reference/claims.csv`` holds one row per checkable claim of the background text: its id,
a short paraphrase, the quoted passage, the kind of evidence that would test it, the tables that
hold that evidence (``sources``) and the data that would test it where ours cannot
(``data_needed``).

A source is written ``<report-id>/<table>.csv[col col ...]`` (a table of another report, found
through ``reports/manifest.json``) or ``reference/<file>.csv[col col ...]`` (a published-figures
table under ``data/reference/``); several are separated by ``;``. Every claim has one evidence
function here (:data:`EVALUATORS`); it may read only the tables and columns its claim declares
(:class:`ClaimSources` enforces this), so the claims file is a complete statement of what each
verdict rests on.

Each evidence row has a ``role``: ``test`` rows decide the verdict; ``context`` rows are shown
but do not count, with the reason in ``note`` (for example: the simulated cohort was calibrated
to the claim, so it cannot test it; the public trials predate combination therapy and have no
viral loads). Verdicts: ``supported``, ``not supported``, ``mixed`` or ``not testable``; the
rule that gave each verdict is spelt out in its ``reason``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .exceptions import EvidenceError
from .formatting import format_ci
from .intervals import wilson
from .paths import reference_dir, relative_to_root, resolve

VERDICTS = ("supported", "mixed", "not supported", "not testable")
ROLES = ("test", "context")
CLAIM_COLUMNS = ["claim_id", "claim", "seed_excerpt", "evidence_kind", "sources", "data_needed"]
EVIDENCE_COLUMNS = ["claim_id", "role", "data", "quantity", "estimate", "ci_low", "ci_high", "n",
                    "scale", "display", "source", "note"]

#: Why each kind of our data is context, not a test, for claims about suppressed patients.
SIMULATED_NOTE = ("simulated cohort calibrated to the published figures: shows the pipeline, "
                  "cannot test the claim")
PRE_HAART_NOTE = ("1990s nucleoside therapy without viral loads: CD4 non-response cannot be "
                  "restricted to suppressed patients")

#: A hazard ratio at or below this is called a clinically meaningful benefit (a 25% reduction,
#: the smallest effect in the trial-design report's range that trials are usually sized for).
MEANINGFUL_HR = 0.75

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
# Evidence rows and verdict rules
# ---------------------------------------------------------------------------------------------

@dataclass
class ClaimResult:
    """Evidence rows, the verdict and its reason for one claim."""

    evidence: list[dict] = field(default_factory=list)
    verdict: str = "not testable"
    reason: str = ""

    def add(self, *, role: str, data: str, quantity: str, source: str, estimate: float = np.nan,
            ci_low: float = np.nan, ci_high: float = np.nan, n: float = np.nan,
            scale: str = "ratio", note: str = "") -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self.evidence.append({"role": role, "data": data, "quantity": quantity,
                              "estimate": estimate, "ci_low": ci_low, "ci_high": ci_high,
                              "n": n, "scale": scale, "source": source, "note": note})

    def tests(self) -> list[dict]:
        return [e for e in self.evidence if e["role"] == "test"]


def _num(value: object) -> float:
    out = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return float(out) if pd.notna(out) else np.nan


def describe(row: dict) -> str:
    """One evidence row as text: ``Grabar 2000: 1.98 (1.26–3.10)``."""
    percent = row["scale"] == "proportion"
    digits = 1 if percent else (0 if row["scale"] == "difference" else 2)
    return f"{row['data']}: {format_ci(row['estimate'], row['ci_low'], row['ci_high'], digits, percent)}"


def direction_verdict(result: ClaimResult, claimed: str, null: float = 1.0,
                      what: str = "estimates") -> None:
    """Verdict from the direction of the ``test`` rows' estimates relative to ``null``.

    ``claimed`` is ``"above"`` or ``"below"``. Supported: every estimate on the claimed side and
    at least one 95% CI excluding the null. Not supported: every estimate on the other side and
    at least one CI excluding the null. Mixed: anything else. Not testable: no test rows.
    """
    tests = [t for t in result.tests() if np.isfinite(t["estimate"])]
    if not tests:
        result.verdict, result.reason = "not testable", "no estimate from data that can test it"
        return
    sign = 1.0 if claimed == "above" else -1.0
    agree = [sign * (t["estimate"] - null) > 0 for t in tests]
    excludes = [np.isfinite(t["ci_low"]) and np.isfinite(t["ci_high"])
                and (t["ci_low"] > null or t["ci_high"] < null) for t in tests]
    listing = "; ".join(describe(t) for t in tests)
    if all(agree) and any(excludes):
        result.verdict = "supported"
        rule = f"all {len(tests)} {what} are {claimed} {null:g} and at least one 95% CI excludes it"
    elif not any(agree) and any(excludes):
        result.verdict = "not supported"
        rule = (f"all {len(tests)} {what} point the other way from the claim, and at least one "
                f"95% CI excludes {null:g}")
    else:
        result.verdict = "mixed"
        n_agree = sum(agree)
        rule = (f"{n_agree} of {len(tests)} {what} point the claimed way"
                + ("" if any(excludes) else f"; no 95% CI excludes {null:g}"))
    result.reason = f"{rule} ({listing})."


def _month_range(text: object) -> tuple[float, float] | None:
    """``"6-12"`` → (6, 12), ``"8"`` → (8, 8), ``"48+"`` → (48, inf); other text → None."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)|(\+))?\s*", str(text))
    if match is None:
        return None
    low = float(match[1])
    high = float(match[2]) if match[2] else (np.inf if match[3] else low)
    return low, high


def _published_proportions(table: pd.DataFrame) -> pd.DataFrame:
    """Published definitions with a single reported percentage and number assessed, the
    non-responder count rebuilt as round(pct × n / 100) and a Wilson 95% CI."""
    out = table.copy()
    out["pct"] = pd.to_numeric(out["reported_pct_nonresponse"], errors="coerce")
    out["n"] = pd.to_numeric(out["reported_n_assessed"], errors="coerce")
    out = out[out["pct"].notna() & out["n"].notna() & (out["verification"] != "seed")]
    count = np.round(out["pct"].to_numpy() * out["n"].to_numpy() / 100.0)
    _, low, high = wilson(count, out["n"].to_numpy())
    out["proportion"] = out["pct"] / 100.0
    out["ci_low"], out["ci_high"] = low, high
    out["months"] = out["assess_month"].map(_month_range)
    return out


def _add_published(result: ClaimResult, rows: pd.DataFrame, quantity: str) -> None:
    """Published proportions (from :func:`_published_proportions`) as test evidence."""
    for row in rows.itertuples(index=False):
        result.add(role="test", data=f"{_cite(row.source)} ({row.id})",
                   quantity=f"{quantity} {row.assess_month}",
                   estimate=row.proportion, ci_low=row.ci_low, ci_high=row.ci_high, n=row.n,
                   scale="proportion", source="reference/published_definitions.csv",
                   note=f"verification: {row.verification}")


def _cite(source: object) -> str:
    """A short citation: the first author and year from ``Grabar S et al. Ann ... 2000;...``."""
    text = str(source)
    author = text.split(" ")[0]
    year = re.search(r"(19|20)\d\d", text)
    return f"{author} {year.group(0)}" if year else author


# ---------------------------------------------------------------------------------------------
# One evidence function per claim
# ---------------------------------------------------------------------------------------------

def _frequency_10_20(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    published = _published_proportions(src.table("reference/published_definitions.csv"))
    in_window = published[published["months"].map(
        lambda m: m is not None and m[0] <= 12 and m[1] >= 6)]
    _add_published(result, in_window, "non-responders at month")
    seed_ids = ("seed_gain_le100_m6_12", "seed_level_le200_m6_12", "seed_level_le300_m6_12")
    for report, label, note in (("frequency-cpcra002", "CPCRA 002", PRE_HAART_NOTE),
                                ("frequency-synthetic", "Simulated cohort", SIMULATED_NOTE)):
        freq = src.table(f"{report}/frequency.csv")
        rows = freq[freq["definition"].isin(seed_ids) & (freq["stratum"] == "overall")]
        for row in rows.itertuples(index=False):
            result.add(role="context", data=f"{label} ({row.definition})",
                       quantity="non-responders at month 12", estimate=row.proportion,
                       ci_low=row.ci_low, ci_high=row.ci_high, n=row.n_assessable,
                       scale="proportion", source=f"{report}/frequency.csv", note=note)
    tests = result.tests()
    inside = [t for t in tests if 0.10 <= t["estimate"] <= 0.20]
    if not tests:
        result.verdict, result.reason = "not testable", "no published estimate at 6-12 months"
        return result
    share = len(inside) / len(tests)
    result.verdict = ("supported" if share >= 2 / 3 else "not supported" if share == 0
                      else "mixed")
    estimates = [t["estimate"] * 100 for t in tests]
    result.reason = (f"{len(inside)} of {len(tests)} published estimates at 6-12 months lie within "
                     f"10-20% (range {min(estimates):.1f}-{max(estimates):.1f}%; rule: supported "
                     "when at least two thirds do, not supported when none does). The figure "
                     "depends on the definition and on the setting, as the claim says; "
                     "our trial data are not suppressed HAART cohorts and are shown for contrast.")
    return result


def _late_response(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    for report, label, role, note in (
            ("trajectories-cpcra002", "CPCRA 002", "test", ""),
            ("trajectories-actg175", "ACTG 175", "test", ""),
            ("trajectories-synthetic", "Simulated cohort", "context", SIMULATED_NOTE)):
        table = src.table(f"{report}/late_response.csv")
        early = src.parameter(report, "early_definition")
        last = table.sort_values(["threshold", "month"]).groupby("threshold").tail(1)
        for row in last.itertuples(index=False):
            result.add(role=role, data=label,
                       quantity=(f"early non-responders ({early}) reaching CD4 > "
                                 f"{row.threshold:g} by month {row.month:g}"),
                       estimate=row.proportion_reached, ci_low=row.ci_low, ci_high=row.ci_high,
                       n=row.n_at_risk, scale="proportion",
                       source=f"{report}/late_response.csv", note=note)
    tests = [t for t in result.tests() if np.isfinite(t["estimate"])]
    reached = [t for t in tests if np.isfinite(t["ci_low"]) and t["ci_low"] > 0]
    if not tests:
        result.verdict, result.reason = "not testable", "no late-response estimate"
    elif reached:
        result.verdict = "supported"
        result.reason = ("in " + ", ".join(sorted({t["data"] for t in reached}))
                         + ", a proportion of early non-responders whose 95% CI excludes zero "
                         "later crossed a CD4 threshold (" + "; ".join(
                             f"{t['quantity']}: {describe(t).split(': ', 1)[1]}"
                             for t in reached) + "). The trials used 1990s nucleoside therapy, "
                         "so the proportions are lower than on suppressive ART.")
    else:
        result.verdict = "not supported"
        result.reason = "no data set shows early non-responders reaching a threshold later."
    return result


def _stalled(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    published = _published_proportions(src.table("reference/published_definitions.csv"))
    long_term = published[(published["family"] == "level") & published["months"].map(
        lambda m: m is not None and m[0] >= 24)]
    _add_published(result, long_term, "still below the CD4 threshold at month")
    for report, label, note in (
            ("trajectories-cpcra002", "CPCRA 002",
             "18 months of follow-up: slopes cannot be measured after year 2"),
            ("trajectories-synthetic", "Simulated cohort", SIMULATED_NOTE)):
        table = src.table(f"{report}/stalled.csv")
        after = src.parameter(report, "stalled_after_years")
        for row in table.itertuples(index=False):
            result.add(role="context", data=label,
                       quantity=f"early non-responders with |slope| < 20 cells/year after "
                                f"year {after}",
                       estimate=row.proportion, ci_low=row.ci_low, ci_high=row.ci_high,
                       n=row.patients_with_slope, scale="proportion",
                       source=f"{report}/stalled.csv", note=note)
    tests = result.tests()
    stalled = [t for t in tests if t["ci_low"] >= 0.05]
    if not tests:
        result.verdict, result.reason = "not testable", "no long-term estimate"
    elif stalled:
        result.verdict = "supported"
        result.reason = (f"{len(stalled)} of {len(tests)} published cohorts find at least 5% "
                         "(lower 95% limit) of patients still below the threshold after two or "
                         "more years of treatment (" + "; ".join(describe(t) for t in stalled)
                         + "). A level at one time is not a plateau: slope data after year 2 "
                         "would test the claim more directly, and our trials lack them.")
    else:
        result.verdict = "not supported"
        result.reason = "no published cohort finds 5% or more still below the threshold."
    return result


def _published_outcome_rows(src: ClaimSources, pattern: str) -> pd.DataFrame:
    table = src.table("reference/published_outcomes.csv")
    return table[table["comparison"].str.contains(pattern, case=False, regex=True)
                 & pd.to_numeric(table["ci_low"], errors="coerce").notna()]


#: Published comparisons of suppressed patients without a CD4 response against responders.
INR_PATTERN = r"virologic response without CD4 response|^discordant \(CD4 <200 despite RNA"
CNR_PATTERN = r"^complete non-response"


def _events_inr_vs_cr(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    for row in _published_outcome_rows(src, INR_PATTERN).itertuples(index=False):
        result.add(role="test", data=_cite(row.source),
                   quantity=f"{row.estimate_type} of {row.outcome}", estimate=_num(row.estimate),
                   ci_low=_num(row.ci_low), ci_high=_num(row.ci_high), n=_num(row.n),
                   source="reference/published_outcomes.csv")
    for report, label, term, note in (
            ("outcomes-cpcra002", "CPCRA 002", "status[cd4_nonresponder]",
             PRE_HAART_NOTE + "; event: death"),
            ("outcomes-actg175", "ACTG 175", "status[cd4_nonresponder]",
             PRE_HAART_NOTE + "; the endpoint itself contains a CD4 decline"),
            ("outcomes-synthetic", "Simulated cohort", "status[immunologic_nonresponder]",
             SIMULATED_NOTE)):
        cox = src.table(f"{report}/cox.csv")
        row = cox[(cox["model"] == "adjusted") & (cox["term"] == term)]
        definition = src.parameter(report, "status_definition")
        for r in row.itertuples(index=False):
            result.add(role="context", data=label,
                       quantity=f"adjusted HR, CD4 non-responders ({definition}) vs responders",
                       estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n,
                       source=f"{report}/cox.csv", note=note + f"; {r.events} events")
    direction_verdict(result, "above", what="published ratios")
    result.reason += (" Our trial data point the same way but cannot restrict to suppressed "
                      "patients.")
    return result


def _events_inr_vs_cnr(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    inr = _published_outcome_rows(src, INR_PATTERN)
    cnr = _published_outcome_rows(src, CNR_PATTERN)
    both = sorted(set(inr["study"]) & set(cnr["study"]))
    for group, rows in (("immunologic non-responders", inr), ("complete non-responders", cnr)):
        for row in rows[rows["study"].isin(both)].itertuples(index=False):
            result.add(role="test", data=_cite(row.source),
                       quantity=f"{row.estimate_type} of {row.outcome}, {group} vs complete "
                                "responders",
                       estimate=_num(row.estimate), ci_low=_num(row.ci_low),
                       ci_high=_num(row.ci_high), n=_num(row.n),
                       source="reference/published_outcomes.csv")
    rates = src.table("outcomes-synthetic/rate_ratios.csv")
    for row in rates.itertuples(index=False):
        result.add(role="context", data="Simulated cohort",
                   quantity=f"rate ratio, {row.group} vs {row.reference}",
                   estimate=row.rate_ratio, ci_low=row.ci_low, ci_high=row.ci_high,
                   source="outcomes-synthetic/rate_ratios.csv", note=SIMULATED_NOTE)
    if not both:
        result.verdict = "not testable"
        result.reason = "no study at hand reports both comparisons."
        return result
    ordered, overlapping = [], []
    for study in both:
        a, b = inr[inr["study"] == study].iloc[0], cnr[cnr["study"] == study].iloc[0]
        ordered.append(_num(a["estimate"]) < _num(b["estimate"]))
        overlapping.append(_num(a["ci_high"]) >= _num(b["ci_low"]))
    result.verdict = ("supported" if all(ordered) else "not supported" if not any(ordered)
                      else "mixed")
    result.reason = (f"in {sum(ordered)} of {len(both)} studies reporting both comparisons "
                     f"({', '.join(both)}) the ratio of immunologic non-responders is below that "
                     "of complete non-responders ("
                     + "; ".join(f"{t['quantity'].split(', ')[1]}: {describe(t).split(': ')[1]}"
                                 for t in result.tests()) + ")"
                     + ("; the 95% CIs overlap, so the ordering rests on point estimates"
                        if any(overlapping) else "")
                     + ". None of the public trials has viral loads, so our data cannot test it.")
    return result


def _odds_rows(src: ClaimSources, report: str, terms: dict[str, str], role: str, data: str,
               note: str = "", invert: bool = False) -> list[dict]:
    """Odds-ratio rows of a risk-factor report for the given ``{term: quantity}``."""
    table = src.table(f"{report}/odds_ratios.csv")
    definition = src.parameter(report, "definition_id")
    rows = []
    for term, quantity in terms.items():
        for r in table[table["term"] == term].itertuples(index=False):
            estimate, low, high = r.estimate, r.ci_low, r.ci_high
            if invert:
                estimate, low, high = 1 / estimate, 1 / high, 1 / low
            rows.append({"role": role, "data": data, "quantity": f"{quantity} ({definition})",
                         "estimate": estimate, "ci_low": low, "ci_high": high, "n": r.n,
                         "scale": "ratio", "source": f"{report}/odds_ratios.csv", "note": note})
    return rows


def _predictor_low_baseline_cd4(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    # per *lower* baseline CD4, so that an odds ratio above 1 agrees with the claim
    result.evidence += _odds_rows(src, "risk-factors-actg175",
                                  {"cd4_per100": "OR of non-response per 100 cells/mm³ lower "
                                                 "baseline CD4"}, "test", "ACTG 175", invert=True)
    result.evidence += _odds_rows(src, "risk-factors-cpcra002",
                                  {"cd4_per50": "OR of non-response per 50 cells/mm³ lower "
                                                "baseline CD4"}, "test", "CPCRA 002", invert=True)
    result.evidence += _odds_rows(src, "risk-factors-synthetic",
                                  {"baseline_cd4_band[<50]":
                                   "OR of non-response, baseline CD4 <50 vs 200-349"},
                                  "context", "Simulated cohort", SIMULATED_NOTE)
    freq = src.table("frequency-actg175/frequency.csv")
    level = freq[(freq["definition"] == "actg175_level_lt350_w20")
                 & freq["stratum"].str.startswith("baseline_cd4_band=")
                 & (freq["n_assessable"] >= 100)]
    for r in level.itertuples(index=False):
        result.add(role="context", data="ACTG 175",
                   quantity=f"CD4 < 350 at week 20, {r.stratum.split('=', 1)[1]} cells/mm³ at "
                            "baseline",
                   estimate=r.proportion, ci_low=r.ci_low, ci_high=r.ci_high,
                   n=r.n_assessable, scale="proportion", source="frequency-actg175/frequency.csv",
                   note="level-based definition: low baseline predicts it almost by construction")
    direction_verdict(result, "above", what="odds ratios per lower baseline CD4 (gain-based "
                                            "definitions)")
    result.reason += (" With a gain-based definition, patients starting low gain as much or more; "
                      "with a level-based one, a low start predicts a low level by construction.")
    return result


def _predictor_age(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    published = src.table("reference/published_outcomes.csv")
    for r in published[published["comparison"].str.contains("years older")].itertuples(
            index=False):
        result.add(role="test", data=_cite(r.source),
                   quantity=f"{r.estimate_type} of {r.outcome}, {r.comparison}",
                   estimate=_num(r.estimate), ci_low=_num(r.ci_low), ci_high=_num(r.ci_high),
                   n=_num(r.n), source="reference/published_outcomes.csv",
                   note="no CI in the reference table" if pd.isna(_num(r.ci_low)) else "")
    result.evidence += _odds_rows(src, "risk-factors-actg175",
                                  {"age10": "OR of non-response per 10 years of age"},
                                  "test", "ACTG 175")
    result.evidence += _odds_rows(src, "risk-factors-synthetic",
                                  {"age10": "OR of non-response per 10 years of age"},
                                  "context", "Simulated cohort", SIMULATED_NOTE)
    direction_verdict(result, "above", what="ratios per 10 years older")
    return result


def _predictor_prior_oi(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    result.evidence += _odds_rows(src, "risk-factors-cpcra002",
                                  {"prior_aids": "OR of non-response, prior AIDS-defining "
                                                 "illness"}, "test", "CPCRA 002")
    result.evidence += _odds_rows(src, "risk-factors-actg175",
                                  {"symptom": "OR of non-response, symptomatic HIV infection"},
                                  "context", "ACTG 175",
                                  "symptomatic infection is a proxy, not a prior OI")
    result.evidence += _odds_rows(src, "risk-factors-synthetic",
                                  {"prior_aids": "OR of non-response, prior AIDS/OI"},
                                  "context", "Simulated cohort", SIMULATED_NOTE)
    direction_verdict(result, "above", what="odds ratios")
    return result


def _not_testable(src: ClaimSources, terms: dict[str, str]) -> ClaimResult:
    """Claims only the simulated cohort speaks to: shown as context, verdict not testable."""
    result = ClaimResult()
    result.evidence += _odds_rows(src, "risk-factors-synthetic", terms, "context",
                                  "Simulated cohort", SIMULATED_NOTE)
    result.verdict = "not testable"
    result.reason = "none of the data sets at hand records this exposure (only the simulated " \
                    "cohort, which was built with the effect and cannot test it)."
    return result


def _predictor_duration(src: ClaimSources) -> ClaimResult:
    return _not_testable(src, {"years_since_diagnosis": "OR of non-response per year since "
                                                        "diagnosis"})


def _regimen_ddi_tdf(src: ClaimSources) -> ClaimResult:
    return _not_testable(src, {"ddi_tdf": "OR of non-response, didanosine + tenofovir"})


def _regimen_zdv_tmp_smx(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    definition = src.parameter("risk-factors-actg175", "definition_id")
    freq = src.table("frequency-actg175/frequency.csv")
    arms = freq[(freq["definition"] == definition) & freq["stratum"].str.startswith("arm=")]
    for r in arms.itertuples(index=False):
        result.add(role="test", data=f"ACTG 175, {r.stratum.split('=', 1)[1]} arm",
                   quantity=f"non-responders ({definition})", estimate=r.proportion,
                   ci_low=r.ci_low, ci_high=r.ci_high, n=r.n_assessable, scale="proportion",
                   source="frequency-actg175/frequency.csv", note="randomised arms")
    result.evidence += _odds_rows(src, "risk-factors-synthetic",
                                  {"zdv": "OR of non-response, zidovudine",
                                   "tmp_smx": "OR of non-response, TMP/SMX prophylaxis"},
                                  "context", "Simulated cohort", SIMULATED_NOTE)
    by_arm = {t["data"].split(", ")[1].removesuffix(" arm"): t for t in result.tests()}
    reference = by_arm.get("ddI")
    zdv_arms = {k: v for k, v in by_arm.items() if "ZDV" in k}
    if reference is None or not zdv_arms:
        result.verdict, result.reason = "not testable", "no zidovudine-free arm to compare with"
        return result
    higher = [k for k, v in zdv_arms.items() if v["ci_low"] > reference["ci_high"]]
    lower = [k for k, v in zdv_arms.items() if v["ci_high"] < reference["ci_low"]]
    result.verdict = ("supported" if len(higher) == len(zdv_arms)
                      else "not supported" if len(lower) == len(zdv_arms) else "mixed")
    result.reason = (f"against didanosine alone ({describe(reference).split(': ')[1]}), "
                     f"non-response was more frequent (95% CIs apart) on {', '.join(higher) or 'no arm'}"
                     f" and less frequent on {', '.join(lower) or 'no arm'} among the "
                     f"{len(zdv_arms)} zidovudine-containing arms. Zidovudine monotherapy did "
                     "worse than didanosine monotherapy, but zidovudine with didanosine did best, "
                     "so zidovudine does not blunt CD4 gains in every regimen. TMP/SMX is not "
                     "recorded in the trials: that half of the claim is not testable here.")
    return result


#: Result texts of intensification trials that report no (sustained) CD4 benefit.
NO_BENEFIT = re.compile(r"no (significant )?difference|not met|not sustained", re.IGNORECASE)


def _intensification(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    table = src.table("reference/other_interventions.csv")
    trials = table[table["class"] == "ART intensification"]
    for r in trials.itertuples(index=False):
        n = _num(r.n_treated) + (_num(r.n_control) if pd.notna(_num(r.n_control)) else 0)
        result.add(role="test", data=f"{r.trial} ({r.intervention})", quantity=r.result,
                   n=n, scale="text", source="reference/other_interventions.csv",
                   note=f"{_cite(r.source)}; verification: {r.verification}")
    no_benefit = [bool(NO_BENEFIT.search(t["quantity"])) for t in result.tests()]
    if not no_benefit:
        result.verdict, result.reason = "not testable", "no intensification trial at hand"
        return result
    result.verdict = ("supported" if all(no_benefit) else "not supported" if not any(no_benefit)
                      else "mixed")
    result.reason = (f"{sum(no_benefit)} of {len(no_benefit)} intensification trials in "
                     "immunologic non-responders report no (sustained) CD4 benefit; all are "
                     f"small ({int(min(t['n'] for t in result.tests()))}-"
                     f"{int(max(t['n'] for t in result.tests()))} patients) and none has a "
                     "clinical endpoint.")
    return result


def _il2_raises_cd4(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    effects = src.table("il2-evidence/cd4_effects.csv")
    for r in effects.itertuples(index=False):
        difference = _num(r.difference)
        role = "test" if np.isfinite(difference) else "context"
        low, high = _num(r.ci_low), _num(r.ci_high)
        result.add(role=role, data=r.trial, quantity=f"IL-2 minus control: {r.measure}",
                   estimate=difference, ci_low=low, ci_high=high, scale="difference",
                   source="il2-evidence/cd4_effects.csv",
                   note=("" if role == "test" else f"reported as IL-2 {r.il2} vs control "
                         f"{r.control}, no difference computable") + f"; {r.citation}")
    direction_verdict(result, "above", null=0.0, what="CD4 differences")
    return result


def _il2_most_promising(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    trials = src.table("reference/il2_trials.csv")
    for r in trials[trials["trial"].isin(["ESPRIT", "SILCAAT"])].itertuples(index=False):
        result.add(role="test", data=r.trial, quantity=f"HR of {r.clinical_endpoint}, IL-2 vs "
                   "control", estimate=_num(r.hr), ci_low=_num(r.hr_ci_low),
                   ci_high=_num(r.hr_ci_high), n=_num(r.n_il2) + _num(r.n_control),
                   source="reference/il2_trials.csv", note=_cite(r.source))
    meta = src.table("il2-evidence/meta_clinical.csv")
    pooled = meta[(meta["endpoint"] == "opportunistic disease or death (trials on ART)")
                  & (meta["model"] == "fixed effect")]
    for r in pooled.itertuples(index=False):
        result.add(role="test", data="Pooled, trials on ART", quantity=f"HR of {r.endpoint}, "
                   f"{r.model} (k = {r.k})", estimate=r.estimate, ci_low=r.ci_low,
                   ci_high=r.ci_high, source="il2-evidence/meta_clinical.csv")
    others = src.table("reference/other_interventions.csv")
    others = others[others["class"] == "immune-based therapy"]
    others_effects = others.groupby("intervention", sort=True)["clinical_effect"].agg(list)
    for r in others.itertuples(index=False):
        result.add(role="context", data=f"{r.trial} ({r.intervention})",
                   quantity=f"clinical effect: {r.clinical_effect}", scale="text",
                   n=_num(r.n_treated), source="reference/other_interventions.csv",
                   note=f"{_cite(r.source)}; {r.result}")
    if pooled.empty:
        result.verdict, result.reason = "not testable", "no pooled clinical estimate"
        return result
    p = result.tests()[-1]
    if p["ci_high"] < 1:
        result.verdict = "supported"
        rule = "the pooled 95% CI lies below 1"
    elif p["ci_low"] > MEANINGFUL_HR:
        result.verdict = "not supported"
        rule = (f"the pooled 95% CI includes 1 and excludes a clinically meaningful benefit "
                f"(HR ≤ {MEANINGFUL_HR})")
    else:
        result.verdict = "mixed"
        rule = "the pooled 95% CI includes both 1 and a meaningful benefit"
    result.reason = (f"ESPRIT and SILCAAT raised CD4 counts yet {rule}: "
                     + "; ".join(describe(t) for t in result.tests())
                     + ". CD4 gains proved no surrogate for clinical benefit. Other immune-based "
                       "therapies at hand: " + "; ".join(
                           f"{intervention}: {', '.join(sorted(set(effects)))}"
                           for intervention, effects in others_effects.items()) + ".")
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

@dataclass
class Assessment:
    """Verdicts (one row per claim) and evidence (one row per number) for every claim."""

    verdicts: pd.DataFrame
    evidence: pd.DataFrame

    def summary(self) -> str:
        """One paragraph: how many claims got each verdict, and which were not supported."""
        counts = self.verdicts["verdict"].value_counts()
        parts = [f"{counts.get(v, 0)} {v}" for v in VERDICTS if counts.get(v, 0)]
        text = (f"Of the background's {len(self.verdicts)} checkable claims, "
                + ", ".join(parts) + ".")
        for verdict in ("not supported", "mixed"):
            names = self.verdicts.loc[self.verdicts["verdict"] == verdict, "claim"]
            if len(names):
                text += f" {verdict.capitalize()}: " + "; ".join(
                    n[0].lower() + n[1:] if n[1:2].islower() else n for n in names) + "."
        return text


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
        if result.verdict == "not testable" and claim.data_needed:
            result.reason += f" Data that would test it: {claim.data_needed}."
        rows = [dict(e, claim_id=claim.claim_id) for e in result.evidence]
        for row in rows:
            row["display"] = describe(row).split(": ", 1)[1] if row["scale"] != "text" else ""
        evidence += rows
        tests = result.tests()
        verdicts.append({"claim_id": claim.claim_id, "claim": claim.claim,
                         "verdict": result.verdict, "reason": result.reason,
                         "n_test": len(tests), "n_context": len(result.evidence) - len(tests),
                         "sources": claim.sources})
    evidence_frame = pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS)
    return Assessment(pd.DataFrame(verdicts), evidence_frame)


def plot_ratio_evidence(evidence: pd.DataFrame):
    """Forest plot of every ratio estimate (test rows filled, context rows open), by claim."""
    import matplotlib.pyplot as plt

    rows = evidence[(evidence["scale"] == "ratio") & evidence["estimate"].notna()].reset_index(
        drop=True)
    fig, ax = plt.subplots(figsize=(8.0, 0.32 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows.itertuples(index=False)):
        test = row.role == "test"
        ax.errorbar(row.estimate, yi,
                    xerr=[[row.estimate - row.ci_low], [row.ci_high - row.estimate]]
                    if np.isfinite(row.ci_low) else None,
                    fmt="o", color="black" if test else "grey",
                    markerfacecolor="black" if test else "white", capsize=2)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r.claim_id}: {r.data}" for r in rows.itertuples(index=False)],
                       fontsize=8)
    ax.set_xlabel("Ratio (odds, hazard or rate ratio; log scale)")
    ax.set_title("Ratio evidence by claim (filled: tests the claim; open: context)")
    fig.tight_layout()
    return fig


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def claims_markdown(assessment: Assessment, claims: pd.DataFrame) -> str:
    """Every claim as a Markdown section: the quoted passage, verdict, reason, evidence table."""
    sections = []
    evidence = assessment.evidence
    for verdict, claim in zip(assessment.verdicts.itertuples(index=False),
                              claims.itertuples(index=False)):
        lines = [f"### {claim.claim}", "",
                 f"> {claim.seed_excerpt}", "",
                 f"**Verdict: {verdict.verdict}.** {verdict.reason[0].upper()}{verdict.reason[1:]}",
                 "", f"*Evidence sought:* {claim.evidence_kind}.", ""]
        rows = evidence[evidence["claim_id"] == claim.claim_id]
        if len(rows):
            lines += ["| role | data | quantity | estimate (95% CI) | n | note | table |",
                      "|---|---|---|---|---:|---|---|"]
            lines += [f"| {r.role} | {_cell(r.data)} | {_cell(r.quantity)} | {_cell(r.display)} "
                      f"| {_cell(r.n)} | {_cell(r.note)} | `{r.source}` |"
                      for r in rows.itertuples(index=False)]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)
