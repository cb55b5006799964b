"""How estimates are written for readers: ``0.50 (0.33–0.76)``."""

from __future__ import annotations

import math

import pandas as pd


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
        out = out.drop(columns=[low, high])
        out[estimate] = combined
        out = out.rename(columns={estimate: f"{estimate} (95% CI)"})
    return out
