"""Turning raw table columns (CSV text, or typed Parquet / in-memory columns) into typed
ones by each column's ``kind`` in :mod:`immune_recovery.schemas`; an unreadable value stops with
one :class:`~immune_recovery.exceptions.InputError` naming file, row, column, value and rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..schemas import TableSpec
from .io import DATE_FORMAT


def _bad_values(label: str, raw: pd.Series, bad: np.ndarray, column: str, rule: str,
                lines: np.ndarray | None, hint: str | None = None) -> list[InputError]:
    """One :class:`InputError` per unreadable value of a column."""
    out = []
    for position in np.flatnonzero(bad):
        value = raw.iloc[position]
        extra = hint
        if isinstance(value, str) and value.strip()[:1] in "<>" and column.endswith("_V"):
            extra = ("HICDEP codes a result below the limit as a negative number, "
                     "e.g. -50 for '<50'")
        out.append(InputError(file=label, row=int(raw.index[position]), column=column,
                              value=value, rule=rule, hint=extra,
                              line=None if lines is None else int(lines[position])))
    return out


def _parse_column(raw: pd.Series, kind: str, label: str, column: str,
                  lines: np.ndarray | None = None) -> tuple[pd.Series, list[InputError]]:
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
        parsed = pd.to_datetime(text, format=DATE_FORMAT, errors="coerce")
        bad = (text.notna() & (text != "") & parsed.isna()).to_numpy()
        return parsed.astype("datetime64[ns]"), _bad_values(
            label, raw, bad, column, "not an ISO date (yyyy-mm-dd)", lines)
    if kind in ("number", "code"):
        errors: list[InputError] = []
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            parsed = raw.astype("float64")
        else:
            text = raw.astype("string").str.strip()
            parsed = pd.to_numeric(text, errors="coerce").astype("float64")
            bad = (text.notna() & (text != "") & parsed.isna()).to_numpy()
            errors += _bad_values(label, raw, bad, column, "not a number", lines)
        if kind == "code":
            values = parsed.to_numpy()
            bad = ~np.isnan(values) & (np.mod(values, 1) != 0)
            errors += _bad_values(label, raw, bad, column, "not an integer code", lines)
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
                errors: list[InputError] | None = None) -> pd.DataFrame:
    """Turn raw text columns into typed ones. Unreadable values are appended to ``errors``
    (all of them; the value is left missing) or, without a list, the first one raises."""
    collect = errors if errors is not None else []
    lines = raw.attrs.get("lines")
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
            out[name], bad = _parse_column(raw[name], col.metadata["kind"], label, name, lines)
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
