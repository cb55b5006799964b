"""Disclosure control for reports of a researcher's own cohort.

Reports of a real cohort must not publish patient identifiers, dates of individual patients,
single-patient rows, or small cells. With a minimum cell size ``k`` (default 5; ``--min-cell``):

* every count column of a table (patients, events, rows, non-responders... see
  :data:`COUNT_COLUMN`) shows a count between 1 and k - 1 as ``"<k"`` (0 stays 0: an empty cell
  discloses nothing about a person);
* columns that identify patients (``PATIENT``) or hold dates are refused: a table carrying one
  stops the report (:class:`DisclosureError`), so a new table cannot leak them silently;
* figures' annotations (numbers at risk) apply the same rule, and plots of individual patients
  are not drawn.

Control is off (k = 0) for the bundled public trials and the simulated cohorts, on for
``immune-recovery report``. The setting is process-wide (one report per kernel).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .exceptions import ImmuneRecoveryError

#: Default minimum cell size (counts 1..4 shown as "<5").
DEFAULT_MIN_CELL = 5
#: Column names that hold counts of patients, rows or events.
COUNT_COLUMN = re.compile(
    r"^(n|k|n_.*|.*_n|patients.*|.*patients|events.*|.*_events|rows.*|.*rows|count.*|.*count|"
    r"crossings|deaths|censored|.*responders|already_above|excluded.*|used|read|flat_slope|"
    r"early_nonresponders|n_start|at_risk|n_at_risk|.*_needed|events_needed|records)$",
    re.IGNORECASE)
#: Columns that identify a patient.
IDENTIFIER_COLUMN = re.compile(r"^(patient|patient_id|patients_list|example.*)$", re.IGNORECASE)

_min_cell = 0


class DisclosureError(ImmuneRecoveryError):
    """A table for a cohort report carries patient identifiers or dates."""


def check_min_cell(k: int) -> int:
    """``k`` if it is a valid minimum cell size: 0 (off) or at least 2."""
    if k != 0 and k < 2:
        raise ValueError(f"minimum cell size must be 0 (off) or at least 2, got {k}")
    return int(k)


def set_min_cell(k: int) -> None:
    """Turn disclosure control on (``k`` >= 2) or off (0)."""
    global _min_cell
    _min_cell = check_min_cell(k)


def min_cell() -> int:
    return _min_cell


def small(value) -> bool:
    """Whether a count is a small cell under the current setting."""
    return bool(_min_cell) and value == value and 0 < float(value) < _min_cell


def count_text(value) -> str:
    """A count as shown in an annotation: ``"<k"`` for a small cell."""
    return f"<{_min_cell}" if small(value) else f"{int(value)}"


_COUNT_TEXT = re.compile(r"^\s*(\d+)\s*\(([^)]*)\)\s*$")


def _protect_text(value):
    """``"3 (1.2%)"`` (a Table 1 cell) as ``"<5"`` when the count is small."""
    if isinstance(value, str):
        match = _COUNT_TEXT.match(value)
        if match and small(int(match.group(1))):
            return f"<{_min_cell}"
    return value


def protect(df: pd.DataFrame, name: str = "table") -> pd.DataFrame:
    """``df`` as a cohort report may show it (unchanged when control is off)."""
    if not _min_cell:
        return df
    leaking = [c for c in df.columns
               if IDENTIFIER_COLUMN.match(str(c))
               or pd.api.types.is_datetime64_any_dtype(df[c])]
    if df.index.name and IDENTIFIER_COLUMN.match(str(df.index.name)):
        leaking.append(df.index.name)
    if leaking:
        raise DisclosureError(f"{name}: columns {', '.join(map(str, leaking))} identify "
                              "patients or hold their dates; a cohort report must not show them")
    out = df.copy()
    for column in out.columns:
        if out[column].dtype == object and not COUNT_COLUMN.match(str(column)):
            out[column] = out[column].map(_protect_text)
            continue
        if not COUNT_COLUMN.match(str(column)):
            continue
        values = pd.to_numeric(out[column], errors="coerce")
        if not np.isfinite(values.dropna()).all() or \
                not (values.dropna() == values.dropna().round()).all():
            continue
        hide = (values > 0) & (values < _min_cell)
        if hide.any():
            out[column] = out[column].astype(object).where(~hide, f"<{_min_cell}")
    return out
