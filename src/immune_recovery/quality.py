"""Data quality: every check the loader applies, its count, and example rows.

The page a data manager sends back to a cohort: :func:`check_table` lists every rule of
:data:`~immune_recovery.schemas.RULE_TABLE` (with its HICDEP code and what happens to a row
that breaks it), how many rows broke it, and up to three example rows with file, row number,
patient, column and value. (The messy example cohort the page is shown on is
:func:`immune_recovery.simulate.messy.make_messy_example`.)
"""

from __future__ import annotations

import pandas as pd

from .disclosure import declare
from .formatting import captioned
from .hicdep import ExclusionLedger
from .hicdep.ledger import SEVERITIES
from .schemas import NOT_IMPLEMENTED, RULE_TABLE


def check_catalogue() -> pd.DataFrame:
    """Every rule: id, HICDEP code, action (exclude / blank / flag) and description."""
    return pd.DataFrame([{"rule": rule, "hicdep": r.hicdep, "action": r.action,
                          "description": r.description} for rule, r in RULE_TABLE.items()])


def _examples(rows: pd.DataFrame, n: int = 3) -> str:
    shown = []
    for r in rows.head(n).itertuples(index=False):
        where = f"{r.file} row {r.row}"
        who = f" ({r.PATIENT})" if r.PATIENT else ""
        what = f" {r.column}={r.value!s}" if r.column else ""
        shown.append(f"{where}{who}{what}")
    return "; ".join(shown)


def check_table(ledger: ExclusionLedger, with_examples: bool = True) -> pd.DataFrame:
    """Every check with the rows it excluded or flagged (zeros included) and, with
    ``with_examples``, up to three example rows (file, row, patient, column, value: not for a
    report that leaves the cohort, see :mod:`immune_recovery.disclosure`)."""
    catalogue = check_catalogue()
    entries = pd.concat([ledger.entries.assign(outcome="excluded"),
                         ledger.flags.assign(outcome="flagged")], ignore_index=True)
    counts, examples = [], []
    for rule in catalogue["rule"]:
        hits = entries[entries["rule"] == rule].drop_duplicates(["table", "row", "rule"])
        counts.append(len(hits))
        examples.append(_examples(hits))
    severity = catalogue["action"].map(lambda a: "error" if a == "exclude" else "warning")
    out = catalogue.assign(severity=severity, rows=counts, examples=examples) \
        if with_examples else catalogue.assign(severity=severity, rows=counts)
    return out.sort_values(["rows", "rule"], ascending=[False, True], kind="stable") \
        .reset_index(drop=True)


def issues_table(ledger: ExclusionLedger, with_examples: bool = True) -> pd.DataFrame:
    """Problems of the export as a whole, most serious first (severity, table, file, column,
    problem, pattern, count, hint and, with ``with_examples``, example rows and values: not
    for a report that leaves the cohort); one row saying so when there are none."""
    if ledger.issues.empty:
        return pd.DataFrame([{"severity": "", "problem": "none: every table was found and "
                              "every value could be read"}])
    order = {s: i for i, s in enumerate(SEVERITIES)}
    out = ledger.issues.sort_values("severity", key=lambda s: s.map(order), kind="stable") \
        .reset_index(drop=True)
    out = out if with_examples else out.drop(columns="examples")
    # a value's pattern (99/99/9999) is a label, not a number derived from patients
    return declare(out, labels=["pattern", "column", "problem", "hint", "examples"],
                   counts=["count"])


def by_program(bas: pd.DataFrame, ledger: ExclusionLedger) -> pd.DataFrame:
    """Data-quality counts by programme (tblBAS ``PROGRAM``, IeDEA DES): patients, rows
    excluded and flagged, and unreadable values of the programme's patients (rows of patients
    not in tblBAS under ``(not in tblBAS)``); empty when the export has no PROGRAM."""
    if "PROGRAM" not in bas or not bas["PROGRAM"].notna().any():
        return pd.DataFrame(columns=["program", "patients", "rows_excluded", "rows_flagged",
                                     "unreadable_values"])
    program = bas.set_index(bas["PATIENT"].astype(str))["PROGRAM"].fillna("(blank)")

    def count(frame: pd.DataFrame, rows: bool = True) -> pd.Series:
        if frame.empty:
            return pd.Series(dtype=int)
        keys = frame.drop_duplicates(["table", "row"]) if rows else frame
        return keys["PATIENT"].astype(str).map(program).fillna("(not in tblBAS)").value_counts()

    unreadable = ledger.unreadable
    out = pd.DataFrame({
        "patients": program.value_counts(),
        "rows_excluded": count(ledger.entries),
        "rows_flagged": count(ledger.flags),
        "unreadable_values": count(unreadable, rows=False) if "PATIENT" in unreadable
        else pd.Series(dtype=int)}).fillna(0).astype(int)
    return out.rename_axis("program").reset_index()


def not_implemented() -> pd.DataFrame:
    return captioned(pd.DataFrame([{"check": k, "reason": v} for k, v in
                                   NOT_IMPLEMENTED.items()]),
                     "HICDEP checks not run, with the reason")


def ledger_rows(ledger: ExclusionLedger, limit: int = 25) -> pd.DataFrame:
    """The first ``limit`` excluded and flagged rows, for the report's appendix."""
    entries = pd.concat([ledger.entries.assign(outcome="excluded"),
                         ledger.flags.assign(outcome="flagged")], ignore_index=True)
    if entries.empty:
        return entries
    entries = entries.sort_values(["outcome", "table", "row"], kind="stable")
    return entries.groupby("outcome", sort=True).head(limit).reset_index(drop=True)


def notices_table(ledger: ExclusionLedger) -> pd.DataFrame:
    """The reader's notices (renamings, detected separators, columns left out, close date)."""
    return captioned(pd.DataFrame({"notice": ledger.notices
                                   or ["nothing renamed, detected or left out"]}),
                     "Notices from reading the export: renamed, detected or left out")
