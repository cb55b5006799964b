"""Sample size and power: textbook values, and simulation against the analytic formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from lifelines.statistics import logrank_test
from scipy import integrate, stats

from immune_recovery import power, reference


def test_schoenfeld_textbook_value():
    # 1:1, two-sided alpha 0.05, power 0.8, HR 0.75 -> 380 events
    assert power.schoenfeld_events(0.75) == 380
    assert power.schoenfeld_events(0.5) == 66


def test_cd4_sample_size_matches_the_closed_form():
    n = power.cd4_patients_per_arm(50, 100, rho=0.6)
    exact = 2 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 * 100 ** 2 * (1 - 0.36) / 50 ** 2
    assert n == math.ceil(exact)


def test_event_probability_matches_numerical_integration():
    rate, accrual, follow = 0.05, 2.0, 3.0
    numeric, _ = integrate.quad(lambda e: 1 - math.exp(-rate * (accrual + follow - e)), 0, accrual)
    assert power.event_probability(rate, accrual, follow) == pytest.approx(numeric / accrual)


def test_vectorized_tests_match_statsmodels_and_lifelines():
    rng = np.random.default_rng(5)
    base = rng.normal(100, 30, (1, 40))
    treated = np.zeros((1, 40))
    treated[0, :20] = 1
    follow = 0.8 * base + 20 * treated + rng.normal(0, 20, (1, 40))
    p = power.ancova_p_values(base, follow, treated)[0]
    ols = sm.OLS(follow[0], sm.add_constant(np.column_stack([treated[0], base[0]]))).fit()
    assert p == pytest.approx(ols.pvalues[1])
    time = rng.exponential(1, (1, 60))
    event = rng.random((1, 60)) < 0.7
    group = np.zeros((1, 60), bool)
    group[0, :30] = True
    ours = power.logrank_p_values(time, event, group)[0]
    theirs = logrank_test(time[0, :30], time[0, 30:], event[0, :30], event[0, 30:]).p_value
    assert ours == pytest.approx(theirs, rel=1e-6)


def normal_pool(sd=100.0, rho=0.8, n=200_000, seed=3) -> power.EnrolmentPool:
    rng = np.random.default_rng(seed)
    cov = [[sd ** 2, rho * sd ** 2], [rho * sd ** 2, sd ** 2]]
    draws = rng.multivariate_normal([150, 180], cov, n)
    return power.EnrolmentPool(baseline=draws[:, 0], followup=draws[:, 1], event_rate=0.05)


def test_simulated_cd4_power_agrees_with_the_analytic_power():
    pool = normal_pool()
    grid = [{"n_per_arm": n, "delta": d} for n, d in ((15, 50.0), (30, 50.0), (30, 0.0))]
    table = power.with_analytic_cd4(power.simulated_power("cd4", grid, seed=9, replicates=2000,
                                                          pool=pool), pool)
    for row in table.itertuples():
        expected = row.analytic_power if row.delta else 0.05
        assert abs(row.power - expected) < 3.5 * math.sqrt(expected * (1 - expected) / 2000)


def test_simulated_tte_power_agrees_with_schoenfeld_when_events_are_many():
    grid = [{"n_per_arm": 1500, "hazard_ratio": 0.7}, {"n_per_arm": 600, "hazard_ratio": 1.0}]
    table = power.with_analytic_tte(
        power.simulated_power("tte", grid, seed=4, replicates=1500, control_rate=0.05,
                              accrual_years=2.0, followup_years=3.0), 0.05, 2.0, 3.0)
    for row in table.itertuples():
        expected = row.analytic_power if row.hazard_ratio != 1 else 0.05
        assert abs(row.power - expected) < 3.5 * math.sqrt(expected * (1 - expected) / 1500)


def test_results_do_not_depend_on_the_number_of_workers():
    pool = normal_pool(n=5000)
    grid = [{"n_per_arm": 20, "delta": 40.0}, {"n_per_arm": 40, "delta": 40.0}]
    one = power.simulated_power("cd4", grid, seed=11, replicates=300, chunk=50, pool=pool)
    two = power.simulated_power("cd4", grid, seed=11, replicates=300, chunk=50, pool=pool,
                                n_workers=2)
    assert one.equals(two)


def test_dask_local_cluster_with_two_workers_gives_identical_results():
    """A 2-worker Dask LocalCluster and a single joblib worker give the same power table."""
    pytest.importorskip("dask.distributed")
    grid = [{"n_per_arm": 100, "hazard_ratio": 0.7}, {"n_per_arm": 200, "hazard_ratio": 0.7}]
    fixed = {"control_rate": 0.1, "accrual_years": 1.0, "followup_years": 2.0}
    one = power.simulated_power("tte", grid, seed=5, replicates=400, chunk=50, **fixed)
    two = power.simulated_power("tte", grid, seed=5, replicates=400, chunk=50, n_workers=2,
                                backend="dask", **fixed)
    assert one.equals(two)


def test_scheduler_address_comes_from_the_environment(monkeypatch):
    from immune_recovery import parallel

    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://scheduler.example:8786")
    assert parallel.scheduler_address() == "tcp://scheduler.example:8786"
    assert parallel.scheduler_address("tcp://other:1") == "tcp://other:1"
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    assert parallel.scheduler_address() is None
    with pytest.raises(ValueError, match="backend"):
        parallel.run_tasks(dict, [{}], backend="spark")


def test_t_based_cd4_sample_size_and_allocation():
    control, treated = power.cd4_patients_t(50, 150, 0.6)
    assert control == treated and control >= power.cd4_patients_per_arm(50, 150, 0.6)
    c2, t2 = power.cd4_patients_t(50, 150, 0.6, allocation=2.0)
    assert t2 == pytest.approx(2 * c2, abs=1) and c2 < control


def test_adherence_inflation_is_lachin_foulkes():
    assert power.adherence_inflation(0.2) == pytest.approx(1 / 0.64)
    assert power.adherence_inflation(0.1, 0.1) == pytest.approx(1 / 0.64)
    with pytest.raises(ValueError):
        power.adherence_inflation(0.6, 0.5)


def test_tte_design_without_inflation_is_the_one_to_one_formula():
    plain = power.tte_design(0.7, 0.05, 2, 3, loss=0, nonadherence=0)
    events, patients = power.tte_patients(0.7, 0.05, 2, 3)
    assert plain["events_needed"] == events
    assert abs(plain["patients_needed"] - patients) <= 1
    inflated = power.tte_design(0.7, 0.05, 2, 3, loss=0.1, nonadherence=0.2)
    assert inflated["patients_needed"] == pytest.approx(patients / 0.64 / 0.9, abs=2)
    unequal = power.tte_design(0.7, 0.05, 2, 3, allocation=2.0, loss=0, nonadherence=0)
    assert unequal["events_needed"] > events  # 2:1 is less efficient per event


def test_published_rates_cite_and_compute_intervals():
    rates = reference.published_rates(["ER09", "ER30", "ER01"]).set_index("rate_id")
    assert rates.loc["ER09", "ci_source"] == "published"
    assert (rates.loc["ER09", "ci_low"], rates.loc["ER09", "ci_high"]) == (3.38, 5.74)
    assert rates.loc["ER30", "ci_source"].startswith("exact Poisson")
    assert rates.loc["ER30", "ci_low"] < 100 * 62 / 12357 < rates.loc["ER30", "ci_high"]
    assert rates.loc["ER01", "ci_source"] == "none"
    with pytest.raises(ValueError, match="ER99"):
        reference.published_rates(["ER99"])


def test_published_design_names_the_observed_effect_and_never_pairs_patients_with_a_rate():
    """The observed IL-2 hazard ratio is a scenario of its own; the patients needed at the
    rate's CI limits are not in columns a table formatter would read as a CI of the rate."""
    from immune_recovery.evidence import il2
    observed = il2.observed_clinical_effect()
    (hr, label), = observed.items()
    assert 0.8 < hr < 1.0 and label.startswith("observed")
    rates = reference.published_rates(["ER09"])
    table = power.published_design_table(rates, [0.7], 2.0, 3.0, observed=observed)
    assert list(table["scenario"]) == ["assumed", label]
    assert not any(c.endswith(("ci_low", "ci_high")) for c in table.columns)
    assert table["patients_needed"].iloc[1] > 10 * table["patients_needed"].iloc[0]


def test_the_design_comparison_puts_the_clinical_endpoint_first():
    sizes = power.sample_size_table([25, 50], 100.0, 0.5, [0.7], 0.05, 2.0, 3.0)
    assert not power.design_comparison(sizes)["endpoint"].iloc[0].startswith("CD4")
