"""Presentation of an assessment: the one-paragraph answer, each evidence row as text, and every
claim as a Markdown section."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..formatting import format_ci
from .assessment import Assessment
from .decision import VERDICTS


def describe(row: dict) -> str:
    """One evidence row as text: ``Grabar2000: 1.98 (1.26–3.10)``."""
    percent = row["scale"] == "proportion"
    digits = 1 if percent else (0 if row["scale"] == "difference" else 2)
    return f"{row['data']}: {format_ci(row['estimate'], row['ci_low'], row['ci_high'], digits, percent)}"


def evidence_table(assessment: Assessment) -> pd.DataFrame:
    """The evidence rows with ``display``: each estimate with its CI as text (empty for text
    rows)."""
    out = assessment.evidence.copy()
    out["display"] = [describe(r).split(": ", 1)[1] if r["scale"] != "text" else ""
                      for r in out.to_dict("records")]
    return out


def summary(assessment: Assessment) -> str:
    """One paragraph from the verdicts and their certainty."""
    v = assessment.verdicts
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


def _lower(text: str) -> str:
    """A claim inside a sentence: first letter lower-cased unless it starts an acronym."""
    first = text.split()[0]
    acronym = len(first) > 1 and first.replace("-", "")[:2].isupper()
    return text if acronym or text[:1].isdigit() else text[0].lower() + text[1:]


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
    evidence = evidence_table(assessment)
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


#: How the meta-regression's definition terms read in a sentence.
_TERMS = {"threshold_per100": "a higher threshold", "gain_rule": "a gain rule",
          "month_per12": "a later assessment"}


def meta_regression_sentence(fits: dict) -> str:
    """The share of tau^2 each meta-regression explains and which way the definition terms
    move the proportion (from their signs and Knapp-Hartung CIs); a model flagged as not
    identified says so instead of being read."""
    (name, (first, data)), *others = fits.items()
    text = (f"Share of the between-study variance τ² explained by the {name}: "
            f"**{first.r2_:.0%}** (τ² {first.tau2_null_:.2f} → {first.tau2_:.2f}, "
            f"{len(data)} estimates).")
    for other_name, (fit, other_data) in others:
        text += (f" With the {other_name.removeprefix('... and ')} as well: " + (
            f"{fit.flag_}, so it is not read" if fit.flag_ else f"{fit.r2_:.0%}")
            + f" ({len(other_data)} estimates).")
    c = first.coefficients.set_index("term")
    up = [w for t, w in _TERMS.items() if t in c.index and c.loc[t, "ci_low"] > 0]
    down = [w for t, w in _TERMS.items() if t in c.index and c.loc[t, "ci_high"] < 0]
    if up or down:
        text += " On the logit scale, with 95% CIs excluding 0: " + "; ".join(
            part for part in (" and ".join(up) + " raise the proportion" if up else "",
                              " and ".join(down) + " lowers it" if down else "") if part) + "."
    return text