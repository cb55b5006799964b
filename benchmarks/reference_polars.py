"""An independent, hand-tuned polars implementation of the classifier's CD4 contract
(benchmark reference).

Written from the contract, not from ``immune_recovery.classify``: time origin ``RECART_D``;
absolute counts only (``CD4_U == 1``); baseline = the count in [T0 − 180, T0 + 7] days
closest to T0, ties to the earlier date; assessment = the count in [target − W, target + W]
closest to the target, ties to the earlier date; CD4 rules ``gain_lt/le``, ``level_lt/le``,
``rel_gain_lt``, ``below_baseline``, ``never_above`` and their ``all_of``/``any_of``
combinations. Viral-load rules and confirmation are not re-implemented: the comparison
covers baseline, assessed counts and CD4 non-response for every definition.

The hand-tuned form:

* the counts are filtered to each window *first*, then grouped by patient on a column
  flagged sorted (an O(n) ``is_sorted`` check, then ``set_sorted``);
* the closest count is the minimum of one integer key, ``|day − target| × 65536 +
  (day + 32768)``: the closest day, ties to the earlier; its value is
  ``value.get(key.arg_min())``;
* one pick per *distinct target*, over its widest window; a narrower window at the same target
  keeps the pick when its distance (``key // 65536``) is within it, which is exact for
  symmetric nested windows;
* the baseline and the patient universe are computed once, and the sub-plans run in parallel
  (``polars.collect_all``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

KEY_SHIFT = 65536
DAY_OFFSET = 32768
BASELINE = (180, 7)


def cd4_frame(cohort) -> tuple[pl.DataFrame, int]:
    """Absolute CD4 counts: patient code, day since T0, value (sorted by patient)."""
    bas = cohort.tables["tblBAS"]
    cd4 = cohort.tables["tblLAB_CD4"]
    n = len(bas["PATIENT"].cat.categories)
    t0 = bas.set_index(bas["PATIENT"].cat.codes.to_numpy())["RECART_D"]
    origin = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    origin[t0.index.to_numpy()] = t0.to_numpy()
    codes = cd4["PATIENT"].cat.codes.to_numpy().astype(np.int32)
    days = (cd4["CD4_D"].to_numpy() - origin[codes]) / np.timedelta64(1, "D")
    frame = pl.DataFrame({"patient": codes, "day": days, "value": cd4["CD4_V"].to_numpy(),
                          "unit": cd4["CD4_U"].to_numpy()})
    frame = (frame.filter((pl.col("unit") == 1) & pl.col("value").is_not_null()
                          & pl.col("day").is_not_nan())
             .select("patient", pl.col("day").cast(pl.Int32), "value"))
    if not frame["patient"].is_sorted():
        frame = frame.sort("patient", "day")
    return frame.with_columns(pl.col("patient").set_sorted()), n


def _pick(frame: pl.LazyFrame, target: int, before: int, after: int) -> pl.LazyFrame:
    key = ((pl.col("day") - target).abs().cast(pl.Int64) * KEY_SHIFT
           + pl.col("day").cast(pl.Int64) + DAY_OFFSET)
    return (frame.filter(pl.col("day").is_between(target - before, target + after))
            .with_columns(key=key)
            .group_by("patient")
            .agg(pl.col("key").min(), pl.col("value").get(pl.col("key").arg_min())))


def _dense(picked: pl.DataFrame, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(value, key) per patient code; NaN / -1 where none."""
    values = np.full(n, np.nan)
    keys = np.full(n, -1, dtype=np.int64)
    patient = picked["patient"].to_numpy()
    values[patient] = picked["value"].to_numpy()
    keys[patient] = picked["key"].to_numpy()
    return values, keys


def _max_through(frame: pl.LazyFrame, n: int, upto: np.ndarray) -> pl.LazyFrame:
    limits = pl.LazyFrame({"patient": np.arange(n, dtype=np.int32), "upto": upto})
    return (frame.join(limits, on="patient")
            .filter((pl.col("day") >= 0) & (pl.col("day") <= pl.col("upto")))
            .group_by("patient").agg(pl.col("value").max()))


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
    lazy = frame.lazy()
    widest: dict[int, int] = {}
    for d in definitions:
        widest[d.target_days] = max(widest.get(d.target_days, 0), d.window_days)
    targets = sorted(widest)
    plans = [_pick(lazy, 0, *BASELINE)] + [_pick(lazy, t, widest[t], widest[t])
                                           for t in targets]
    collected = pl.collect_all(plans)
    baseline, _ = _dense(collected[0], n)
    picked = {t: _dense(c, n) for t, c in zip(targets, collected[1:], strict=True)}

    def assessed_of(d) -> tuple[np.ndarray, np.ndarray]:
        values, keys = picked[d.target_days]
        within = (keys >= 0) & (keys // KEY_SHIFT <= d.window_days)
        day = np.where(within, keys % KEY_SHIFT - DAY_OFFSET, -1)
        return np.where(within, values, np.nan), day

    never = [d for d in definitions if any(c.rule == "never_above" for c in d.criteria)]
    maxima_plans = {d.id: _max_through(lazy, n, assessed_of(d)[1].astype(np.int32))
                    for d in never}
    maxima = dict(zip(maxima_plans, pl.collect_all(list(maxima_plans.values())),
                      strict=True))
    out = {}
    for d in definitions:
        assessed, _ = assessed_of(d)
        maximum = None
        if d.id in maxima:
            maximum = np.full(n, np.nan)
            maximum[maxima[d.id]["patient"].to_numpy()] = maxima[d.id]["value"].to_numpy()
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
