"""Risk factors, regimens and therapies pooled on their own scales, row by row.

The published estimates of one factor come on different outcomes (non-response, or the hazard
of *reaching* a level), contrasts (exposed vs not, or the reverse) and measures. Which row
answers a question, and how it is turned, is a curated decision stated once per row in
``data/reference/harmonization.csv`` (question, row id, table, ``pool`` / ``exclude``,
``invert``, the ``design`` (a randomized comparison needs no adjustment), a P value as printed where the row has no CI, and the reason), never a rule
guessed from the text; the tests check it against the tables (every id exists, every P value
is quoted from its row).

A question pools its rows with the random-effects library (REML, HKSJ interval, prediction
interval), one row per study group: ratios (OR, HR, RR) on one log scale, turned so that above
1 means non-response is commoner with the exposure (a recovery hazard is inverted, an
approximation the indirectness rating names); CD4 differences in cells/mm³ (gains over about
a year and slopes per year together), turned so that below 0 means a smaller gain with the
exposure. An estimate printed with a P value but no CI gets its SE from the P value
(:func:`~immune_recovery.meta.effects.se_from_p`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..conventions import Z95
from ..meta import MetaAnalysis, log_ratio_from_ci, se_from_p
from ..reference import study_groups
from .questions import META_ANALYSIS, PooledQuestion, mark_pooled
from .rules import RANDOMIZED

#: The first number in a cell that holds text ("210 (DERIVED)", "raltegravir 3.09; HIBC 9.43").
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
#: A P value as printed ("0.001", "<0.001", "P<0.0001", "p<.001 each").
_P_VALUE = re.compile(r"[<=]?\s*(0?\.\d+|1(?:\.0+)?)")
#: The id column of each source table.
#: The population of a trial row (in place of ``suppressed_population``).
ON_ART, OFF_ART = "trial on ART", "trial off ART"
#: A CD4 gain that matters: 50 cells/mm³, the smallest gain threshold among the published
#: definitions of non-response (e.g. Boatman 2019, INSIGHT START: gain < 50 at month 8;
#: ``published_definitions.csv``). An intervention whose CI excludes it does not restore
#: recovery.
MEANINGFUL_CD4_GAIN = 50.0
ID_COLUMNS = {"inr_frequency": "estimate_id", "inr_risk_factors": "estimate_id", "inr_risk_factors_linear": "estimate_id",
              "immune_therapy_trials": "trial_id"}


@dataclass(frozen=True)
class Question:
    """One pooled question: its title, the analysis scale (``log`` for ratios, ``identity``
    for CD4 differences), the measure in words, the side of the decision threshold the claim
    is on (``above`` or ``below``), the threshold (default: no effect) and, for a claim of no
    benefit, where it is contradicted (``contradicted_above``)."""

    title: str
    scale: str
    measure: str
    claimed: str
    threshold: float | None = None
    contradicted_above: float | None = None

    @property
    def null(self) -> float:
        return 1.0 if self.scale == "log" else 0.0

    def judge_kwargs(self) -> dict[str, float]:
        """The claim's side and threshold as :func:`~.rules.judge` takes them."""
        out = {self.claimed: self.null if self.threshold is None else self.threshold}
        if self.contradicted_above is not None:
            out["contradicted_above"] = self.contradicted_above
        return out


QUESTIONS = {
    "age_extremes": Question("older age", "log",
                             "ratio of non-response, oldest vs youngest age category printed",
                             "above"),
    "hcv": Question("HCV co-infection", "log",
                    "ratio of non-response, HCV co-infected vs not", "above"),
    "hcv_gain": Question("HCV co-infection (CD4 gain)", "identity",
                         "difference in CD4 gain (cells/mm³), HCV co-infected minus not",
                         "below"),
    "prior_aids": Question("prior AIDS at ART start", "log",
                           "ratio of non-response, prior AIDS (or WHO stage III-IV) vs not",
                           "above"),
    "duration": Question("longer duration of infection", "log",
                         "ratio of non-response, ART started later vs earlier in infection",
                         "above"),
    "ddi_tdf": Question("didanosine with tenofovir", "identity",
                        "difference in CD4 gain (cells/mm³, about a year), ddI+TDF minus "
                        "comparator", "below"),
    "zidovudine": Question("zidovudine", "identity",
                           "difference in CD4 gain (cells/mm³), zidovudine minus comparator",
                           "below"),
    "il2_cd4": Question("IL-2 and CD4 counts", "identity",
                        "difference in CD4 count (cells/mm³), IL-2 minus control", "above"),
    "intensification": Question("ART intensification in non-responders", "identity",
                                "difference in CD4 gain (cells/mm³), intensified minus "
                                "unchanged ART", "below", threshold=MEANINGFUL_CD4_GAIN,
                                contradicted_above=0.0),
}


def first_number(value: object) -> float:
    """The first number of a cell as printed, or NaN."""
    if isinstance(value, (int, float, np.number)):
        return float(value)
    match = _NUMBER.search(str(value)) if pd.notna(value) else None
    return float(match.group(0)) if match else np.nan


def p_value(text: object) -> float:
    """A P value as printed, a bound ("<0.001") read as the bound; NaN if none."""
    match = _P_VALUE.search(str(text)) if pd.notna(text) else None
    return float(match.group(1)) if match else np.nan


def _source_rows(plan: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The harmonization rows joined to their source rows, with ``estimate``, ``ci_low``,
    ``ci_high`` (numbers as printed) and ``p`` (the row's P, else the one quoted in the plan)."""
    parts = []
    for name, rows in plan.groupby("source_table", sort=False):
        table = tables[name].rename(columns={ID_COLUMNS[name]: "estimate_id"})
        if name == "immune_therapy_trials":
            table = table.assign(study_id=table["trial"], estimate=table["cd4_difference"],
                                 ci_low=table["cd4_diff_ci_low"],
                                 ci_high=table["cd4_diff_ci_high"], p_value=np.nan,
                                 n_analysed=np.nan, adjusted=RANDOMIZED,
                                 suppressed_population=np.where(table["on_art"] == "yes",
                                                                ON_ART, OFF_ART))
        keep = ["estimate_id", "study_id", "estimate", "ci_low", "ci_high", "p_value",
                "n_analysed", "suppressed_population", "adjusted", "verification"]
        parts.append(rows.merge(table[keep], on="estimate_id", how="left", validate="1:1"))
    out = pd.concat(parts, ignore_index=True)
    for column in ("estimate", "ci_low", "ci_high"):
        out[column] = out[column].map(first_number)
    out["p"] = out["p_printed"].map(p_value).fillna(out["p_value"].map(p_value))
    out["adjusted"] = out["adjusted"].where(out["design"] != RANDOMIZED, RANDOMIZED)
    return out


def harmonized_rows(question_id: str, plan: pd.DataFrame,
                    tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The rows of one question, turned (``y`` and ``se`` on the analysis scale, ``se_from``
    CI or P), with ``eligible``, ``reason`` and the reporting-scale columns the evidence
    table shows (``estimate_value``, ``ci_low_value``, ``ci_high_value``, ``label``)."""
    q = QUESTIONS[question_id]
    rows = _source_rows(plan[plan["question"] == question_id], tables)
    rows = study_groups(rows)
    log = q.scale == "log"
    has_ci = rows["ci_low"].notna() & rows["ci_high"].notna()
    if log:
        y, se_ci = log_ratio_from_ci(rows["estimate"], rows["ci_low"].where(has_ci, 1.0),
                                     rows["ci_high"].where(has_ci, 1.0))
    else:
        y = rows["estimate"].to_numpy(float)
        se_ci = ((rows["ci_high"] - rows["ci_low"]) / (2 * Z95)).to_numpy(float)
    se = np.where(has_ci, se_ci, se_from_p(y, rows["p"]))
    sign = np.where(rows["invert"] == "yes", -1.0, 1.0)
    rows["y"], rows["se"] = sign * y, se
    rows["se_from"] = np.where(has_ci, "CI", np.where(np.isfinite(se), "P", ""))
    usable = np.isfinite(rows["y"]) & np.isfinite(rows["se"]) & (rows["se"] > 0)
    rows["reason"] = np.select(
        [rows["role"] != "pool", rows["meta_analysis"], ~usable],
        [rows["reason"], META_ANALYSIS, "no estimate with a CI or P"], "")
    rows["eligible"] = rows["reason"] == ""
    back = np.exp if log else (lambda x: x)
    rows["estimate_value"] = back(rows["y"])
    rows["ci_low_value"] = back(rows["y"] - Z95 * rows["se"])
    rows["ci_high_value"] = back(rows["y"] + Z95 * rows["se"])
    rows["label"] = q.measure + np.where(rows["invert"] == "yes", " [turned]", "") \
        + np.where(rows["se_from"] == "P", " [SE from P]", "")
    rows["from_p"] = (rows["se_from"] == "P").astype(int)
    return rows


def pool_harmonized(question_id: str, plan: pd.DataFrame,
                    tables: dict[str, pd.DataFrame]) -> PooledQuestion:
    """One question pooled: one row per study group (a row with a CI before one with an SE
    from its P value), REML with the HKSJ interval."""
    q = QUESTIONS[question_id]
    rows = harmonized_rows(question_id, plan, tables)
    rows = mark_pooled(rows, rows["eligible"], [("from_p", True)], "not pooled")
    rows["fate"] = np.where(rows["pooled"], "pooled", rows["reason"].where(
        rows["reason"] != "", rows["fate"]))
    pooled = rows[rows["pooled"]]
    fit = (MetaAnalysis(scale=q.scale).fit(pooled["y"], se=pooled["se"],
                                           labels=pooled["study_id"])
           if len(pooled) else None)
    rule = ("rows chosen and turned one by one in harmonization.csv (each with its reason); one "
            "per study group; " + ("OR, HR and RR on one log scale, recovery hazards inverted"
                                   if q.scale == "log" else
                                   "CD4 differences in cells/mm³, gains and slopes together")
            + "; SE from the printed P where no CI was printed")
    return PooledQuestion(f"{q.title} ({q.measure})", rows, fit, rule)
