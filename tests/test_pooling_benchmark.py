"""Issue 32, known truth: the pooling benchmark's machinery on a small consortium, and the
committed benchmark product (two-stage, one-stage and naive pooling against the truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery.consortium.sites import SiteDesign
from immune_recovery.simcheck import pooling

SMALL = (SiteDesign("x", "Europe", 900), SiteDesign("y", "Europe", 700),
         SiteDesign("z", "Asia", 40, {"sqrt_cd4_mean": 10.5}))


@pytest.mark.slow
def test_a_replicate_estimates_every_target_by_each_method_that_applies():
    runs = pooling.replicate(0, 11, SMALL)
    methods = runs.groupby("target")["method"].apply(set)
    assert set(methods.index) == {pooling._target_id(k) for k in pooling.TARGETS}
    assert methods["risk_factors:cd4_per100"] == set(pooling.METHODS)
    assert methods["frequency:proportion"] == {"two-stage", "naive"}
    two = runs[runs["method"] == "two-stage"]
    # the 40-patient cohort cannot send what would reveal a small count
    assert (two["sites"] < len(SMALL)).any() and (two["sites"] >= 1).all()
    assert (runs["ci_low"] < runs["estimate"]).all() and (runs["estimate"] < runs["ci_high"]).all()


def test_the_summary_counts_coverage_against_the_equal_weight_truth():
    truth = pd.DataFrame({"target": ["frequency:proportion"], "label": ["f"], "truth": [-1.0],
                          "a": [-0.8], "b": [-1.2]})
    runs = pd.DataFrame({"replicate": [0, 1, 2, 3], "target": "frequency:proportion",
                         "method": "two-stage", "estimate": [-1.1, -0.9, -1.0, -0.5],
                         "se": 0.1, "ci_low": [-1.3, -1.1, -1.2, -0.7],
                         "ci_high": [-0.9, -0.7, -0.8, -0.3], "sites": [2, 2, 1, 2]})
    row = pooling.summarise(runs, truth).iloc[0]
    assert row["coverage"] == 75.0 and row["replicates"] == 4
    assert row["bias"] == pytest.approx(0.125) and row["mean_sites"] == pytest.approx(1.75)


def test_the_committed_benchmark_is_complete_and_its_truth_reconciles():
    runs, truth, settings = pooling.load_product("data/derived/pooling")
    designs = [d.name for d in pooling.BENCHMARK_SITES]
    assert np.allclose(truth["truth"], truth[designs].mean(axis=1))
    summary = pooling.summarise(runs, truth)
    assert (summary["replicates"] >= 0.95 * settings["replicates"]).all()
    assert settings["sites"] == [[d.name, d.region, d.patients]
                                 for d in pooling.BENCHMARK_SITES]
    two = summary[summary["method"] == "two-stage"].set_index("target")
    # small cohorts drop out of the rare-event targets first
    assert two.loc["outcome_hr:inr_vs_complete", "mean_sites"] < \
        two.loc["frequency:proportion", "mean_sites"] <= len(designs)
