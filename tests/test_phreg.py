"""The linear-time set-up of statsmodels' Cox regression builds the same risk sets (so the
Efron fit is statsmodels' to the last bit), and the compiled Breslow sums are statsmodels'
to rounding."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHSurvivalTime

from immune_recovery.outcomes import counting_process_ranks
from immune_recovery.phreg import PHReg, RiskSets, _flat


def _counting_process(n: int, seed: int):
    """Intervals (entry, stop] with events at their ends, many tied times."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 40, n).astype(float)
    stop = start + rng.integers(1, 15, n)
    x = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)])
    risk = 1 / (1 + np.exp(-(-2.5 + 0.6 * x[:, 0] + 0.4 * x[:, 1])))
    event = (rng.random(n) < risk).astype(int)
    return start, stop, x, event


def _same(a, b, where=""):
    if isinstance(a, list):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _same(u, v, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where
    else:
        assert a == b, where


@pytest.mark.parametrize(("n", "seed", "ranks"), [(300, 1, True), (3000, 2, True),
                                                   (2000, 3, False)])
def test_risk_sets_are_statsmodels_own(n, seed, ranks):
    start, stop, x, event = _counting_process(n, seed)
    entry, time = counting_process_ranks(start, stop) if ranks else (start, stop)
    ours = RiskSets(time, event, x, entry)
    theirs = PHSurvivalTime(time, event, x, None, entry, None)
    for name in ("nstrat_orig", "nstrat", "n_obs", "offset_s", "stratum_rows", "time_s",
                 "exog_s", "status_s", "entry_s", "ufailt", "ufailt_ix", "risk_enter",
                 "risk_exit"):
        _same(getattr(ours, name), getattr(theirs, name), name)


def test_the_efron_fit_is_statsmodels_fit_to_the_last_bit():
    start, stop, x, event = _counting_process(4000, 4)
    entry, time = counting_process_ranks(start, stop)
    ours = PHReg(time, x, status=event, entry=entry, ties="efron").fit()
    theirs = sm.PHReg(time, x, status=event, entry=entry, ties="efron").fit()
    for name in ("params", "bse", "pvalues"):
        assert np.asarray(getattr(ours, name)).tobytes() == \
            np.asarray(getattr(theirs, name)).tobytes(), name
    assert ours.llf == theirs.llf


@pytest.mark.parametrize(("n", "seed", "ranks"), [(4000, 4, True), (2500, 6, False)])
def test_the_breslow_sums_and_fit_are_statsmodels_to_rounding(n, seed, ranks):
    start, stop, x, event = _counting_process(n, seed)
    entry, time = counting_process_ranks(start, stop) if ranks else (start, stop)
    ours = PHReg(time, x, status=event, entry=entry, ties="breslow")
    theirs = sm.PHReg(time, x, status=event, entry=entry, ties="breslow")
    for params in (np.zeros(2), np.array([0.6, -0.4]), np.array([-1.5, 2.0])):
        assert ours.loglike(params) == pytest.approx(theirs.loglike(params), rel=1e-13)
        np.testing.assert_allclose(ours.score(params), theirs.score(params), rtol=1e-11,
                                   atol=1e-9)
        np.testing.assert_allclose(ours.hessian(params), theirs.hessian(params), rtol=1e-12,
                                   atol=1e-9)
    ours, theirs = ours.fit(), theirs.fit()
    for name in ("params", "bse", "pvalues"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-12,
                                   err_msg=name)
    assert ours.llf == pytest.approx(theirs.llf, rel=1e-14)


def test_no_event_and_bad_entries():
    start, stop, x, event = _counting_process(200, 5)
    empty = RiskSets(stop, np.zeros_like(event), x, start)
    assert empty.nstrat == 0 and empty.n_obs == 0
    with pytest.raises(ValueError, match="entry times may not occur after"):
        RiskSets(start, event, x, stop)


def test_the_counting_sort_is_a_stable_argsort():
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 51, 10_000)  # key 50 = n_groups: after the last group
    positions = rng.permutation(10_000)
    values, bounds = _flat(keys, positions, 50)
    order = np.argsort(keys, kind="stable")
    assert values.dtype == np.int32
    np.testing.assert_array_equal(values, positions[order])
    np.testing.assert_array_equal(bounds, np.searchsorted(keys[order], np.arange(51)))
