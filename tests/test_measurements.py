"""Per-patient series: closest-in-window picks against a brute-force reference, ranges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from immune_recovery.measurements import PatientSeries

MISSING = np.iinfo(np.int64).min


def brute_force(patients, days, origin, offset, before, after, n_patients):
    """Independent reference: scan every measurement for every patient."""
    out = []
    for p in range(n_patients):
        if origin[p] == MISSING:
            out.append(None)
            continue
        target = origin[p] + offset
        best = None
        for d, q in zip(days, patients, strict=True):
            if q != p or d < target - before or d > target + after:
                continue
            key = (abs(d - target), d)  # closest, then the earlier date
            best = key if best is None or key < best else best
        out.append(None if best is None else best[1])
    return out


measurements = st.lists(st.tuples(st.integers(0, 4), st.integers(-30, 400)), max_size=40,
                        unique=True)


@settings(max_examples=300, deadline=None)
@given(measurements, st.lists(st.one_of(st.none(), st.integers(-20, 200)), min_size=5,
                              max_size=5),
       st.integers(-60, 400), st.integers(0, 120), st.integers(0, 120))
def test_closest_matches_brute_force(meas, origins, offset, before, after):
    patients = np.array([m[0] for m in meas], dtype=np.int64)
    days = np.array([m[1] for m in meas], dtype=np.int64)
    origin = np.array([MISSING if o is None else o for o in origins], dtype=np.int64)
    series = PatientSeries.build(patients, days, origin, 5)
    rows = series.closest(offset, before, after)
    want = brute_force(patients, days, origin, offset, before, after, 5)
    for p in range(5):
        if want[p] is None:
            assert rows[p] == -1
        else:
            assert series.patient[rows[p]] == p
            assert origin[p] + series.rel_day[rows[p]] == want[p]


def test_tie_goes_to_the_earlier_date():
    series = PatientSeries.build(np.array([0, 0]), np.array([90, 110]), np.array([0]), 1)
    assert series.rel_day[series.closest(100, 45, 45)].tolist() == [90]


def test_window_bounds_are_inclusive():
    series = PatientSeries.build(np.zeros(2, int), np.array([55, 145]), np.array([0]), 1)
    assert series.closest(100, 45, 0).tolist() == [0]
    assert series.closest(100, 44, 45).tolist() == [1]
    assert series.closest(100, 44, 44).tolist() == [-1]


def test_input_order_does_not_matter_and_sorted_input_is_not_copied():
    rng = np.random.default_rng(7)
    patients = rng.integers(0, 50, 2000)
    days = rng.permutation(np.arange(2000)) + 0  # unique days overall
    origin = np.zeros(50, dtype=np.int64)
    a = PatientSeries.build(patients, days, origin, 50)
    perm = rng.permutation(2000)
    b = PatientSeries.build(patients[perm], days[perm], origin, 50)
    assert np.array_equal(a.rel_day[a.closest(365, 90, 90)], b.rel_day[b.closest(365, 90, 90)])
    in_order = PatientSeries.build(np.array([0, 0, 1]), np.array([1, 5, 2]), np.zeros(2, int), 2)
    assert in_order.order is None


def test_same_day_repeats_keep_the_first_row():
    series = PatientSeries.build(np.array([0, 0, 0]), np.array([5, 1, 5]), np.array([0]), 1)
    assert series.take(np.array([10.0, 20.0, 30.0])).tolist() == [20.0, 10.0]


def test_row_range_and_range_max():
    series = PatientSeries.build(np.array([0, 0, 0, 1, 1]), np.array([0, 10, 20, 5, 30]),
                                 np.array([0, 0]), 2)
    lo, hi = series.row_range(5, 20)
    assert (hi - lo).tolist() == [2, 1]
    values = np.array([1.0, 7.0, 3.0, 9.0, 4.0])
    assert PatientSeries.range_max(values, lo, hi).tolist() == [7.0, 9.0]
    lo, hi = series.row_range(100, 200)
    assert PatientSeries.range_max(values, lo, hi, -1).tolist() == [-1.0, -1.0]


def test_range_max_propagates_nan_like_numpy():
    values = np.array([1.0, np.nan, 3.0, 9.0])
    lo, hi = np.array([0, 2, 0]), np.array([3, 4, 1])
    got = PatientSeries.range_max(values, lo, hi)
    expected = [np.max(values[a:b]) for a, b in zip(lo, hi, strict=True)]
    assert np.array_equal(got, expected, equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=8),
       st.lists(st.integers(-50, 450), max_size=6))
def test_counts_before_match_a_count_per_patient(sizes, offsets):
    """Patients with no rows first, last and in between; offsets before, inside and after."""
    rng = np.random.default_rng(len(sizes))
    patients = np.repeat(np.arange(len(sizes)), sizes)
    days = np.concatenate([np.sort(rng.choice(400, k, replace=False)) for k in sizes])
    series = PatientSeries.build(patients, days, np.zeros(len(sizes), int), len(sizes))
    counts = series.counts_before(offsets)
    for offset in offsets:
        expected = [int(np.sum(days[patients == p] < offset)) for p in range(len(sizes))]
        assert counts[offset].tolist() == expected


@pytest.mark.parametrize("unit", ["ns", "us", "s", "D"])
def test_dates_of_any_unit_give_the_days_of_a_cast(unit):
    """Dates before and after 1970 at any time of day: relative days floored like
    ``datetime64[D]``, the same as integer days."""
    rng = np.random.default_rng(7)
    days = np.sort(rng.integers(-20_000, 20_000, 50))
    seconds = days * 86_400 + rng.integers(0, 86_400, 50)
    dates = seconds.astype("datetime64[s]").astype(f"datetime64[{unit}]")
    origin = np.array([-123])
    from_dates = PatientSeries.build(np.zeros(50, int), dates, origin, 1)
    expected = dates.astype("datetime64[D]").astype(np.int64) - origin[0]
    assert from_dates.rel_day.tolist() == expected.tolist()
    assert from_dates.order is None


def test_to_days_fast_path_matches_the_cast():
    from immune_recovery.conventions import MISSING_DAY, to_days

    rng = np.random.default_rng(3)
    ns = rng.integers(-3 * 10 ** 18, 3 * 10 ** 18, 10_000)  # before and after 1970, any time
    dates = ns.astype("datetime64[ns]")
    dates[::97] = np.datetime64("NaT")
    expected = dates.astype("datetime64[D]").astype(np.int64)
    got = to_days(dates)
    assert np.array_equal(got, expected)
    assert (got[::97] == MISSING_DAY).all()
    assert np.array_equal(to_days(dates.astype("datetime64[us]")), expected)
