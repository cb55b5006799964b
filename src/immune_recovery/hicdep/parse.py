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
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import InputError
from ..schemas import TableSpec
from .io import DATE_FORMAT

#: Text read as a missing value (compared after trimming; empty and whitespace-only too).
MISSING_TOKENS = ("NA", "NULL", ".", "")
_DAY_FIRST = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})$")
#: Text Arrow reads exactly as pandas does (:func:`_arrow_parse`): integers of up to 15
#: digits (exact in float64) without sign on zero or leading zeros; ISO dates within
#: pandas' nanosecond range (years :data:`_ARROW_YEARS`), whose day is checked back
#: (Arrow's strptime rolls an impossible day over: 2011-02-30 reads as 2011-03-02).
_ARROW_INTEGER = r"^(0|-?[1-9][0-9]{0,14})$"
_ARROW_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_ARROW_YEARS = (1678, 2261)


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


def arrow_text(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow text behind a column the fast CSV reader read (``None``: any other column)."""
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype) and (pa.types.is_string(dtype.pyarrow_dtype)
                                             or pa.types.is_large_string(dtype.pyarrow_dtype)):
        return values.array.__arrow_array__()
    return None


def _as_objects(values: pd.Series) -> pd.Series:
    """A column of Arrow text as Python strings (equal strings shared), missing as None."""
    text = arrow_text(values)
    if text is None:
        return values
    objects = text.to_pandas(deduplicate_objects=True).to_numpy(dtype=object)
    return pd.Series(objects, index=values.index, name=values.name, dtype=object)


@dataclass
class _ArrowParsed:
    """An Arrow text column parsed where Arrow reads it exactly (:func:`_arrow_parse`):
    ``values`` (float64 or datetime64[ns]), ``left``: the values left to
    :func:`_parse_column` (``rest``: them as Python strings, missing tokens as None),
    ``tokens``: the missing tokens read, by token."""

    values: np.ndarray
    left: np.ndarray
    rest: pd.Series
    tokens: dict[str, int]


def _arrow_parse(raw: pd.Series, kind: str) -> _ArrowParsed:
    """Parse the values of an Arrow text column that Arrow reads exactly as
    :func:`_parse_column` would: after trimming ASCII whitespace (which ``str.strip`` trims
    too), the missing tokens, ISO dates (``date``: :data:`_ARROW_ISO_DATE`, its day
    checked back) and integers (``number``, ``code``: :data:`_ARROW_INTEGER`); every other
    value is left to :func:`_parse_column`, tokens and all (:func:`missing_tokens`)."""
    text = arrow_text(raw)
    trimmed = pc.ascii_trim_whitespace(text)
    token = pc.fill_null(pc.is_in(trimmed, value_set=pa.array(MISSING_TOKENS)), False)
    tokens = {(t["values"] or "blank"): int(t["counts"])
              for t in pc.value_counts(pc.filter(trimmed, token)).to_pylist()}
    if kind == "date":
        # Arrow's strptime takes 2011-02-30 for 2011-03-02: a date is read as written when
        # its day is the day written (a month above 12 does not parse)
        iso = pc.fill_null(pc.match_substring_regex(trimmed, _ARROW_ISO_DATE), False)
        stamp = pc.if_else(iso, pc.strptime(trimmed, format="%Y-%m-%d", unit="s",
                                            error_is_null=True), None)
        day = pc.cast(pc.utf8_slice_codeunits(pc.if_else(iso, trimmed, None), 8, 10),
                      pa.int64())
        year = pc.year(stamp)
        sure = pc.fill_null(pc.and_(
            pc.equal(pc.day(stamp), day),
            pc.and_(pc.greater_equal(year, _ARROW_YEARS[0]),
                    pc.less_equal(year, _ARROW_YEARS[1]))), False)
        del day, year, iso
        stamp = pc.if_else(sure, stamp, None)
        values = stamp.cast(pa.timestamp("ns")).to_numpy().astype("datetime64[ns]")
        del stamp
    else:
        sure = pc.fill_null(pc.match_substring_regex(trimmed, _ARROW_INTEGER), False)
        values = pc.cast(pc.if_else(sure, trimmed, None), pa.float64()) \
            .to_numpy(zero_copy_only=False)
        values = np.where(sure.to_numpy(zero_copy_only=False), values, np.nan)
    del trimmed
    left = pc.and_(pc.is_valid(text), pc.invert(pc.or_(token, sure)))
    left = np.asarray(left.to_numpy(zero_copy_only=False), dtype=bool)
    rest, found = missing_tokens(_as_objects(raw[left]).to_frame())
    for token, n in found.get(raw.name, {}).items():
        tokens[token] = tokens.get(token, 0) + n
    return _ArrowParsed(values, left, rest[raw.name], tokens)


def _finish_arrow(raw: pd.Series, done: _ArrowParsed, kind: str, label: str, column: str,
                  lines: np.ndarray | None, patients: pd.Series | None,
                  notices: list[str] | None) -> tuple[pd.Series, list[InputError]]:
    """:func:`_parse_column` of an Arrow text column, with the same result and messages: the
    values Arrow parsed (:func:`_arrow_parse`), :func:`_parse_column` for the rest."""
    parsed = pd.Series(done.values, index=raw.index)
    errors: list[InputError] = []
    left = done.left
    if left.any():
        more, errors = _parse_column(
            done.rest, "number" if kind == "code" else kind, label, column,
            None if lines is None else lines[left],
            None if patients is None else patients[left], None, notices)
        parsed[left] = more.to_numpy()
    if kind != "code":
        return parsed, errors
    numbers = parsed.to_numpy()
    bad = ~np.isnan(numbers) & (np.mod(numbers, 1) != 0)
    if bad.any():
        errors += _bad_values(label, _as_objects(raw[bad]), np.ones(int(bad.sum()), bool),
                              column, "not an integer code",
                              None if lines is None else lines[bad],
                              patients=None if patients is None else patients[bad])
    return parsed.where(~bad).astype("Int64"), errors


def _by_arrow(raw: pd.DataFrame, spec: TableSpec, date_format: str | None) -> dict[str, str]:
    """The columns :func:`parse_table` parses with Arrow, with their kind: dates (ISO, no
    ``date_format``), numbers and codes read by the fast CSV reader."""
    out = {}
    for name, col in spec.columns.items():
        kind = col.metadata["kind"]
        if name in raw.columns and arrow_text(raw[name]) is not None and (
                kind in ("number", "code") or (kind == "date" and date_format is None)):
            out[name] = kind
    return out


def parse_table(raw: pd.DataFrame, spec: TableSpec, label: str,
                errors: list[InputError] | None = None, notices: list[str] | None = None,
                date_format: str | None = None) -> pd.DataFrame:
    """Turn raw text columns into typed ones. Unreadable values are appended to ``errors``
    (all of them; the value is left missing) or, without a list, the first one raises;
    what was read as missing or day-first is appended to ``notices``. Text the fast CSV
    reader kept in Arrow is parsed by Arrow where Arrow reads it exactly as pandas does
    (:func:`_arrow_parse`), by pandas elsewhere: the same result either way."""
    collect = errors if errors is not None else []
    lines = raw.attrs.get("lines")
    by_arrow = _by_arrow(raw, spec, date_format)
    # the fast reader reads an empty field as missing: no empty identifier to look for
    read_by_arrow = {c for c in raw.columns if arrow_text(raw[c]) is not None}
    arrow = {name: _arrow_parse(raw[name], kind) for name, kind in by_arrow.items()}
    others, tokens = missing_tokens(
        pd.DataFrame({c: _as_objects(raw[c]) for c in raw.columns if c not in by_arrow},
                     index=raw.index),
        tuple(n for n, c in spec.columns.items() if c.metadata["kind"] == "id"))
    tokens |= {name: done.tokens for name, done in arrow.items() if done.tokens}
    tokens = {c: tokens[c] for c in raw.columns if c in tokens}
    if tokens and notices is not None:
        total: dict[str, int] = {}
        for found in tokens.values():
            for token, n in found.items():
                total[token] = total.get(token, 0) + n
        notices.append(f"{label}: read as missing: " + ", ".join(
            f"{n} {t!r}" if t != "blank" else f"{n} blank" for t, n in sorted(total.items()))
            + f" (columns {', '.join(tokens)})")
    patients = others["PATIENT"] if "PATIENT" in others else None
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
        if name in arrow:
            out[name], bad = _finish_arrow(raw[name], arrow.pop(name), by_arrow[name], label,
                                           name, lines, patients, notices)
            collect += bad
        elif name in others.columns:
            out[name], bad = _parse_column(others[name], col.metadata["kind"], label, name,
                                           lines, patients, date_format, notices)
            collect += bad
        else:
            out[name] = pd.Series(index=raw.index, dtype=str(col.dtype)) \
                if col.metadata["kind"] not in ("id", "text") else \
                pd.Series(None, index=raw.index, dtype=object)
    if errors is None and collect:
        raise collect[0] if len(collect) == 1 else _with_count(collect)
    for name in others.columns:
        if name not in out:
            out[name] = _infer_extra_column(others[name])
    typed = pd.DataFrame(out, index=raw.index, copy=False)  # no second copy of the table
    # Empty strings in identifiers count as missing.
    for name, col in spec.columns.items():
        if col.metadata["kind"] in ("id", "text") and name not in read_by_arrow:
            typed[name] = typed[name].where(typed[name].astype("string").str.len() > 0, None)
    return typed


def _with_count(errors: list[InputError]) -> InputError:
    """The first error, saying how many there are in all (single-table callers)."""
    first = errors[0]
    more = f"{len(errors)} unreadable values in this table"
    return InputError(file=first.file, rule=first.rule, row=first.row, column=first.column,
                      value=first.value, line=first.line,
                      hint=f"{first.hint}; {more}" if first.hint else more)
