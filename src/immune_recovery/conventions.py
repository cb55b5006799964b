"""Conventions every module shares: time units, rounding, the missing-day sentinel, the
baseline window, and the normal quantile of 95% intervals.

This is the bottom floor of the package: it imports nothing from it, and nothing here is
defined anywhere else (``tests/test_layering.py`` checks both).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Days per year (Julian year), used to turn day counts into years.
DAYS_PER_YEAR = 365.25

#: Days per month (``DAYS_PER_YEAR / 12``), used to turn months into days and back.
DAYS_PER_MONTH = DAYS_PER_YEAR / 12

#: Integer day meaning "no date" in arrays of days since 1970-01-01 (``INT64_MIN``, which is
#: also what ``NaT`` becomes when cast to ``int64``).
MISSING_DAY = np.iinfo(np.int64).min

#: Baseline window around the time origin T0, in days: (before, after). Baseline CD4 and
#: viral load are the values in ``[T0 - 180 d, T0 + 7 d]`` closest to T0.
BASELINE_WINDOW_DAYS = (180, 7)

#: ``tblLAB_CD4.CD4_U`` code of an absolute count (cells/mm³ = cells/µL); 2 is percent.
CD4_ABSOLUTE_UNIT = 1

#: Confirmation by consecutive counts (confirmed non-response, confirmed late crossing): the
#: longest gap between one count and the next that still confirms it, days. The project's
#: choice, not a published figure: a six-monthly visit plus one week.
CONFIRM_MAX_GAP_DAYS = 190

#: A "stalled" CD4 trajectory: an absolute slope below this, cells/mm³ per year, after the
#: stalled-after time. The project's choice, not a published figure: about the year-to-year
#: drift of a count with a coefficient of variation near 10% at 200 cells/mm³.
FLAT_SLOPE_PER_YEAR = 20.0

#: Least squares: residual degrees of freedom below which a slope is reported as not
#: estimable (its t-interval needs a variance estimate; with one degree of freedom it is
#: uninformative). The project's choice.
MIN_RESIDUAL_DF = 2

#: A knot of a linear spline in time is kept only if at least this share of the counts lies
#: after it (otherwise the slope after it rests on a handful of counts, or none, and the
#: mixed model cannot converge). The project's choice.
MIN_SHARE_AFTER_KNOT = 0.05

#: SIMEX (Cook & Stefanski, JASA 1994;89:1314-1328): multiples of the measurement-error
#: variance added, replicates per multiple, and the seed of the added error. The usual choices
#: (Carroll et al., Measurement Error in Nonlinear Models, 2nd ed. 2006, ch. 5).
SIMEX_MULTIPLES = (0.5, 1.0, 1.5, 2.0)
SIMEX_REPLICATES = 50
SIMEX_SEED = 20260

#: Two-sided 95% normal quantile, z = Φ⁻¹(0.975) = 1.959964...
Z95 = float(stats.norm.ppf(0.975))

#: Day 0 of the integer day scale.
EPOCH = np.datetime64("1970-01-01", "D")


def z_quantile(level: float = 0.95) -> float:
    """Two-sided normal quantile for a ``level`` confidence interval (1.96 for 0.95)."""
    return Z95 if level == 0.95 else float(stats.norm.ppf(0.5 + level / 2))


def round_half_up(values):
    """Round to the nearest integer, halves up (``round_half_up(2.5) == 3``).

    A scalar gives an ``int``, an array an ``int64`` array.
    """
    out = np.floor(np.asarray(values, dtype="float64") + 0.5).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def months_to_days(months):
    """Months to whole days: ``round(M x 30.4375)``, halves up."""
    return round_half_up(np.asarray(months, dtype="float64") * DAYS_PER_MONTH)


#: Nanoseconds per day (``datetime64[ns]`` to days by floor division).
NS_PER_DAY = 86_400 * 10 ** 9


def to_days(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as integer days since 1970-01-01 (``int64``, floored like a cast to
    ``datetime64[D]``); missing dates become :data:`MISSING_DAY`. Nanosecond dates take a
    fast path (integer floor division, several times faster than the cast)."""
    values = np.asarray(dates)
    if values.dtype == np.dtype("datetime64[ns]"):
        raw = values.view(np.int64)
        days = np.floor_divide(raw, NS_PER_DAY)
        missing = raw == MISSING_DAY
        if missing.any():
            days[missing] = MISSING_DAY
        return days
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


def from_days(days: np.ndarray) -> np.ndarray:
    """Integer days since 1970-01-01 back to ``datetime64[ns]`` (:data:`MISSING_DAY` and
    ``NaT`` stay missing)."""
    days = np.asarray(days)
    missing = days == MISSING_DAY
    out = (EPOCH + np.where(missing, 0, days).astype("timedelta64[D]")).astype("datetime64[ns]")
    out[missing] = np.datetime64("NaT")
    return out
