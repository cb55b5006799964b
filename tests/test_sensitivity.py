"""Bootstrap CIs and sensitivity grids: right answers, and identical on 1 or 2 Dask workers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery import sensitivity
from immune_recovery.classify import classify
from immune_recovery.cohort import load_cohort
from immune_recovery.frequency import frequency_table, grid_definitions
from immune_recovery.intervals import wilson

from .conftest import require_dataset


def test_bootstrap_ci_matches_wilson_on_a_large_sample():
    rng = np.random.default_rng(1)
    flags = (rng.random(4000) < 0.18).astype(float)
    flags[:50] = np.nan  # not assessable: dropped
    out = sensitivity.bootstrap_proportion(flags, replicates=2000, seed=3)
    k, n = np.nansum(flags), np.sum(~np.isnan(flags))
    _, low, high = wilson(np.array([k]), np.array([n]))
    assert out["n"] == n and out["replicates"] == 2000
    assert out["ci_low"] == pytest.approx(low[0], abs=0.004)
    assert out["ci_high"] == pytest.approx(high[0], abs=0.004)


def test_bootstrap_identical_on_two_dask_workers():
    pytest.importorskip("dask.distributed")
    flags = (np.random.default_rng(2).random(500) < 0.3).astype(float)
    one = sensitivity.bootstrap_proportion(flags, replicates=600, seed=8, chunk=100)
    two = sensitivity.bootstrap_proportion(flags, replicates=600, seed=8, chunk=100,
                                           n_workers=2, backend="dask")
    assert one == two


def test_sensitivity_grid_equals_one_classification_and_runs_on_dask():
    pytest.importorskip("dask.distributed")
    cohort = load_cohort(require_dataset("cpcra002"))
    definitions = grid_definitions("gain_lt", [0, 50, 100], [2, 6, 12])
    whole = frequency_table(classify(cohort, definitions), "cpcra002")
    whole = whole[whole["stratum"] == "overall"].reset_index(drop=True)
    grid = sensitivity.sensitivity_grid(cohort, definitions, "cpcra002",
                                        definitions_per_task=2, n_workers=2, backend="dask")
    pd.testing.assert_frame_equal(grid, whole)
