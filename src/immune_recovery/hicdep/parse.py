"""Turning raw table columns (CSV text, or typed Parquet / in-memory columns) into typed
ones by each column's ``kind`` in :mod:`immune_recovery.schemas`; an unreadable value stops with
one :class:`~immune_recovery.exceptions.InputError` naming file, row, PATIENT, column, value and
rule.

Conventions of real exports, each stated in the notices with its count:

* **missing values** written ``NA`` (R's ``write.csv``), ``NULL`` (SQL exports), ``.`` (SAS,
  Stata), empty or whitespace-only read as missing (:data:`MISSING_TOKENS`), except in
  identifiers (a patient may be called ``NA``);
* **dates** are ISO (``yyyy-mm-dd``), or in the format given (``date_format``, the command's
  ``--date-format``, e.g. ``%d/%m/%Y``; ISO dates are still read); a column whose other dates are all ``dd/mm/yyyy``
  (or with ``.`` or ``-``) and provably day-first (a first field above 12, no second field
  above 12) is read day-first.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..schemas import TableSpec
from .io import DATE_FORMAT

#: Text read as a missing value (compared after trimming; empty and whitespace-only too).
MISSING_TOKENS = ("NA", "NULL", ".", "")
_DAY_FIRST = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})$")


def _bad_values(label: str, raw: pd.Series, bad: np.ndarray, column: str, rule: str,
                lines: np.ndarray | None, hint: str | None = None,
                patients: pd.Series | None = None) -> list[InputError]:
    """One :class:`InputError` per unreadable value of a column."""
    out = []
    for position in np.flatnonzero(bad):
        value = raw.iloc[position]
        extra = hint
        if isinstance(value, str) and value.strip()[:1] in "<>" and column.endswith("_V"):
            extra = ("HICDEP codes a result below the limit as a negative number, "
                     "e.g. -50 for '<50'")
        patient = None if patients is None else patients.iloc[position]
        out.append(InputError(file=label, row=int(raw.index[position]), column=column,
                              value=value, rule=rule, hint=extra,
                              line=None if lines is None else int(lines[position]),
                              patient=None if patient is None or patient != patient
                              else str(patient)))
    return out


def day_first_format(values: pd.Series) -> str | None:
    """``%d/%m/%Y`` (with the column's separator) when every value is ``dd/mm/yyyy`` and
    the column is provably day-first: some first field above 12, no second field above 12."""
    parts = values.str.extract(_DAY_FIRST)
    if not len(values) or parts[0].isna().any() or parts[1].nunique() != 1:
        return None
    first, second = parts[0].astype(int), parts[2].astype(int)
    if (first > 12).any() and (second <= 12).all():
        sep = parts[1].iloc[0]
        return f"%d{sep}%m{sep}%Y"
    return None


def missing_tokens(raw: pd.DataFrame, keep: tuple[str, ...] = ()
                   ) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """``raw`` with :data:`MISSING_TOKENS` (after trimming) as missing, and per column how
    many of each were read as missing (only text columns are looked at; ``keep``: columns
    left as they are, identifiers: a patient may be called ``NA``)."""
    counts: dict[str, dict[str, int]] = {}
    out = raw
    for column in raw.columns:
        values = raw[column]
        if values.dtype != object or column in keep:
            continue
        text = values.astype("string").str.strip()
        hit = text.isin(MISSING_TOKENS).fillna(False).to_numpy() & values.notna().to_numpy()
        if hit.any():
            found = text[hit].replace("", "blank").value_counts()
            counts[column] = {str(k): int(v) for k, v in found.items()}
            if out is raw:
                out = raw.copy()
            out[column] = values.where(~hit, None)
    return out, counts


def _parse_column(raw: pd.Series, kind: str, label: str, column: str,
                  lines: np.ndarray | None = None, patients: pd.Series | None = None,
                  date_format: str | None = None, notices: list[str] | None = None
                  ) -> tuple[pd.Series, list[InputError]]:
    """Parse one column of text (or an already-typed column) by its ``kind``: the parsed
    column (unreadable values missing) and an error for each unreadable value."""
    if kind in ("id", "text"):
        if raw.dtype == object or pd.api.types.is_string_dtype(raw):
            return raw.astype(object).where(raw.notna(), None), []
        # numbers used as identifiers in Parquet/Stata: render integers without ".0"
        if pd.api.types.is_float_dtype(raw) and np.all(np.mod(raw.dropna(), 1) == 0):
            raw = raw.astype("Int64")
        return raw.astype("string").astype(object).where(raw.notna(), None), []
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw):
            return raw.astype("datetime64[ns]"), []
        text = raw.astype("string").str.strip()
        parsed = pd.to_datetime(text, format=date_format or DATE_FORMAT, errors="coerce")
        bad = (text.notna() & (text != "") & parsed.isna()).to_numpy()
        if date_format and bad.any():  # ISO dates are unambiguous: read them too
            parsed[bad] = pd.to_datetime(text[bad], format=DATE_FORMAT, errors="coerce")
            bad = (text.notna() & (text != "") & parsed.isna()).to_numpy()
        day_first = None if date_format or not bad.any() else day_first_format(text[bad])
        if day_first:
            parsed[bad] = pd.to_datetime(text[bad], format=day_first, errors="coerce")
            bad = (text.notna() & (text != "") & parsed.isna()).to_numpy()
            if notices is not None:
                notices.append(f"{label}: {column} written day-first ({day_first}), read as "
                               "such")
        rule = f"not a date in the format {date_format}" if date_format else \
            "not an ISO date (yyyy-mm-dd)"
        return parsed.astype("datetime64[ns]"), _bad_values(
            label, raw, bad, column, rule, lines, patients=patients)
    if kind in ("number", "code"):
        errors: list[InputError] = []
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            parsed = raw.astype("float64")
        else:
            text = raw.astype("string").str.strip()
            parsed = pd.to_numeric(text, errors="coerce").astype("float64")
            bad = (text.notna() & (text != "") & parsed.isna()).to_numpy()
            errors += _bad_values(label, raw, bad, column, "not a number", lines,
                                  patients=patients)
        if kind == "code":
            values = parsed.to_numpy()
            bad = ~np.isnan(values) & (np.mod(values, 1) != 0)
            errors += _bad_values(label, raw, bad, column, "not an integer code", lines,
                                  patients=patients)
            parsed = parsed.where(~bad)
            return parsed.astype("Int64"), errors
        return parsed, errors
    raise ValueError(f"unknown column kind {kind!r}")


def _infer_extra_column(raw: pd.Series) -> pd.Series:
    """Undocumented extra columns: numbers if every value parses as one, else text."""
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw):
        return raw
    parsed = pd.to_numeric(raw, errors="coerce")
    if (raw.notna() == parsed.notna()).all():
        return parsed
    if raw.dropna().astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}").all() and raw.notna().any():
        return pd.to_datetime(raw, format=DATE_FORMAT, errors="coerce")
    return raw


def parse_table(raw: pd.DataFrame, spec: TableSpec, label: str,
                errors: list[InputError] | None = None, notices: list[str] | None = None,
                date_format: str | None = None) -> pd.DataFrame:
    """Turn raw text columns into typed ones. Unreadable values are appended to ``errors``
    (all of them; the value is left missing) or, without a list, the first one raises;
    what was read as missing or day-first is appended to ``notices``."""
    collect = errors if errors is not None else []
    lines = raw.attrs.get("lines")
    raw, tokens = missing_tokens(raw, tuple(n for n, c in spec.columns.items()
                                            if c.metadata["kind"] == "id"))
    if tokens and notices is not None:
        total: dict[str, int] = {}
        for found in tokens.values():
            for token, n in found.items():
                total[token] = total.get(token, 0) + n
        notices.append(f"{label}: read as missing: " + ", ".join(
            f"{n} {t!r}" if t != "blank" else f"{n} blank" for t, n in sorted(total.items()))
            + f" (columns {', '.join(tokens)})")
    patients = raw["PATIENT"] if "PATIENT" in raw else None
    missing = [
        name for name, col in spec.columns.items() if col.required and name not in raw.columns
    ]
    if missing:
        error = InputError(file=label, column=missing[0],
                           rule="required column missing from the header",
                           hint=f"header has: {', '.join(map(str, raw.columns[:12]))}")
        if errors is None:
            raise error
        collect.append(error)
    out = {}
    for name, col in spec.columns.items():
        if name in raw.columns:
            out[name], bad = _parse_column(raw[name], col.metadata["kind"], label, name, lines,
                                           patients, date_format, notices)
            collect += bad
        else:
            out[name] = pd.Series(index=raw.index, dtype=str(col.dtype)) \
                if col.metadata["kind"] not in ("id", "text") else \
                pd.Series(None, index=raw.index, dtype=object)
    if errors is None and collect:
        raise collect[0] if len(collect) == 1 else _with_count(collect)
    for name in raw.columns:
        if name not in out:
            out[name] = _infer_extra_column(raw[name])
    typed = pd.DataFrame(out, index=raw.index)
    # Empty strings in identifiers count as missing.
    for name, col in spec.columns.items():
        if col.metadata["kind"] in ("id", "text"):
            typed[name] = typed[name].where(typed[name].astype("string").str.len() > 0, None)
    return typed


def _with_count(errors: list[InputError]) -> InputError:
    """The first error, saying how many there are in all (single-table callers)."""
    first = errors[0]
    more = f"{len(errors)} unreadable values in this table"
    return InputError(file=first.file, rule=first.rule, row=first.row, column=first.column,
                      value=first.value, line=first.line,
                      hint=f"{first.hint}; {more}" if first.hint else more)
