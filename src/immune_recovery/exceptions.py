"""Errors and warnings with types, so callers and CI can filter them by class."""

from __future__ import annotations

from dataclasses import dataclass


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

    def table(self):
        import pandas as pd

        return pd.DataFrame([{"file": e.file, "row": e.row,
                              "line": e.line or (e.row + 1 if e.row is not None else None),
                              "column": e.column, "value": e.value, "rule": e.rule,
                              "hint": e.hint} for e in self.errors],
                            columns=["file", "row", "line", "column", "value", "rule", "hint"])

    def __str__(self) -> str:
        files = sorted({e.file for e in self.errors})
        head = (f"{len(self.errors)} unreadable value(s) in {len(files)} file(s) "
                f"({', '.join(files)})")
        lines = [head] + [f"  {e}" for e in self.errors[:self.SHOWN]]
        if len(self.errors) > self.SHOWN:
            more = len(self.errors) - self.SHOWN
            lines.append(f"  ... and {more} more" + (f": all in {self.written_to}"
                                                     if self.written_to else ""))
        return "\n".join(lines)


class DataChecksumError(ImmuneRecoveryError):
    """A fetched data file does not match the sha256 recorded in ``data/manifest``."""


class DefinitionError(ImmuneRecoveryError):
    """An unknown or malformed non-response definition."""


class ParameterError(ImmuneRecoveryError):
    """A report or command parameter with a value outside what is allowed."""


class DataQualityWarning(UserWarning):
    """Rows were excluded from an analysis; the exclusion ledger says which and why."""


class SmallCountWarning(UserWarning):
    """An estimate rests on very few events or patients."""


class ConvergenceWarning(UserWarning):
    """A model fit did not converge; its estimates must not reach a report."""


class EvidenceError(ImmuneRecoveryError):
    """A claim of ``data/reference/claims.csv`` points to a report, table or column that does
    not exist, or an evidence function reads a source its claim does not declare."""
