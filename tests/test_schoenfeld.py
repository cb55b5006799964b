"""The linear-time proportional-hazards test agrees with lifelines' own to the last bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test as lifelines_test

from immune_recovery.schoenfeld import proportional_hazard_test, scaled_schoenfeld


def _data(n: int, seed: int, rounding: int) -> pd.DataFrame:
    """Survival data with a hazard that changes over time, times rounded to make ties."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 2, n).astype(float)
    x3 = rng.gamma(2.0, size=n)
    rate = np.exp(0.5 * x1 - 0.3 * x2 + 0.1 * x3)
    event_time = rng.weibull(0.7 + 0.6 * x2, n) / rate
    censor = rng.exponential(2.0, n)
    # named out of alphabetical order: lifelines sorts its summary by term
    return pd.DataFrame({"x2": x2, "x3": x3, "x1": x1,
                         "time": np.round(np.minimum(event_time, censor), rounding) + 0.01,
                         "event": (event_time <= censor).astype(int)})


@pytest.mark.parametrize(("n", "seed", "rounding"), [(400, 1, 1), (2000, 2, 2), (3000, 3, 6)])
def test_the_test_is_lifelines_test_to_the_last_bit(n, seed, rounding):
    data = _data(n, seed, rounding)
    fitter = CoxPHFitter().fit(data, "time", "event")
    ours = proportional_hazard_test(fitter, data)
    theirs = lifelines_test(fitter, data, time_transform="rank").summary
    assert ours["test_statistic"].to_numpy().tobytes() == \
        theirs["test_statistic"].to_numpy().tobytes()
    assert ours["p"].to_numpy().tobytes() == theirs["p"].to_numpy().tobytes()
    assert list(ours.index) == list(theirs.index)
    pd.testing.assert_frame_equal(scaled_schoenfeld(fitter, data),
                                  fitter.compute_residuals(data, "scaled_schoenfeld"),
                                  check_exact=True)


def test_a_hazard_that_changes_is_found_and_one_that_does_not_is_not():
    data = _data(3000, 4, 3)
    fitter = CoxPHFitter().fit(data, "time", "event")
    p = proportional_hazard_test(fitter, data)["p"]
    assert p["x2"] < 1e-6  # its Weibull shape differs: non-proportional
    assert p["x1"] > 0.001


def test_a_stratified_model_is_left_to_lifelines():
    data = _data(600, 5, 1).assign(site=lambda d: (d["x3"] > 2).astype(int))
    fitter = CoxPHFitter().fit(data, "time", "event", strata=["site"])
    ours = proportional_hazard_test(fitter, data)
    theirs = lifelines_test(fitter, data, time_transform="rank").summary
    np.testing.assert_array_equal(ours["test_statistic"], theirs["test_statistic"])
