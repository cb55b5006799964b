"""How estimates are written for readers: ``0.50 (0.33–0.76)``."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

#: The key of a table's caption in ``DataFrame.attrs``: kept by ``round``, ``head``, filters
#: and the other pandas operations that carry ``attrs`` over, so that a table shown after
#: rounding keeps the caption it was written with.
CAPTION = "caption"


def captioned(df: pd.DataFrame, caption: str) -> pd.DataFrame:
    """``df`` with its caption (how a report numbers and titles it when shown)."""
    df.attrs[CAPTION] = caption
    return df


def as_text(values: pd.Series) -> np.ndarray:
    """``values.astype(str)`` as an object array, for a categorical column by converting each
    category once (pandas converts every row: 26 million new strings for a million patients'
    CD4 counts); equal value for value, missing as ``"nan"``."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        return np.asarray(pd.Index(uniques).astype(str), dtype=object)[codes]
    return values.astype(str).to_numpy()


def _finite(value: object) -> bool:
    try:
        return value is not None and math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def format_ci(estimate: object, ci_low: object = None, ci_high: object = None,
              digits: int = 2, percent: bool = False, dash: str = "–",
              unit: str | None = None) -> str:
    """An estimate with its 95% CI, e.g. ``0.50 (0.33–0.76)`` or ``18.5% (17.8–19.1)``.

    ``percent=True`` multiplies proportions by 100 and writes ``unit`` (default ``%``) after
    the estimate; ``dash`` separates the limits, " to " where a limit is negative
    (``-55 (-126 to 15)``, never ``-126–15``). A missing estimate gives an empty string; a
    missing interval gives the estimate alone.
    """
    if not _finite(estimate):
        return ""
    scale = 100.0 if percent else 1.0
    suffix = unit if unit is not None else ("%" if percent else "")
    text = f"{float(estimate) * scale:.{digits}f}{suffix}"  # type: ignore[arg-type]
    if _finite(ci_low) and _finite(ci_high):
        low, high = float(ci_low) * scale, float(ci_high) * scale  # type: ignore[arg-type]
        sep = " to " if min(low, high) < 0 else dash
        text += f" ({low:.{digits}f}{sep}{high:.{digits}f})"
    return text


def format_interval(low: float, high: float, percent: bool = False) -> str:
    """An interval alone: ``17.0–27.0%`` (``percent``: proportions times 100) or ``1.65–3.74``
    (" to " where a limit is negative)."""
    sep = " to " if min(low, high) < 0 else "–"
    if percent:
        return f"{100 * low:.1f}{sep}{100 * high:.1f}%"
    return f"{low:.2f}{sep}{high:.2f}"


def ci_column(df: pd.DataFrame, estimate: str, ci_low: str = "ci_low", ci_high: str = "ci_high",
              digits: int = 2, percent: bool = False) -> pd.Series:
    """:func:`format_ci` applied row by row to three columns of ``df`` (display only)."""
    return pd.Series([format_ci(e, lo, hi, digits, percent)
                      for e, lo, hi in zip(df[estimate], df[ci_low], df[ci_high])],
                     index=df.index, dtype=object)


def _digits(name: str, values: pd.Series) -> int:
    magnitude = values.abs().max() if len(values) else 0
    if not isinstance(magnitude, (int, float)) or not math.isfinite(magnitude):
        return 2
    if magnitude >= 100:
        return 0
    if magnitude >= 10:
        return 1
    return 3 if "proportion" in name or magnitude < 0.1 else 2


def _mixed_magnitudes(values: pd.Series) -> bool:
    """Whether a column's estimates span two orders of magnitude or more (measures on
    different scales, each then written with its own decimals)."""
    sizes = values.abs()
    sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
    return len(sizes) > 1 and sizes.max() / sizes.min() >= 100


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """A display copy of ``df`` with every estimate and its CI in one column.

    For each pair of columns ``<prefix>ci_low``/``<prefix>ci_high``, the numeric column just
    before ``<prefix>ci_low`` is taken as the estimate; the three become one column
    ``"<estimate> (95% CI)"`` written ``0.50 (0.33–0.76)``. Other floats keep their values.
    The CSV tables keep the separate numeric columns; this is for reading only.
    """
    out = df.copy()
    columns = list(out.columns)
    for low in [c for c in columns if isinstance(c, str) and c.endswith("ci_low")]:
        high = low[: -len("ci_low")] + "ci_high"
        position = list(out.columns).index(low)
        if high not in out.columns or position == 0:
            continue
        estimate = out.columns[position - 1]
        if not pd.api.types.is_numeric_dtype(out[estimate]):
            continue
        values = pd.to_numeric(out[estimate], errors="coerce")
        digits = _digits(str(estimate), values)
        combined = ci_column(out, estimate, low, high, digits=digits)
        if _mixed_magnitudes(values):  # e.g. proportions and differences in cells/mm³
            combined = pd.Series([format_ci(e, lo, hi, _digits(str(estimate), pd.Series([e])))
                                  for e, lo, hi in zip(out[estimate], out[low], out[high])],
                                 index=out.index, dtype=object)
        out = out.drop(columns=[low, high])
        out[estimate] = combined
        out = out.rename(columns={estimate: f"{estimate} (95% CI)"})
    return out


#: Columns that hold p-values (``q_p``: Cochran's Q test), written "< 0.001" below 0.001.
P_VALUE_COLUMN = re.compile(r"^(p|q_p|p_value|pvalue|p-value|p \(.*\))$", re.IGNORECASE)
#: The smallest p-value written as a number.
P_FLOOR = 0.001


def format_p(value: object) -> str:
    """A p-value as a paper writes it: ``< 0.001``, ``0.012``, ``0.43`` (empty if missing)."""
    if not _finite(value):
        return ""
    p = float(value)  # type: ignore[arg-type]
    if p < P_FLOOR:
        return f"< {P_FLOOR:g}"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


#: Python's literals written out as text by a library, as a reader reads them.
TEXT_LITERALS = {"True": "yes", "False": "no", "None": "", "nan": "", "NaN": "", "NaT": "",
                 "<NA>": ""}


def _cell(value: object, digits: int | None) -> str:
    """One cell as text: missing empty, booleans yes/no, whole numbers without decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA \
            or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, str) and value in TEXT_LITERALS:  # e.g. tableone's levels
        return TEXT_LITERALS[value]
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return str(value)
        if digits is None:
            return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
        return f"{value:.{digits}f}"
    return str(value)


def _column_digits(values: pd.Series) -> int | None:
    """Decimals of a float column: None (each cell on its own) when every value is whole,
    else by magnitude (0 from 100, 1 from 10, 3 below 0.1, else 2)."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    numbers = numbers[np.isfinite(numbers)]
    if numbers.empty or (numbers == numbers.round()).all():
        return None
    return _digits("", numbers)


def display_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, list[bool]]:
    """A table as a paper prints it (the one formatter of every report table): estimates with
    their CIs in one column (:func:`readable`), a meaningful index as columns and a default
    one dropped, p-values as ``< 0.001``, whole numbers as integers, booleans as yes/no,
    missing values empty; every cell text. Returns the text table and, per column, whether
    it holds numbers (to align them right)."""
    out = readable(df)
    if not _default_index(out.index):
        out = out.reset_index()
    else:
        out = out.reset_index(drop=True)
    numeric, columns = [], {}
    for position, name in enumerate(out.columns):
        values = out.iloc[:, position]
        is_number = pd.api.types.is_numeric_dtype(values) and \
            not pd.api.types.is_bool_dtype(values)
        if is_number and P_VALUE_COLUMN.match(str(name)):
            text = values.map(format_p)
        elif values.dtype == object:  # numbers among markers ("<10", "[d]") of a protected
            numbers = pd.to_numeric(values.map(_number_text), errors="coerce")  # table
            digits = _column_digits(numbers)
            text = pd.Series([_cell(v if x != x else float(x), digits)
                              for v, x in zip(values, numbers, strict=True)],
                             index=values.index)
        else:
            digits = _column_digits(values) if pd.api.types.is_float_dtype(values) else None
            text = values.map(lambda v, d=digits: _cell(v, d))
        numeric.append(bool(is_number) or _mostly_numbers(text))
        columns[position] = text.astype(object)
    shown = pd.DataFrame(columns)
    shown.columns = [str(c) for c in out.columns]
    return shown, numeric


def _number_text(value: object) -> object:
    """A number written as text (as disclosure control writes the cells it leaves), else
    None; numbers pass through, booleans do not."""
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    if isinstance(value, int | float | np.number):
        return value
    text = str(value).strip()
    return text if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text) else None


def _default_index(index: pd.Index) -> bool:
    """A 0..n-1 (or any unnamed integer) index: row numbers, not information."""
    return index.nlevels == 1 and index.name is None and pd.api.types.is_integer_dtype(index)


def _mostly_numbers(text: pd.Series) -> bool:
    """Cells that read as numbers, estimates with CIs or suppressed counts (``<10``)."""
    cells = text[text != ""]
    return bool(len(cells)) and bool(cells.str.match(r"^(?:<?\s*[-+]?\d|\[[a-z]\]$)").all())
