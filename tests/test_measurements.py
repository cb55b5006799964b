"""The closest-in-window picker against a brute-force reference, and its tie rules."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from immune_recovery.measurements import MeasurementIndex, pick_closest


def brute_force(patients, days, target_patient, target_day, before, after):
    """Independent reference: scan every measurement for every target."""
    out = []
    for tp, td in zip(target_patient, target_day, strict=True):
        best, best_key = -1, None
        for i, (p, d) in enumerate(zip(patients, days, strict=True)):
            if p != tp or d < td - before or d > td + after:
                continue
            key = (abs(d - td), d, i)  # closest, then earlier date, then first in input
            if best_key is None or key < best_key:
                best, best_key = i, key
        out.append(best)
    return np.array(out, dtype=np.int64)


measurements = st.lists(
    st.tuples(st.integers(0, 4), st.integers(-30, 400)), min_size=0, max_size=40)
targets = st.lists(st.tuples(st.integers(0, 5), st.integers(-50, 450)), min_size=1, max_size=15)


@settings(max_examples=300, deadline=None)
@given(measurements, targets, st.integers(0, 120), st.integers(0, 120))
def test_matches_brute_force(meas, targs, before, after):
    patients = np.array([m[0] for m in meas], dtype=np.int64)
    days = np.array([m[1] for m in meas], dtype=np.int64)
    tp = np.array([t[0] for t in targs], dtype=np.int64)
    td = np.array([t[1] for t in targs], dtype=np.int64)
    got = pick_closest(patients, days, tp, td, before, after)
    want = brute_force(patients, days, tp, td, before, after)
    # same chosen day (positions may differ only between same-day duplicates)
    assert np.array_equal(got >= 0, want >= 0)
    chosen = got >= 0
    assert np.array_equal(days[got[chosen]], days[want[chosen]])
    assert np.array_equal(patients[got[chosen]], tp[chosen])


def test_tie_goes_to_the_earlier_date():
    pos = pick_closest(np.array([0, 0]), np.array([90, 110]), np.array([0]), np.array([100]),
                       45, 45)
    assert pos.tolist() == [0]


def test_window_bounds_are_inclusive():
    days = np.array([55, 145])
    assert pick_closest(np.zeros(2), days, np.array([0]), np.array([100]), 45, 0).tolist() == [0]
    assert pick_closest(np.zeros(2), days, np.array([0]), np.array([100]), 44, 45).tolist() == [1]
    assert pick_closest(np.zeros(2), days, np.array([0]), np.array([100]), 44, 44).tolist() == [-1]


def test_row_order_does_not_matter():
    rng = np.random.default_rng(7)
    patients = rng.integers(0, 50, 2000)
    days = rng.integers(0, 1000, 2000)
    tp = np.arange(50)
    td = np.full(50, 365)
    perm = rng.permutation(2000)
    a = pick_closest(patients, days, tp, td, 90, 90)
    b = pick_closest(patients[perm], days[perm], tp, td, 90, 90)
    assert np.array_equal(a >= 0, b >= 0)
    ok = a >= 0
    assert np.array_equal(days[a[ok]], days[perm][b[ok]])


def test_sorted_input_skips_the_sort():
    index = MeasurementIndex.build(np.array([0, 0, 1]), np.array([1, 5, 2]))
    assert index.order.tolist() == [0, 1, 2]
