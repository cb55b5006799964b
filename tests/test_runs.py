"""Runs of equal values: the array helpers against the pandas group-by they replace."""

import numpy as np
import pandas as pd

from immune_recovery.runs import ends_run, ffill_runs, run_starts


def test_forward_fill_stays_within_each_patient():
    code = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    values = np.array([np.nan, 1.0, np.nan, np.nan, 2.0, np.nan, np.nan, 3.0])
    starts = run_starts(code)
    assert starts.tolist() == [0, 0, 0, 3, 3, 5, 5, 5]
    np.testing.assert_array_equal(ffill_runs(values, starts),
                                  [np.nan, 1.0, 1.0, np.nan, 2.0, np.nan, np.nan, 3.0])
    assert ffill_runs(np.zeros(0), run_starts(np.zeros(0, int))).size == 0


def test_runs_agree_with_pandas_groupby_on_random_sorted_ids():
    rng = np.random.default_rng(7)
    ids = np.sort(rng.integers(0, 50, 400)).astype(str).astype(object)
    values = np.where(rng.random(400) < 0.4, np.nan, rng.normal(size=400))
    frame = pd.DataFrame({"id": ids, "v": values, "row": np.arange(400)})
    grouped = frame.groupby("id", sort=False)
    assert ends_run(ids).tolist() == (frame["row"] == grouped["row"].transform("last")).tolist()
    assert run_starts(ids).tolist() == grouped["row"].transform("first").tolist()
    np.testing.assert_array_equal(ffill_runs(values, run_starts(ids)),
                                  grouped["v"].ffill().to_numpy())


def test_ends_run_of_empty_and_single_rows():
    assert ends_run(np.array([], int)).tolist() == []
    assert ends_run(np.array([5])).tolist() == [True]
    assert ends_run(np.array([1.0, 1.0, 2.0])).tolist() == [False, True, True]
