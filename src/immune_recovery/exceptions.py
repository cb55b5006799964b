"""Errors and warnings with types, so callers and CI can filter them by class."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd


class ImmuneRecoveryError(Exception):
    """Base class of the package's errors. The CLI prints ``str(err)`` and exits 2."""


@dataclass
class InputError(ImmuneRecoveryError):
    """Input that cannot be read: names the file, row, column, value and rule.

    ``row`` counts data records from 1 (the header is not a record); ``line`` is the
    physical line of the file where the record starts (default ``row + 1``: a CSV file with
    one header line, no empty lines and no line breaks inside quoted fields).
    """

    file: str
    rule: str
    row: int | None = None
    column: str | None = None
    value: object = None
    hint: str | None = None
    line: int | None = None
    patient: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row} (line {self.line or self.row + 1})")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        text = ", ".join(parts) + f": {self.rule}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputErrors(ImmuneRecoveryError):
    """Every unreadable value of every table of one read, collected (not one per run).

    ``str()`` gives the count and the first :attr:`SHOWN` errors, one per line;
    :meth:`table` all of them (file, row, line, column, value, rule, hint).
    """

    SHOWN = 20

    def __init__(self, errors: list[InputError]):
        super().__init__(errors)
        self.errors = list(errors)
        self.written_to: str | None = None

    def table(self) -> pd.DataFrame:
        """Every unreadable value: file, row, line, PATIENT, column, value, pattern, rule,
        hint."""
        return pd.DataFrame([{"file": e.file, "row": e.row,
                              "line": e.line or (e.row + 1 if e.row is not None else None),
                              "PATIENT": e.patient, "column": e.column, "value": e.value,
                              "pattern": value_pattern(e.value), "rule": e.rule,
                              "hint": e.hint} for e in self.errors], columns=UNREADABLE_COLUMNS)

    def patterns(self) -> pd.DataFrame:
        """The unreadable values summarised: one row per file, column, rule and pattern of
        the value (digits as 9, letters as a), with the count, up to three examples and the
        fix-it hint."""
        table = self.table()
        rows = []
        for (file, column, rule, pattern), group in table.groupby(
                ["file", "column", "rule", "pattern"], sort=False, dropna=False):
            examples = "; ".join(f"row {r}: {v!r}" for r, v in
                                 zip(group["row"].head(3), group["value"].head(3), strict=True))
            given = group["hint"].dropna()
            rows.append({"file": file, "column": column, "rule": rule, "pattern": pattern,
                         "count": len(group), "examples": examples,
                         "hint": pattern_hint(rule, pattern)
                         or (str(given.iloc[0]) if len(given) else "")})
        return pd.DataFrame(rows, columns=PATTERN_COLUMNS).sort_values(
            "count", ascending=False, kind="stable").reset_index(drop=True)

    def __str__(self) -> str:
        files = sorted({e.file for e in self.errors})
        head = (f"{len(self.errors)} unreadable value(s) in {len(files)} file(s) "
                f"({', '.join(files)}), by pattern:")
        patterns = self.patterns()
        lines = [head] + [f"  {r.file} {r.column}: {r['count']} x {r.pattern!r} ({r.rule}); "
                          f"e.g. {r.examples}" + (f" - {r.hint}" if r.hint else "")
                          for _, r in patterns.head(self.SHOWN).iterrows()]
        if len(patterns) > self.SHOWN:
            lines.append(f"  ... and {len(patterns) - self.SHOWN} more patterns")
        if self.written_to:
            lines.append(f"  every value, with its row and PATIENT: {self.written_to}")
        return "\n".join(lines)


UNREADABLE_COLUMNS = ["file", "row", "line", "PATIENT", "column", "value", "pattern", "rule",
                      "hint"]
PATTERN_COLUMNS = ["file", "column", "rule", "pattern", "count", "examples", "hint"]


def value_pattern(value: object) -> str:
    """The shape of a value: digits as ``9``, letters as ``a`` (``31/12/2019`` ->
    ``99/99/9999``); short words are kept as they are (``NA``, ``unknown``)."""
    text = "" if value is None else str(value)
    if re.fullmatch(r"[A-Za-z]{1,8}", text.strip()):
        return text.strip()
    return re.sub(r"[A-Za-z]", "a", re.sub(r"\d", "9", text))


def pattern_hint(rule: str, pattern: str) -> str:
    """A fix-it hint for a pattern of unreadable values ('' when there is none)."""
    if "date" in rule and re.fullmatch(r"99?[/.\-]99?[/.\-]9999", pattern):
        return ("day-first or month-first dates: give the format, e.g. --date-format "
                "%d/%m/%Y (a column that is provably day-first is read as such)")
    if "date" in rule and re.fullmatch(r"9999[/.]99[/.]99", pattern):
        return "give the format, e.g. --date-format %Y/%m/%d"
    if "date" in rule and "a" in pattern:
        return "write dates as yyyy-mm-dd (or give --date-format)"
    if rule == "not a number" and "," in pattern:
        return "a decimal comma: write decimals with a point"
    return ""


class DataChecksumError(ImmuneRecoveryError):
    """A fetched data file does not match the sha256 recorded in ``data/manifest``."""


class DefinitionError(ImmuneRecoveryError):
    """An unknown or malformed non-response definition."""


class ParameterError(ImmuneRecoveryError):
    """A report or command parameter with a value outside what is allowed."""


class ConvergenceWarning(UserWarning):
    """A model fit did not converge; its estimates must not reach a report."""


class EvidenceError(ImmuneRecoveryError):
    """A claim of ``data/reference/claims.csv`` points to a report, table or column that does
    not exist, or an evidence function reads a source its claim does not declare."""
