"""Errors and warnings with types, so callers and CI can filter them by class."""

from __future__ import annotations

from dataclasses import dataclass


class ImmuneRecoveryError(Exception):
    """Base class of the package's errors. The CLI prints ``str(err)`` and exits 2."""


@dataclass
class InputError(ImmuneRecoveryError):
    """Input that cannot be read: names the file, row, column, value and rule.

    ``row`` counts data records from 1 (the header is not a record), so record ``row``
    sits on line ``row + 1`` of a CSV file with one header line.
    """

    file: str
    rule: str
    row: int | None = None
    column: str | None = None
    value: object = None
    hint: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row} (line {self.row + 1})")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        text = ", ".join(parts) + f": {self.rule}"
        if self.hint:
            text += f" ({self.hint})"
        return text


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
