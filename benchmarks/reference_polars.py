"""An independent implementation of the classifier's CD4 contract in polars (benchmark reference).

Written from the contract in the issue tracker, not from ``immune_recovery.classify``: time
origin ``RECART_D``; absolute counts only (``CD4_U == 1``); baseline = the count in
[T0 − 180, T0 + 7] days closest to T0, ties to the earlier date; assessment = the count in
[target − W, target + W] closest to the target, ties to the earlier date; CD4 rules
``gain_lt/le``, ``level_lt/le``, ``rel_gain_lt``, ``below_baseline``, ``never_above`` and their
``all_of``/``any_of`` combinations. Viral-load rules are not re-implemented: the comparison
covers baseline, assessed counts and CD4 non-response for every definition.

One pass for all definitions: each distinct (target, window) is picked once, by the minimum of
an integer key ``distance × 2^22 + (day + 2^21)`` per patient (closest, then earliest) inside a
single ``group_by`` over the stacked candidate rows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

KEY_SHIFT = 1 << 22
DAY_OFFSET = 1 << 21
BASELINE = (0, 180, 7)


def cd4_frame(cohort) -> tuple[pl.DataFrame, int]:
    """Absolute CD4 counts with integer patient codes and days since T0 (polars only)."""
    bas = cohort.tables["tblBAS"]
    cd4 = cohort.tables["tblLAB_CD4"]
    n = len(bas["PATIENT"].cat.categories)
    base = pl.DataFrame({"patient": bas["PATIENT"].cat.codes.to_numpy().astype(np.int32),
                         "t0": bas["RECART_D"].to_numpy()})
    labs = pl.DataFrame({"patient": cd4["PATIENT"].cat.codes.to_numpy().astype(np.int32),
                         "date": cd4["CD4_D"].to_numpy(), "value": cd4["CD4_V"].to_numpy(),
                         "unit": cd4["CD4_U"].to_numpy()})
    frame = (labs.lazy().filter((pl.col("unit") == 1) & pl.col("value").is_not_null())
             .join(base.lazy(), on="patient", how="inner")
             .select("patient", "value",
                     day=(pl.col("date") - pl.col("t0")).dt.total_days().cast(pl.Int32))
             .collect())
    return frame, n


def picks(frame: pl.DataFrame, n: int, windows: list[tuple[int, int, int]]) -> dict:
    """``{(target, before, after): (value array, day array)}`` for each window, NaN where none."""
    stacked = pl.concat([
        frame.lazy().filter(pl.col("day").is_between(t - lo, t + hi))
        .select("patient", "value", "day", w=pl.lit(i, dtype=pl.Int16),
                key=(pl.col("day") - t).abs().cast(pl.Int64) * KEY_SHIFT
                + pl.col("day").cast(pl.Int64) + DAY_OFFSET)
        for i, (t, lo, hi) in enumerate(windows)])
    chosen = (stacked.group_by("w", "patient")
              .agg(pl.col("value").get(pl.col("key").arg_min()),
                   pl.col("day").get(pl.col("key").arg_min()))
              .collect())
    out = {}
    w = chosen["w"].to_numpy()
    patient = chosen["patient"].to_numpy()
    value = chosen["value"].to_numpy()
    day = chosen["day"].to_numpy()
    for i, window in enumerate(windows):
        mask = w == i
        values = np.full(n, np.nan)
        days = np.full(n, np.iinfo(np.int32).min, dtype=np.int64)
        values[patient[mask]] = value[mask]
        days[patient[mask]] = day[mask]
        out[window] = (values, days)
    return out


def max_between(frame: pl.DataFrame, n: int, upto: np.ndarray) -> np.ndarray:
    """Per patient, the highest count dated from T0 (day 0) through day ``upto``."""
    limits = pl.DataFrame({"patient": np.arange(n, dtype=np.int32), "upto": upto})
    best = (frame.lazy().join(limits.lazy(), on="patient")
            .filter((pl.col("day") >= 0) & (pl.col("day") <= pl.col("upto")))
            .group_by("patient").agg(pl.col("value").max()).collect())
    out = np.full(n, np.nan)
    out[best["patient"].to_numpy()] = best["value"].to_numpy()
    return out


def _criterion(c, baseline, assessed, maximum):
    gain = assessed - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        rules = {"gain_lt": lambda: gain < c.threshold, "gain_le": lambda: gain <= c.threshold,
                 "level_lt": lambda: assessed < c.threshold,
                 "level_le": lambda: assessed <= c.threshold,
                 "rel_gain_lt": lambda: 100 * gain / baseline < c.threshold,
                 "below_baseline": lambda: assessed < baseline,
                 "never_above": lambda: ~(maximum > c.threshold)}
        return rules[c.rule]()


def classify_cd4(cohort, definitions) -> dict[str, dict[str, np.ndarray]]:
    """Baseline, assessed CD4 and CD4 non-response (NaN where not assessable) per definition."""
    frame, n = cd4_frame(cohort)
    windows = [BASELINE] + sorted({(d.target_days, d.window_days, d.window_days)
                                   for d in definitions})
    picked = picks(frame, n, windows)
    baseline = picked[BASELINE][0]
    out = {}
    for d in definitions:
        assessed, day = picked[(d.target_days, d.window_days, d.window_days)]
        maximum = (max_between(frame, n, np.where(np.isnan(assessed), -1, day))
                   if any(c.rule == "never_above" for c in d.criteria) else None)
        flags = [_criterion(c, baseline, assessed, maximum) for c in d.criteria]
        combined = np.logical_and.reduce(flags) if d.combine == "all_of" else \
            np.logical_or.reduce(flags)
        assessable = ~np.isnan(baseline) & ~np.isnan(assessed)
        if d.is_relative:
            assessable &= baseline != 0
        out[d.id] = {"assessed": assessed,
                     "nonresponse": np.where(assessable, combined.astype(float), np.nan)}
    out["__baseline__"] = {"assessed": baseline, "nonresponse": np.full(n, np.nan)}
    return out
