"""The exclusion ledger: every row read is either used, or excluded with the rule it broke.

``rows read = rows used + rows excluded`` for every table (:meth:`ExclusionLedger.reconciliation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..schemas import RULES

LEDGER_COLUMNS = ["table", "file", "row", "PATIENT", "rule", "description", "column", "value"]
#: Problems of the export as a whole (not of one row), by severity.
ISSUE_COLUMNS = ["severity", "table", "file", "column", "problem", "pattern", "count",
                 "examples", "hint"]
#: Severities, most serious first (graded as the IeDEA Harmonist toolkit does): ``critical``
#: an analysis cannot run (a required table, or every usable row, missing); ``error`` values
#: or rows lost (unreadable values, excluded rows); ``warning`` kept but questionable
#: (flagged rows, files or columns not read).
SEVERITIES = ("critical", "error", "warning")


@dataclass
class ExclusionLedger:
    """Rows excluded from analysis (one entry per row, the first rule it broke) and rows kept
    but flagged (one entry per row and rule; ``blank`` rules also set the value missing).

    Attributes
    ----------
    entries : DataFrame
        Exclusions. Columns ``table, file, row, PATIENT, rule, description, column, value``;
        ``row`` counts data records from 1 (line ``row + 1`` of a CSV file).
    flags : DataFrame
        Flagged rows, same columns.
    rows_read, rows_used : dict
        Rows read and rows kept after all exclusions, per table.
    files : dict
        The file (or label) each table came from.
    """

    entries: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEDGER_COLUMNS))
    flags: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEDGER_COLUMNS))
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_used: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    #: The database close date the "in the future" checks used.
    close_date: pd.Timestamp | None = None
    #: What the loader did that is not a row's fate (e.g. tables ignored, defaults used).
    notices: list[str] = field(default_factory=list)
    #: Problems of the export as a whole, by severity (:data:`ISSUE_COLUMNS`).
    issues: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ISSUE_COLUMNS))
    #: Every value that could not be read and was set missing (when reading on, not
    #: stopping): file, row, line, PATIENT, column, value, pattern, rule, hint.
    unreadable: pd.DataFrame = field(default_factory=pd.DataFrame)

    def issue(self, severity: str, table: str, problem: str, column: str = "",
              pattern: str = "", count: int | None = None, examples: str = "",
              hint: str = "") -> None:
        """Record a problem of the export as a whole (``count``: values or rows concerned,
        ``None`` for a problem of a table or file)."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        row = pd.DataFrame([{"severity": severity, "table": table,
                             "file": self.files.get(table, table), "column": column,
                             "problem": problem, "pattern": pattern,
                             "count": None if count is None else int(count),
                             "examples": examples, "hint": hint}], columns=ISSUE_COLUMNS)
        self.issues = row if self.issues.empty else pd.concat([self.issues, row],
                                                              ignore_index=True)

    def critical(self) -> list[str]:
        """The critical problems, as sentences."""
        rows = self.issues[self.issues["severity"] == "critical"]
        return [f"{r.table}: {r.problem}" for r in rows.itertuples(index=False)]

    def _record(self, table: str, rows: pd.DataFrame, rule: str,
                column: str | None) -> pd.DataFrame:
        value = (
            rows[column].astype("string").fillna("").to_numpy()
            if column is not None and column in rows
            else ""
        )
        patient = rows["PATIENT"].astype("string").fillna("").to_numpy() if "PATIENT" in rows \
            else ""
        return pd.DataFrame(
            {
                "table": table,
                "file": self.files.get(table, table),
                "row": rows.index.to_numpy(dtype=np.int64),
                "PATIENT": patient,
                "rule": rule,
                "description": RULES[rule],
                "column": column or "",
                "value": value,
            }
        )

    def exclude(self, table: str, rows: pd.DataFrame, rule: str,
                column: str | None = None) -> None:
        """Record ``rows`` (a slice of the table, indexed by record number) as excluded."""
        if not rows.empty:
            new = self._record(table, rows, rule, column)
            self.entries = new if self.entries.empty else pd.concat([self.entries, new],
                                                                    ignore_index=True)

    def flag(self, table: str, rows: pd.DataFrame, rule: str, column: str | None = None) -> None:
        """Record ``rows`` as kept but flagged by ``rule``."""
        if not rows.empty:
            new = self._record(table, rows, rule, column)
            self.flags = new if self.flags.empty else pd.concat([self.flags, new],
                                                                ignore_index=True)

    def reconciliation(self) -> pd.DataFrame:
        """Per table: rows read, used and excluded; ``rows_read == rows_used + rows_excluded``."""
        excluded = self.entries.groupby("table").size() if not self.entries.empty else {}
        flagged = self.flags.groupby("table")["row"].nunique() if not self.flags.empty else {}
        out = pd.DataFrame(
            {
                "table": list(self.rows_read),
                "file": [self.files.get(t, "") for t in self.rows_read],
                "rows_read": [self.rows_read[t] for t in self.rows_read],
                "rows_used": [self.rows_used.get(t, 0) for t in self.rows_read],
                "rows_excluded": [int(excluded.get(t, 0)) for t in self.rows_read],
                "rows_flagged": [int(flagged.get(t, 0)) for t in self.rows_read],
            }
        )
        out["reconciles"] = out["rows_read"] == out["rows_used"] + out["rows_excluded"]
        return out

    def summary(self) -> pd.DataFrame:
        """Excluded rows counted by table and rule (with the rule's description)."""
        if self.entries.empty:
            return pd.DataFrame(columns=["table", "rule", "description", "rows_excluded"])
        return (
            self.entries.groupby(["table", "rule", "description"], sort=True)
            .size()
            .rename("rows_excluded")
            .reset_index()
        )
