"""Outcome analyses against independent computations, a publication, and the simulator's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from scipy import stats

from immune_recovery import load_cohort, patient_table
from immune_recovery.baseline import rna_copies
from immune_recovery.conventions import BASELINE_WINDOW_DAYS, DAYS_PER_YEAR
from immune_recovery.covariates import analysis_frame
from immune_recovery.events import event_dates
from immune_recovery.intervals import exact_poisson_ci
from immune_recovery.outcomes import (
    CoxModel,
    incidence,
    landmark_data,
    time_varying_cox,
    time_varying_data,
)
from immune_recovery.simulate.truth import load_truth

from .conftest import require_dataset


@pytest.mark.parametrize("events", [0, 1, 7, 96])
def test_exact_poisson_limits_satisfy_their_definition(events):
    low, high = exact_poisson_ci(np.array([events]), np.array([1.0]))
    # Garwood: P(X >= k | low) = alpha/2 and P(X <= k | high) = alpha/2
    if events > 0:
        assert stats.poisson.sf(events - 1, low[0]) == pytest.approx(0.025, rel=1e-6)
    else:
        assert low[0] == 0
    assert stats.poisson.cdf(events, high[0]) == pytest.approx(0.025, rel=1e-6)


def test_incidence_counts_and_person_years():
    data = pd.DataFrame({"status": ["a", "a", "b"], "event": [1, 0, 1],
                         "time_years": [2.0, 3.0, 0.5]})
    table = incidence(data).set_index("group")
    assert table.loc["a", "events"] == 1 and table.loc["a", "person_years"] == 5.0
    assert table.loc["a", "rate_per_100py"] == 20.0
    assert table.loc["b", "rate_per_100py"] == 200.0


def test_landmark_excludes_earlier_events_and_counts_from_the_landmark(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir)
    patients = patient_table(cohort)
    status = pd.Series(["x", "x", "y", None], index=patients.index)
    # P2 died 2001-06-01, 457 days after T0; landmark at day 300: P2 enters, dies 157 d later
    data = landmark_data(cohort, patients, status, 300, event="death").set_index("PATIENT")
    assert list(data.index) == ["P1", "P2", "P3"]
    assert data.loc["P2", "event"] == 1
    assert data.loc["P2", "time_years"] == pytest.approx(157 / 365.25)
    assert data.attrs["exclusions"]["status_unknown"] == 1
    late = landmark_data(cohort, patients, status, 500, event="death")
    assert "P2" not in set(late["PATIENT"])
    assert late.attrs["exclusions"]["event_before_landmark"] == 1


def test_actg320_primary_analysis_matches_hammer_1997():
    """Hammer et al. N Engl J Med 1997;337:725-733: HR 0.50 (0.33-0.76), 63 vs 33 events."""
    cohort = load_cohort(require_dataset("actg320"))
    patients = analysis_frame(patient_table(cohort))
    data = landmark_data(cohort, patients, patients["arm"], 0, event="endpoint")
    rows = CoxModel(["arm"], "primary", {"arm": "2 NRTIs"}, strata=["cd4_stratum"]).fit(data).summary
    row = rows.iloc[0]
    assert round(row["estimate"], 2) == 0.50
    assert (round(row["ci_low"], 2), round(row["ci_high"], 2)) == (0.33, 0.76)
    events = data.groupby("status")["event"].sum().to_dict()
    assert events == {"2 NRTIs": 63, "2 NRTIs + IDV": 33}
    # the same model fitted directly with lifelines
    frame = pd.DataFrame({"idv": (data["status"] == "2 NRTIs + IDV").astype(float),
                          "T": data["time_years"], "E": data["event"],
                          "s": data["cd4_stratum"]})
    direct = CoxPHFitter().fit(frame, "T", "E", strata=["s"])
    assert row["estimate"] == pytest.approx(float(np.exp(direct.params_["idv"])), rel=1e-9)


def test_cox_model_agrees_with_statsmodels_phreg():
    cohort = load_cohort(require_dataset("actg175"))
    patients = analysis_frame(patient_table(cohort))
    data = landmark_data(cohort, patients, patients["arm"], 0, event="endpoint")
    rows = CoxModel(["cd4_per100", "age10"], "m").fit(data).summary
    frame = data[data["time_years"] > 0]
    phreg = smf.phreg("time_years ~ cd4_per100 + age10", data=frame,
                      status=frame["event"].to_numpy(), ties="efron").fit()
    assert np.log(rows["estimate"].to_numpy()) == pytest.approx(np.asarray(phreg.params), abs=1e-4)


def test_time_varying_cox_agrees_with_lifelines():
    cohort = load_cohort(require_dataset("cpcra002"))
    patients = analysis_frame(patient_table(cohort))
    intervals = time_varying_data(cohort, patients, event="death")
    ours = time_varying_cox(intervals, ["current_sqrt_cd4"], "tv")
    ctv = CoxTimeVaryingFitter().fit(intervals[["PATIENT", "start", "stop", "event",
                                                "current_sqrt_cd4"]],
                                     id_col="PATIENT", start_col="start", stop_col="stop",
                                     event_col="event")
    assert ours["estimate"].iloc[0] == pytest.approx(float(np.exp(ctv.params_.iloc[0])), rel=1e-3)
    assert ours["events"].iloc[0] == 188


def test_time_varying_intervals_cover_follow_up(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir)
    patients = patient_table(cohort)
    intervals = time_varying_data(cohort, patients, event="death").set_index("PATIENT")
    p1 = intervals.loc["P1"]
    # T0 2000-01-01: baseline 180 from day 4 applies from T0 (latest value within 180 d
    # before T0+7 is day 4's 180), then 260 from day 182 to the end of follow-up (2002-01-01)
    assert p1["start"].tolist() == [0.0, 4 / 365.25, 182 / 365.25]
    assert p1["stop"].iloc[-1] == pytest.approx(731 / 365.25)
    assert np.sqrt([150, 180, 260]) == pytest.approx(p1["current_sqrt_cd4"].to_numpy())
    assert intervals.loc["P2", "event"].max() == 1


def _reference_intervals(cohort, patients, event: str) -> pd.DataFrame:
    """What :func:`time_varying_data` gives, built the plain pandas way (sort, groupby
    forward-fill, groupby last, shift): the reference for the array version."""
    t0 = patients["t0"]
    when = event_dates(cohort, patients, event)
    ok = when.notna() & (when <= patients["followup_end"])
    end_years = ((when.where(ok, patients["followup_end"]) - t0).dt.days
                 / DAYS_PER_YEAR).to_numpy()
    cd4 = cohort.absolute_cd4()
    code = cd4["code"].to_numpy()
    marks = [pd.DataFrame({"code": code, "raw": ((cd4["CD4_D"] - t0.to_numpy()[code]).dt.days
                                                 / DAYS_PER_YEAR).to_numpy(),
                           "sqrt_cd4": np.sqrt(cd4["CD4_V"].to_numpy()), "viremic": np.nan})]
    if not cohort.rna.empty:
        rcode = cohort.codes("tblLAB_RNA")
        marks.append(pd.DataFrame({
            "code": rcode, "raw": ((cohort.rna["RNA_D"] - t0.to_numpy()[rcode]).dt.days
                                   / DAYS_PER_YEAR).to_numpy(),
            "sqrt_cd4": np.nan,
            "viremic": (rna_copies(cohort.rna["RNA_V"]).fillna(0) >= 400).astype(float)}))
    m = pd.concat(marks, ignore_index=True)
    keep = patients["baseline_cd4"].notna().to_numpy()[m["code"].to_numpy()]
    m = m[keep & (m["raw"] >= -BASELINE_WINDOW_DAYS[0] / DAYS_PER_YEAR)
          & (m["raw"] < end_years[m["code"].to_numpy()])]
    m = m.sort_values(["code", "raw"], kind="stable")
    m[["sqrt_cd4", "viremic"]] = m.groupby("code")[["sqrt_cd4", "viremic"]].ffill()
    m["start"] = m["raw"].clip(lower=0.0)
    m = m.groupby(["code", "start"], as_index=False, sort=True)[["sqrt_cd4", "viremic"]].last()
    m["viremic"] = m["viremic"].fillna(0.0)
    m = m.dropna(subset=["sqrt_cd4"])
    m = m[m.groupby("code")["start"].transform("min") == 0.0]
    m["stop"] = m.groupby("code")["start"].shift(-1)
    m["stop"] = m["stop"].fillna(pd.Series(end_years[m["code"].to_numpy()], index=m.index))
    m = m[m["stop"] > m["start"]]
    last = m.groupby("code")["stop"].transform("max") == m["stop"]
    return pd.DataFrame({
        "PATIENT": patients.index.to_numpy()[m["code"].to_numpy()],
        "start": m["start"].to_numpy(), "stop": m["stop"].to_numpy(),
        "event": (last.to_numpy() & ok.to_numpy()[m["code"].to_numpy()]).astype(int),
        "current_sqrt_cd4": m["sqrt_cd4"].to_numpy(),
        "current_viremic": m["viremic"].to_numpy().astype(int)})


@pytest.mark.parametrize("event", ["death", "ade_or_death"])
def test_time_varying_intervals_are_the_pandas_reference(small_cohort_dir, event):
    for path in (small_cohort_dir, require_dataset("synthetic")):
        cohort = load_cohort(path)
        patients = patient_table(cohort)
        pd.testing.assert_frame_equal(time_varying_data(cohort, patients, event),
                                      _reference_intervals(cohort, patients, event),
                                      check_exact=True)


@pytest.mark.slow
def test_time_varying_cox_recovers_the_simulated_ade_hazard():
    """ADE hazard in the simulator: log HR -0.08 per sqrt(CD4) and 0.1 per 10 years."""
    path = require_dataset("synthetic")
    cohort = load_cohort(path)
    patients = analysis_frame(patient_table(cohort))
    _, meta = load_truth(path)
    intervals = time_varying_data(cohort, patients, event="ade")
    table = time_varying_cox(intervals, ["current_sqrt_cd4", "current_viremic", "age10"], "tv",
                             patients).set_index("term")
    truth = meta["parameters"]
    for term, true in (("current_sqrt_cd4", truth["ade_per_sqrt_cd4"]),
                       ("age10", truth["ade_per_10y_age"])):
        low, high = np.log(table.loc[term, ["ci_low", "ci_high"]].astype(float))
        assert low <= true <= high, (term, low, high, true)
    # viremia measured every three months is attenuated, but in the right direction
    assert table.loc["current_viremic", "estimate"] > 1
