"""The reference database, and the only door to ``data/reference/``: published study-level
figures and the background's claims, one pandera schema per table (the single statement of
each table's columns), which rows may enter a pooled estimate, and the readers that pick
published figures out of the tables (rates, outcomes, frequencies, CD4 variability).

Every row keeps its citation, identifier, source URL and ``verification`` tag: ``V`` read in
the original, ``V2`` seen only in a secondary copy. A blank number could not be read and is
never filled in. Rows that are not V or V2 are shown but never pooled (:func:`poolable`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from .exceptions import EvidenceError
from .formatting import captioned
from .intervals import exact_poisson_ci
from .paths import reference_dir, resolve

#: Verification tags that allow a row into a pooled estimate.
POOLABLE_VERIFICATION = ("V", "V2")

_YES_NO = ["yes", "no", "partial"]
#: What ``late_response.csv`` measures (its README).
LATE_MEASURES = ["proportion_crossing", "proportion_still_below", "slope_per_year",
                 "median_cd4", "proportion_plateau", "median_time_to_threshold_weeks"]
#: How a study relates to others that share its patients (``study_groups.csv``).
RELATIONS = ["same cohort", "contains others", "contained in", "meta-analysis"]
#: Columns where the source printed text in a number's place (a range "12-36", "<=5 (last
#: follow-up)", "mean 7.5"): the text is kept in ``<column>_printed`` and the number left blank
#: (never a midpoint or a guess).
PRINTED_AS_TEXT = {"inr_frequency": ("assess_month",),
                   "late_response": ("years_from_art_start", "estimate")}

#: One declared source of a claim: ``<report-id>/<table>.csv[col col ...]`` (a report's table)
#: or ``reference/<file>.csv[col ...]`` (a table of this folder).
SOURCE_PATTERN = re.compile(r"^\s*(?P<location>[A-Za-z0-9_.-]+)/(?P<table>[A-Za-z0-9_.-]+\.csv)"
                            r"\[(?P<columns>[^\]]*)\]\s*$")


def _text(required: bool = True, nullable: bool = False, **kw) -> pa.Column:
    return pa.Column(str, nullable=nullable, required=required, **kw)


def _number(nullable: bool = True, minimum: float | None = None) -> pa.Column:
    checks = [pa.Check.ge(minimum)] if minimum is not None else []
    return pa.Column(float, nullable=nullable, coerce=True, checks=checks)


def _ids(name: str) -> pa.Column:
    return pa.Column(str, unique=True, nullable=False, description=f"{name}: row identifier")


_VERIFICATION = pa.Column(str, nullable=False, checks=pa.Check.isin(POOLABLE_VERIFICATION),
                          description="V = read in the original; V2 = secondary copy only")

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "inr_frequency": pa.DataFrameSchema({
        "estimate_id": _ids("estimate"), "study_id": _text(), "citation": _text(),
        "pmid_doi_or_url": _text(nullable=True), "region": _text(nullable=True),
        "n_analysed": _number(minimum=1), "baseline_cd4_median": _number(minimum=0),
        "suppressed_population": pa.Column(str, checks=pa.Check.isin(_YES_NO)),
        "cd4_rule": _text(), "cd4_threshold": _number(minimum=0),
        "assess_month": _number(minimum=0), "n_inr": _number(minimum=0),
        "pct_inr": _number(minimum=0), "ci_low_pct": _number(minimum=0),
        "ci_high_pct": _number(minimum=0), "source_url": _text(nullable=True),
        "verification": _VERIFICATION, "note": _text(nullable=True),
    }, checks=[pa.Check(lambda d: (d["pct_inr"].isna() | (d["pct_inr"] <= 100)),
                        error="pct_inr is a percentage")], strict=False),
    "inr_risk_factors": pa.DataFrameSchema({
        "estimate_id": _ids("estimate"), "study_id": _text(), "citation": _text(),
        "n_analysed": _number(minimum=1),
        "suppressed_population": pa.Column(str, checks=pa.Check.isin(_YES_NO)),
        "outcome_definition": _text(), "factor": _text(), "contrast": _text(nullable=True),
        "measure": pa.Column(str, nullable=True, checks=pa.Check.isin(["OR", "HR", "RR"])),
        "estimate": _number(minimum=0), "ci_low": _number(minimum=0),
        "ci_high": _number(minimum=0),
        "direction": pa.Column(str, nullable=True, checks=pa.Check.isin(["yes", "no"])),
        "verification": _VERIFICATION,
    }, strict=False),
    "inr_risk_factors_linear": pa.DataFrameSchema({
        "estimate_id": _ids("estimate"), "study_id": _text(), "citation": _text(),
        "factor": _text(), "measure": pa.Column(str, checks=pa.Check.isin(["MD_cells"])),
        "estimate": _number(nullable=False), "ci_low": _number(), "ci_high": _number(),
        "verification": _VERIFICATION,
    }, strict=False),
    "inr_outcomes": pa.DataFrameSchema({
        "estimate_id": _ids("estimate"), "study_id": _text(), "citation": _text(),
        "n_analysed": _number(minimum=1), "inr_definition": _text(nullable=True),
        "comparison": _text(), "outcome": pa.Column(str, checks=pa.Check.isin(
            ["death", "aids", "aids_or_death", "non_aids_event", "other"])),
        "measure": pa.Column(str, nullable=True,
                             checks=pa.Check.isin(["HR", "IRR", "OR", "RR"])),
        "estimate": _number(minimum=0), "ci_low": _number(minimum=0),
        "ci_high": _number(minimum=0), "events_inr": _number(minimum=0),
        "py_inr": _number(minimum=0), "events_cr": _number(minimum=0),
        "py_cr": _number(minimum=0), "verification": _VERIFICATION,
    }, strict=False),
    "event_rates": pa.DataFrameSchema({
        "rate_id": _ids("rate"), "source": _text(), "citation": _text(),
        "population": _text(), "cd4_stratum": _text(nullable=True), "outcome": _text(),
        "events": _number(minimum=0), "person_years": _number(minimum=0),
        "rate_per_100py": _number(minimum=0), "ci_low": _number(minimum=0),
        "ci_high": _number(minimum=0), "verification": _VERIFICATION,
    }, strict=False),
    "cd4_variability": pa.DataFrameSchema({
        "var_id": _ids("variability"), "citation": _text(), "population": _text(),
        "measure": pa.Column(str, checks=pa.Check.isin(["CV", "sd_sqrt", "sd_log", "other"])),
        "value": _text(), "verification": _VERIFICATION,
    }, strict=False),
    "immune_therapy_trials": pa.DataFrameSchema({
        "trial_id": _ids("trial row"), "trial": _text(), "intervention": _text(),
        "design": _text(), "source": _text(),
        "restricted_to_inr": pa.Column(str, checks=pa.Check.isin(["yes", "no"])),
        "verification": _VERIFICATION,
    }, strict=False),
    # the project's own table of calibration targets (published values with their sources)
    "simulation_calibration_targets": pa.DataFrameSchema({
        "target": _ids("target"), "description": _text(), "statistic": _text(),
        "reference_row": _text(nullable=True), "published_value": _number(),
        "published_ci_low": _number(), "published_ci_high": _number(),
        "published_interval": _text(required=True, nullable=True),
        "tolerance_low": _number(), "tolerance_high": _number(),
        "tolerance_factor": _number(minimum=1), "tolerance_set_by": _text(nullable=True),
        "source": _text(),
    }, checks=[
        pa.Check(lambda d: d["published_value"].notna() | d["reference_row"].notna(),
                 error="a target has a published value or names the reference row holding it"),
        pa.Check(lambda d: ~((d["tolerance_low"] > d["published_value"])
                             | (d["published_value"] > d["tolerance_high"])),
                 error="the published value lies inside its tolerance"),
    ], strict=False),
    # the older tables: their verification tags are free text (never poolable)
    "published_definitions": pa.DataFrameSchema({
        "id": _ids("definition"), "family": _text(), "cd4_rule": _text(nullable=True),
        "source": _text(), "frequency_estimates": _text(nullable=True),
        "verification": _text(),
    }, strict=False),
    "il2_trials": pa.DataFrameSchema({
        "trial": _ids("trial"), "source": _text(), "on_art": _text(),
        "hr": _number(minimum=0), "hr_ci_low": _number(minimum=0),
        "hr_ci_high": _number(minimum=0), "verification": _text(),
    }, strict=False),
    "other_interventions": pa.DataFrameSchema({
        "intervention": _text(), "class": _text(), "trial": _text(), "source": _text(),
        "verification": _text(),
    }, strict=False),
    "late_response": pa.DataFrameSchema({
        "estimate_id": _ids("estimate"), "study_id": _text(), "citation": _text(),
        "pmid_doi_or_url": _text(nullable=True), "region": _text(nullable=True),
        "n_analysed": _number(minimum=1),
        "suppressed_population": pa.Column(str, nullable=True, checks=pa.Check.isin(_YES_NO)),
        "early_definition": _text(), "later_threshold": _text(nullable=True),
        "years_from_art_start": _number(minimum=0),
        "measure": pa.Column(str, checks=pa.Check.isin(LATE_MEASURES)),
        "estimate": _number(), "ci_low": _number(), "ci_high": _number(),
        "n_event": _number(minimum=0),
        "competing_death_handled": pa.Column(str, nullable=True,
                                             checks=pa.Check.isin(["yes", "no", "unclear"])),
        "source_url": _text(nullable=True), "verification": _VERIFICATION,
        "note": _text(nullable=True),
    }, strict=False),
    # the project's own: which studies share patients (one estimate per group is pooled)
    "study_groups": pa.DataFrameSchema({
        "study_id": _ids("study"), "study_group": _text(),
        "contained_in": _text(nullable=True),
        "relation": pa.Column(str, checks=pa.Check.isin(RELATIONS)), "reason": _text(),
    }, strict=True),
    # the project's own: which published row answers which pooled question, and how it is turned
    "harmonization": pa.DataFrameSchema({
        "question": _text(), "estimate_id": _text(),
        "source_table": pa.Column(str, checks=pa.Check.isin(
            ["inr_frequency", "inr_risk_factors", "inr_risk_factors_linear",
             "immune_therapy_trials"])),
        "role": pa.Column(str, checks=pa.Check.isin(["pool", "exclude"])),
        "invert": pa.Column(str, checks=pa.Check.isin(_YES_NO[:2])),
        "design": pa.Column(str, checks=pa.Check.isin(["randomized", "observational",
                                                       "single-arm"])),
        "p_printed": _text(nullable=True), "reason": _text(),
    }, strict=True, unique=["question", "estimate_id"]),
    # the background's checkable claims and the tables that hold their evidence
    "claims": pa.DataFrameSchema({
        "claim_id": pa.Column(str, unique=True, checks=pa.Check.str_length(min_value=1)),
        "claim": pa.Column(str, checks=pa.Check.str_length(min_value=1)),
        "seed_excerpt": _text(), "evidence_kind": _text(),
        "sources": pa.Column(str, checks=pa.Check(
            lambda s: s.map(_sources_well_formed),
            error="every ';'-separated entry is <report-id>/<table>.csv[col col ...]")),
        "data_needed": _text(),
    }, strict=False),
}


def _sources_well_formed(text: str) -> bool:
    entries = [e for e in str(text).split(";") if e.strip()]
    return all((m := SOURCE_PATTERN.match(e)) is not None and m["columns"].split()
               for e in entries)


#: How a table is read where it differs from ``pd.read_csv``'s defaults.
READ_OPTIONS = {"claims": {"dtype": str, "keep_default_na": False}}

#: The study-level tables brought in from the shared reference (V and V2 rows only).
STUDY_TABLES = ("inr_frequency", "inr_risk_factors", "inr_risk_factors_linear", "inr_outcomes",
                "event_rates", "cd4_variability", "immune_therapy_trials", "late_response")


def load(table: str, path: str | Path | None = None) -> pd.DataFrame:
    """``data/reference/<table>.csv`` (or the file ``path`` holding that table), validated
    against its schema; every failure is raised at once (pandera ``SchemaErrors``)."""
    path = Path(resolve(path) if path is not None else reference_dir() / f"{table}.csv")
    stat = path.stat()
    return _load(table, str(path), stat.st_mtime_ns, stat.st_size).copy()


@functools.lru_cache(maxsize=64)
def _load(table: str, path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """:func:`load`, read and validated once per file version (the frequency report looks up
    the published frequency of each of its definitions; callers get a copy)."""
    frame = pd.read_csv(path, **READ_OPTIONS.get(table, {}))
    for column in PRINTED_AS_TEXT.get(table, ()):
        number = pd.to_numeric(frame[column], errors="coerce")
        frame[f"{column}_printed"] = frame[column].where(number.isna() & frame[column].notna())
        frame[column] = number
    return SCHEMAS[table].validate(frame, lazy=True)


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """``claims.csv`` (or ``path``) through its schema; a failure is an :class:`EvidenceError`
    naming the file, and each column, check and claim that failed."""
    try:
        return load("claims", path)
    except SchemaErrors as err:
        cases = err.failure_cases
        problems = "; ".join(f"column {r.column}: {r.check} (value {r.failure_case!r})"
                             for r in cases.itertuples(index=False))
        name = Path(path).name if path is not None else "claims.csv"
        raise EvidenceError(f"{name}: {problems}") from None


def rows(table: str, id_column: str, ids: list[str]) -> pd.DataFrame:
    """The rows of a reference table with the given ids, in that order; a missing id is a
    ``KeyError`` naming the ids and the table."""
    frame = load(table).set_index(id_column)
    missing = [i for i in ids if i not in frame.index]
    if missing:
        raise KeyError(f"{', '.join(missing)} not in {table}.csv")
    return frame.loc[ids].reset_index()


def study_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``study_group`` (analyses of the same cohort share it; a study in no
    group is its own), ``contained_in`` (the collaboration that pools this cohort among
    others, or blank) and ``meta_analysis`` (True for a pooled analysis of other studies, an
    external comparison never pooled with them), from ``study_groups.csv``."""
    groups = load("study_groups").set_index("study_id")
    out = frame.copy()
    out["study_group"] = out["study_id"].map(groups["study_group"]).fillna(out["study_id"])
    out["contained_in"] = out["study_id"].map(groups["contained_in"])
    out["meta_analysis"] = out["study_id"].map(groups["relation"]).eq("meta-analysis")
    return out


def poolable(frame: pd.DataFrame) -> pd.Series:
    """True where a row's verification allows it into a pooled estimate."""
    return frame["verification"].isin(POOLABLE_VERIFICATION)


def published_cv(var_id: str) -> float:
    """Within-person coefficient of variation of one absolute CD4 count, as a fraction, from
    the first percentage in the ``value`` of row ``var_id`` of ``cd4_variability.csv``."""
    row = load("cd4_variability").set_index("var_id").loc[var_id]
    if row["measure"] != "CV":
        raise ValueError(f"{var_id} is not a coefficient of variation ({row['measure']})")
    match = re.search(r"(\d+(?:\.\d+)?)\s*%", str(row["value"]))
    if not match:
        raise ValueError(f"{var_id}: no percentage in {row['value']!r}")
    return float(match.group(1)) / 100


def published_true_ranges(var_id: str) -> dict[float, tuple[float, float]]:
    """The "measured -> (low, high)" 95% ranges of the true count in row ``var_id`` of
    ``cd4_variability.csv`` (Hoover 1992, CV09), keyed by the measured count (cells/mm³)."""
    value = str(load("cd4_variability").set_index("var_id").loc[var_id, "value"])
    found = re.findall(r"(\d+(?:\.\d+)?)\s*->\s*\((\d+(?:\.\d+)?),\s*(\d+(?:\.\d+)?)\)",
                       value)
    if len(found) < 2:
        raise ValueError(f"{var_id}: fewer than two 'count -> (low, high)' ranges in {value!r}")
    return {float(c): (float(lo), float(hi)) for c, lo, hi in found}


RATE_COLUMNS = ["rate_id", "source", "population", "cd4_stratum", "outcome", "events",
                "person_years", "rate_per_100py", "ci_low", "ci_high", "ci_source",
                "verification"]


def published_rates(rate_ids: list[str]) -> pd.DataFrame:
    """Rows of ``event_rates.csv`` (per 100 person-years) with a 95% CI: the published one,
    else the exact Poisson interval from events and person-years when both are published,
    else none (``ci_source`` says which)."""
    try:
        out = rows("event_rates", "rate_id", rate_ids)
    except KeyError as err:
        raise ValueError(f"rate id(s) not in event_rates.csv: {err.args[0]}") from None
    out["ci_source"] = np.where(out["ci_low"].notna(), "published", "none")
    computable = out["ci_low"].isna() & out["events"].notna() & out["person_years"].notna()
    if computable.any():
        low, high = exact_poisson_ci(out.loc[computable, "events"].to_numpy(),
                                     out.loc[computable, "person_years"].to_numpy())
        out.loc[computable, "ci_low"], out.loc[computable, "ci_high"] = 100 * low, 100 * high
        out.loc[computable, "ci_source"] = "exact Poisson from events and person-years"
        rate = 100 * out.loc[computable, "events"] / out.loc[computable, "person_years"]
        out.loc[computable, "rate_per_100py"] = out.loc[computable, "rate_per_100py"] \
            .fillna(rate)
    return out[RATE_COLUMNS]


OUTCOME_COLUMNS = ["study_id", "citation", "comparison", "outcome", "measure", "adjusted",
                   "estimate", "ci_low", "ci_high", "verification"]


def published_outcomes(studies: list[str]) -> pd.DataFrame:
    """Rows of ``inr_outcomes.csv`` for the given studies (``study_id``)."""
    table = load("inr_outcomes")
    return captioned(table.loc[table["study_id"].isin(studies), OUTCOME_COLUMNS]
                     .reset_index(drop=True),
                     "Published outcomes of non-responders (data/reference/inr_outcomes.csv)")


def published_figure(reference_row: str) -> dict[str, object]:
    """Published value, interval and its kind for a ``table:row`` reference (event rates and
    CD4 variability), as the simulator's calibration targets cite them."""
    table, row_id = reference_row.split(":")
    if table == "cd4_variability":
        row = load("cd4_variability").set_index("var_id").loc[row_id]
        value = str(row["value"])
        match = re.search(r"IQR\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)", value)
        if not match:
            raise ValueError(f"{reference_row}: no IQR in {value!r}")
        return {"published_value": 100 * published_cv(row_id),
                "published_ci_low": float(match.group(1)),
                "published_ci_high": float(match.group(2)), "published_interval": "IQR",
                "source": row["citation"]}
    if table == "event_rates":
        row = published_rates([row_id]).iloc[0]
        kind = {"published": "95% CI", "none": ""}.get(row["ci_source"],
                                                       "95% CI from counts (exact Poisson)")
        return {"published_value": float(row["rate_per_100py"]),
                "published_ci_low": row["ci_low"], "published_ci_high": row["ci_high"],
                "published_interval": kind, "source": row["source"]}
    raise ValueError(f"unknown reference table in {reference_row!r}")
