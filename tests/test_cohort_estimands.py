"""Issue 34 on one simulated cohort of 30,000 patients (seed 11, the cohort the issue's figures
come from) and on the public trials: each estimator against the truth of the same patients.

* late response: the confirmed estimate covers the truth; the one-count figure is above it (an
  upper bound), as on CPCRA 002;
* ACTG 175: the composite endpoint competes (no deaths in the public data), the complete-case
  and worst-case shares bracket the estimate, and the confirmed row is "not estimable";
* frequency under missing data: deaths are outside the estimand, not missing, and the IPCW
  estimate (with the last viral load in the weights) covers the truth;
* baseline CD4 for aetiology: SIMEX removes most of the measured count's dilution;
* the trajectories report's late-response step runs on the cohort that stopped it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from immune_recovery import dropout
from immune_recovery import lateresponse as lr
from immune_recovery import riskfactors as rf
from immune_recovery import trajectories as tr
from immune_recovery.baseline import patient_table
from immune_recovery.classify import classify
from immune_recovery.cohort import Cohort
from immune_recovery.covariates import analysis_frame
from immune_recovery.definitions import load_catalogue, load_definitions_file
from immune_recovery.events import event_dates
from immune_recovery.paths import resolve
from immune_recovery.simcheck.coverage import population_truth, truth_population
from immune_recovery.simcheck.estimands import LATE_MONTH, LATE_THRESHOLD, LEVEL_DEFINITION
from immune_recovery.simulate import simulate_cohort

N, SEED = 30_000, 11


@pytest.fixture(scope="module")
def simulated():
    sim = simulate_cohort(N, SEED)
    cohort = Cohort.from_tables(sim.tables, name="issue-34")
    result = classify(cohort, [load_catalogue()[LEVEL_DEFINITION]])
    frame = analysis_frame(patient_table(cohort))
    long = tr.cd4_long(cohort, frame)
    truth = population_truth(truth_population(N, SEED)).set_index("estimand")["truth"]
    return cohort, result, frame, long, truth


@pytest.mark.slow
def test_confirmed_late_response_covers_the_truth_one_count_is_an_upper_bound(simulated):
    _, result, frame, long, truth = simulated
    early = lr.early_nonresponders(result, LEVEL_DEFINITION)
    table = lr.late_response(long, early, lr.death_years(frame), [LATE_THRESHOLD],
                             [LATE_MONTH], kaplan_meier=False).set_index("method")
    true = truth["late_ci_confirmed"] / 100
    confirmed, one = table.loc[lr.method_name(2)], table.loc[lr.method_name(1)]
    assert confirmed["ci_low"] <= true <= confirmed["ci_high"]
    assert one["ci_low"] > true  # the one-count figure excludes the truth from above
    assert confirmed["excluded_unconfirmed"] > 0


@pytest.mark.slow
def test_ipcw_treats_deaths_as_outside_and_covers_the_truth(simulated):
    cohort, result, frame, long, truth = simulated
    estimates, missing, spread = dropout.ipcw_frequency(result, LEVEL_DEFINITION, frame, long,
                                                        rna=dropout.rna_long(cohort))
    ipcw = estimates.set_index("method").loc["IPCW"]
    assert "last_log10_rna" in ipcw["covariates"]
    true = truth[f"freq_{LEVEL_DEFINITION}"] / 100
    assert ipcw["ci_low"] <= true <= ipcw["ci_high"]
    # the dead are counted apart, outside the population the assessed stand in for (the
    # weights were 14.9%, 14.3-15.4, when deaths counted as missing)
    status = missing.set_index("status")["patients"]
    assert status[dropout.DIED] > 0
    assert spread.loc[0, "n"] == status["assessed"]
    assert spread.loc[0, "mean"] == pytest.approx(1.0, abs=0.05)  # stabilized


@pytest.mark.slow
def test_simex_removes_most_of_the_baseline_counts_dilution(simulated):
    _, result, frame, _, truth = simulated
    data = rf.model_frame(result, LEVEL_DEFINITION, frame)
    table = rf.baseline_cd4_for_aetiology(data, ["cd4_per100", "age10"],
                                          rf.published_cv("CV11"), "CV11").set_index("use")
    measured, corrected = np.log(table.loc[list(rf.AETIOLOGY_USES), "estimate"])
    true = truth["log_or_cd4_per100"]
    assert abs(corrected - true) < 0.6 * abs(measured - true)
    assert corrected < measured < 0  # a stronger protective effect once corrected


def test_simex_recovers_a_known_coefficient():
    """Multiplicative log-normal error on a count with a known logistic effect."""
    rng = np.random.default_rng(4)
    n = 20_000
    true = np.exp(rng.normal(np.log(300), 0.6, n))
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.0 - 1.2 * true / 100 + 0.3 * z)))).astype(float)
    measured = true * np.exp(rng.normal(0, np.sqrt(np.log1p(0.25 ** 2)), n))
    fit = rf.simex(y, measured, z[:, None], cv=0.25)
    assert abs(fit["estimate"] + 1.2) < 0.5 * abs(fit["naive"] + 1.2)
    assert abs(fit["estimate"] + 1.2) < 2 * fit["se"]
    again = rf.simex(y, measured, z[:, None], cv=0.25)
    assert again == fit  # seeded


def test_actg175_endpoint_competes_and_bounds_bracket(actg175):
    cohort = actg175
    patients = patient_table(cohort)
    definition = load_definitions_file(resolve("params/definitions/actg175.yaml"))[
        "actg175_gain_lt50_w20"]
    result = classify(cohort, [definition])
    early = lr.early_nonresponders(result, definition.id)
    long = tr.cd4_long(cohort, patients)
    competing = lr.event_years(event_dates(cohort, patients, "endpoint"), patients)
    table = lr.late_response(long, early, competing, [350], [22]).set_index("method")
    confirmed = table.loc[lr.method_name(2, entry_confirmed=False)]  # no count before week 20
    assert confirmed["note"].startswith("not estimable")
    assert np.isnan(confirmed["cumulative_incidence"])
    one = table.loc[lr.method_name(1)]
    assert one["competing"] > 0  # the composite endpoint before the count
    bounds = lr.late_response_bounds(long, early, competing, [350], [22])
    bounds = bounds[bounds["definition"] == lr.method_name(1)].set_index("bound")
    assert bounds.loc["worst case", "proportion"] <= one["cumulative_incidence"] \
        <= bounds.loc["complete case", "proportion"]
    # patients seen at week 96 without crossing are observed: the complete case leaves out
    # only the endpoint and those with no count after week 20
    assert bounds.loc["complete case", "n_known"] > \
        one["n_start"] - one["censored"] - one["competing"]
    # the estimate the report showed before (the endpoint censored) is the complete-case share
    censored = lr.late_response(long, early, pd.Series(dtype=float), [350], [22],
                                kaplan_meier=False).set_index("method").loc[lr.method_name(1)]
    assert censored["cumulative_incidence"] > one["cumulative_incidence"]


def test_cpcra002_confirmed_figures_are_below_the_one_count_upper_bound(cpcra002):
    cohort = cpcra002
    patients = patient_table(cohort)
    definition = load_definitions_file(resolve("params/definitions/cpcra002.yaml"))[
        "cpcra002_below_baseline_m2"]
    result = classify(cohort, [definition])
    early = lr.early_nonresponders(result, definition.id)
    long = tr.cd4_long(cohort, patients)
    table = lr.late_response(long, early, lr.death_years(patients), [50, 100, 200], [18],
                             kaplan_meier=False)
    wide = table.pivot(index="threshold", columns="method", values="cumulative_incidence")
    confirmed = wide[lr.method_name(2, entry_confirmed=False)]  # the month-2 count is the first
    assert (confirmed < wide[lr.method_name(1)]).all()


@pytest.mark.slow
def test_late_response_runs_on_the_cohort_that_stopped_the_report(simulated):
    """lifelines' jittered Aalen-Johansen stopped the trajectories report on this cohort with
    'birth time must be less than time of death'."""
    _, result, frame, long, _ = simulated
    early = lr.early_nonresponders(result, LEVEL_DEFINITION)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        table = lr.late_response(long, early, lr.death_years(frame), [200, 350, 500],
                                 [12, 24, 36, 48, 60])
    assert table["cumulative_incidence"].notna().all()
