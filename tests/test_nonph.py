"""Non-proportional hazards: time-split hazard ratios and restricted mean survival time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery import outcomes


def two_groups(n: int = 4000, seed: int = 5, hr_early: float = 3.0, hr_late: float = 1.0):
    """Exponential times with a hazard ratio of ``hr_early`` in year 1 and ``hr_late`` after."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.5, "b", "a")
    base = 0.3
    early_rate = np.where(group == "b", base * hr_early, base)
    late_rate = np.where(group == "b", base * hr_late, base)
    t1 = rng.exponential(1 / early_rate)
    t2 = 1 + rng.exponential(1 / late_rate)
    time = np.where(t1 < 1, t1, t2)
    censor = rng.uniform(2, 4, n)
    return pd.DataFrame({"status": group, "time_years": np.minimum(time, censor),
                         "event": (time <= censor).astype(int)})


def test_time_split_recovers_a_changing_hazard_ratio():
    data = two_groups()
    fit = outcomes.CoxModel(["status"], "single", {"status": "a"}).fit(data)
    assert outcomes.flagged_terms(fit.proportional_hazards()) == ["status[b]"]
    split = outcomes.time_split_cox(data, ["status"], ["status[b]"], [1.0], {"status": "a"})
    hr = split.set_index("term")["estimate"]
    assert hr["status[b] @ 0-1 y"] == pytest.approx(3.0, rel=0.15)
    assert hr["status[b] @ >1 y"] == pytest.approx(1.0, rel=0.15)
    single = fit.summary["estimate"].iloc[0]
    assert hr["status[b] @ >1 y"] < single < hr["status[b] @ 0-1 y"]


def test_time_split_beyond_follow_up_is_the_single_cox_model():
    data = two_groups(n=800, hr_early=2.0, hr_late=2.0)
    single = outcomes.CoxModel(["status"], "m", {"status": "a"}).fit(data).summary
    split = outcomes.time_split_cox(data, ["status"], ["status[b]"], [10.0], {"status": "a"})
    assert split.loc[0, "estimate"] == pytest.approx(single.loc[0, "estimate"], rel=1e-4)


def test_rmst_against_the_exponential_and_a_bootstrap():
    rng = np.random.default_rng(9)
    rate, horizon = 0.4, 2.0
    time = rng.exponential(1 / rate, 3000)
    event = np.ones_like(time, dtype=int)
    mean, var = outcomes.rmst(time, event, horizon)
    assert mean == pytest.approx((1 - np.exp(-rate * horizon)) / rate, abs=0.03)
    boot = [outcomes.rmst(time[i], event[i], horizon)[0]
            for i in rng.integers(0, time.size, (200, time.size))]
    assert np.sqrt(var) == pytest.approx(np.std(boot), rel=0.2)


def test_rmst_difference_sign_and_interval():
    data = two_groups()
    table = outcomes.rmst_difference(data, "a", 2.0).set_index("group")
    assert np.isnan(table.loc["a", "difference_years"])
    row = table.loc["b"]
    assert row["difference_years"] < 0 and row["ci_low"] < row["difference_years"] < row["ci_high"]
    assert row["difference_years"] == pytest.approx(row["rmst_years"] - table.loc["a", "rmst_years"])


def test_actg175_landmark_hazard_ratio_changes_over_time(actg175):
    from immune_recovery.baseline import patient_table
    from immune_recovery.classify import classify
    from immune_recovery.covariates import analysis_frame
    from immune_recovery.definitions import load_definitions_file
    from immune_recovery.paths import resolve

    patients = analysis_frame(patient_table(actg175))
    definition = load_definitions_file(resolve("params/definitions/actg175.yaml"))[
        "actg175_gain_lt50_w20"]
    result = classify(actg175, [definition])
    data = outcomes.landmark_by_definition(actg175, patients, result, definition.id,
                                           event="endpoint", landmark_days=175)
    refs = {"status": "cd4_responder", "arm": "ZDV"}
    fit = outcomes.CoxModel(["status", "cd4_per100", "arm"], "adjusted", refs).fit(data)
    assert "status[cd4_nonresponder]" in outcomes.flagged_terms(fit.proportional_hazards())
    split = outcomes.time_split_cox(data, ["status", "cd4_per100", "arm"],
                                    ["status[cd4_nonresponder]"], [1.0], refs).set_index("term")
    assert split.loc["status[cd4_nonresponder] @ 0-1 y", "estimate"] > \
        2 * split.loc["status[cd4_nonresponder] @ >1 y", "estimate"]
