"""Late response as a competing-risks question: at-risk set, crossings, Aalen-Johansen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery import lateresponse as lr


def aalen_johansen_by_hand(entry, time, cause, t) -> float:
    """Independent Aalen-Johansen CIF of cause 1 at t: tied times aggregated, censoring after
    events at the same time, delayed entry (at risk from entry, exclusive)."""
    entry, time, cause = map(np.asarray, (entry, time, cause))
    survival, cif = 1.0, 0.0
    for u in np.unique(time[(cause > 0) & (time <= t)]):
        at_risk = ((entry < u) & (time >= u)).sum()
        d1 = ((time == u) & (cause == 1)).sum()
        d_all = ((time == u) & (cause > 0)).sum()
        cif += survival * d1 / at_risk
        survival *= 1 - d_all / at_risk
    return cif


def toy():
    # early non-responders assessed at 0.5 y. A crosses 350 at 1.0; B dies at 0.8; C is
    # censored at 0.9; D was already above 350 at the assessment; E crosses at 2.0 but only on a
    # single count followed by a lower one
    long = pd.DataFrame({"PATIENT": ["A", "A", "A", "C", "D", "E", "E", "E"],
                         "years": [0.5, 1.0, 1.2, 0.9, 1.0, 1.5, 2.0, 2.4],
                         "cd4": [150, 400, 420, 200, 500, 300, 360, 300]})
    early = pd.DataFrame({"start_years": 0.5, "assessed_cd4": [150, 180, 200, 380, 250]},
                         index=["A", "B", "C", "D", "E"])
    death = pd.Series({"B": 0.8})
    return long, early, death


def test_at_risk_set_excludes_patients_already_above():
    long, early, death = toy()
    data = lr.competing_risks_data(long, early, death, 350)
    assert list(data.index) == ["A", "B", "C", "E"]
    assert data.attrs["already_above"] == 1
    assert data.loc["A", "cause"] == lr.CROSSED and data.loc["A", "time"] == 1.0
    assert data.loc["B", "cause"] == lr.DIED and data.loc["B", "time"] == 0.8
    assert data.loc["C", "cause"] == lr.CENSORED and data.loc["C", "time"] == 0.9
    assert data.loc["E", "cause"] == lr.CROSSED and data.loc["E", "time"] == 2.0


def test_confirmation_needs_two_consecutive_counts_above():
    long, early, death = toy()
    crossed = lr.crossing_times(long, early, 350, confirm=2)
    assert crossed["A"] == 1.0
    assert np.isnan(crossed["E"])  # one count above, then a lower one


def test_confirmed_entry_needs_the_on_art_count_before_the_assessment_low_too():
    """Entry on two counts: the assessed count and the on-ART count before it, both at or
    below the threshold and close enough; a pre-ART count (years <= 0) does not confirm."""
    early = pd.DataFrame({"start_years": 1.0, "assessed_cd4": [180, 190, 150, 170]},
                         index=["A", "B", "C", "D"])
    long = pd.DataFrame({"PATIENT": ["A", "A", "B", "B", "C", "C", "D", "D"],
                         "years": [0.5, 1.0, 0.5, 1.0, 0.0, 1.0, 0.2, 1.0],
                         "cd4": [160, 180, 260, 190, 100, 150, 120, 170]})
    low = lr.confirmed_low(long, early, 200, confirm=2)
    # A: both low; B: the count before is above; C: only a pre-ART count; D: 0.8 y apart
    assert low.to_dict() == {"A": True, "B": False, "C": False, "D": False}
    data = lr.competing_risks_data(long, early, pd.Series(dtype=float), 200, confirm=2)
    assert list(data.index) == ["A"] and data.attrs["excluded_unconfirmed"] == 3


def test_confirmed_rows_say_not_estimable_where_no_count_can_confirm_never_zero():
    """ACTG 175's shape: one count after the assessment. The confirmed estimate is not 0, it
    is not estimable; the one-count row is labelled an upper bound."""
    early = pd.DataFrame({"start_years": 0.38, "assessed_cd4": [300, 320]}, index=["A", "B"])
    long = pd.DataFrame({"PATIENT": ["A", "A", "B", "B"], "years": [0.3, 0.38, 0.3, 0.38],
                         "cd4": [290, 300, 310, 320]})
    long = pd.concat([long, pd.DataFrame({"PATIENT": ["A", "B"], "years": [1.84, 1.84],
                                          "cd4": [400, 200]})], ignore_index=True)
    table = lr.late_response(long, early, pd.Series(dtype=float), [350], [22],
                             kaplan_meier=False).set_index("method")
    confirmed = table.loc[lr.method_name(2)]
    assert np.isnan(confirmed["cumulative_incidence"])
    assert confirmed["note"].startswith("not estimable") and "confirmed crossing" in confirmed["note"]
    upper = table.loc[lr.method_name(1)]
    assert "upper bound" in lr.method_name(1) and upper["cumulative_incidence"] == 0.5


def test_bounds_bracket_missing_follow_up_and_treat_competing_events_as_non_crossers():
    """Complete case: crossed / observed by the month (competing events and losses left out);
    worst case: crossed / all at risk. ACTG 175's issue: 91/511 vs 91/872."""
    long, early, death = toy()
    bounds = lr.late_response_bounds(long, early, death, [350], [30], confirm=1)
    row = bounds.set_index("bound")
    # at risk A, B, C, E: A and E cross by 30 months, B died first, C censored at 0.9
    assert row.loc["complete case", ["crossings", "n_known"]].tolist() == [2, 2]
    assert row.loc["worst case", ["crossings", "n_known"]].tolist() == [2, 4]
    assert row.loc["worst case", "proportion"] < row.loc["complete case", "proportion"]


def test_table_counts_and_estimate_by_hand():
    long, early, death = toy()
    table = lr.late_response(long, early, death, [350], [12, 30], confirm=1) \
        .set_index(["method", "month"])
    row = table.loc[(lr.method_name(1), 12)]
    assert (row["n_start"], row["already_above"], row["crossings"], row["competing"],
            row["censored"]) == (4, 1, 1, 1, 1)
    # B dies at 0.8 (4 at risk), C censored at 0.9, A crosses at 1.0 with A and E at risk:
    # CIF = (1 - 1/4) * 1/2
    assert row["cumulative_incidence"] == pytest.approx(0.375, abs=1e-6)
    assert row["ci_low"] < 0.375 < row["ci_high"]
    # the naive Kaplan-Meier counts D (already above) as crossing and censors B's death
    naive = table.loc[(lr.NAIVE, 12)]
    assert naive["n_start"] == 5 and naive["cumulative_incidence"] > 0.375


def test_aalen_johansen_agrees_with_an_independent_computation():
    rng = np.random.default_rng(7)
    n = 400
    entry = np.round(rng.uniform(0.3, 0.6, n), 2)  # ties at entry, and entries at event times
    time = np.round(entry + rng.exponential(1.0, n), 2) + 0.01  # ties of events on purpose
    cause = rng.choice([0, 1, 2], n, p=[0.4, 0.35, 0.25])
    data = pd.DataFrame({"entry": entry, "time": time, "cause": cause})
    fit = lr.aalen_johansen(data)
    for t in (0.8, 1.5, 3.0):  # exact now: ties are handled, not jittered
        package = fit.at(t)[0]
        assert package == pytest.approx(aalen_johansen_by_hand(entry, time, cause, t), abs=1e-12)


def test_cpcra002_late_response_against_an_independent_computation(cpcra002):
    """From the HICDEP tables directly: early non-responders (month-2 count below baseline),
    those at or below 100 at month 2, their first later count above 100, death competing."""
    from immune_recovery import trajectories as tr
    from immune_recovery.baseline import patient_table
    from immune_recovery.classify import classify
    from immune_recovery.definitions import load_definitions_file
    from immune_recovery.paths import resolve

    cohort = cpcra002
    patients = patient_table(cohort)
    definition = load_definitions_file(resolve("params/definitions/cpcra002.yaml"))[
        "cpcra002_below_baseline_m2"]
    result = classify(cohort, [definition])
    early = lr.early_nonresponders(result, definition.id)
    long = tr.cd4_long(cohort, patients)
    table = lr.late_response(long, early, lr.death_years(patients), [100], [18],
                             confirm=1, kaplan_meier=False).iloc[0]
    entry, time, cause, above = [], [], [], 0
    for pid, row in early.iterrows():
        if row["assessed_cd4"] > 100:
            above += 1
            continue
        counts = long[(long["PATIENT"] == pid) & (long["years"] > row["start_years"])]
        crossing = counts.loc[counts["cd4"] > 100, "years"].min()
        died = patients.loc[pid, "death_date"]
        death = (died - patients.loc[pid, "t0"]).days / 365.25 if pd.notna(died) else np.nan
        entry.append(row["start_years"])
        if crossing == crossing:
            time.append(crossing), cause.append(1)
        elif death == death:
            time.append(death), cause.append(2)
        else:
            time.append(max(counts["years"].max() if len(counts) else row["start_years"],
                            row["start_years"])), cause.append(0)
    assert table["already_above"] == above and table["n_start"] == len(entry)
    t = 18 / 12 + 0.5 / 12
    expected = aalen_johansen_by_hand(entry, time, cause, t)
    assert table["cumulative_incidence"] == pytest.approx(expected, abs=1e-12)
    assert table["competing"] == sum(c == 2 and u <= t for c, u in zip(cause, time))
    assert table["crossings"] == sum(c == 1 and u <= t for c, u in zip(cause, time))


def test_a_curve_lifelines_refuses_is_reported_not_raised():
    """With delayed entry the first entrant crosses before anyone else enters: the
    product-limit curve is zero from then on and lifelines raises StatError. The table says
    so in ``note`` and leaves the estimate empty instead of failing the report."""
    from immune_recovery.lateresponse import NOT_ESTIMABLE, late_response

    early = pd.DataFrame({"start_years": [0.9, 1.0, 1.05], "assessed_cd4": [150, 160, 170]},
                         index=["A", "B", "C"])
    long = pd.DataFrame({"PATIENT": ["A", "A", "B", "B", "C", "C"],
                         "years": [0.9, 0.95, 1.0, 1.5, 1.05, 2.0],
                         "cd4": [150, 250, 160, 180, 170, 260]})
    table = late_response(long, early, pd.Series(dtype=float), [200], [12, 24], confirm=1)
    assert len(table) == 4
    assert (table["note"] == NOT_ESTIMABLE).all()
    assert table["cumulative_incidence"].isna().all()
    assert table.loc[table["method"] == lr.method_name(1), "crossings"].tolist() == [1, 2]


def test_a_patient_last_seen_within_the_month_is_known_not_to_have_crossed():
    """ACTG 175's shape: the last count (week 96, 22.1 months) is read as month 22 (up to
    22.5). A patient seen then without crossing is known, not missing, for the complete case;
    one last seen months earlier is not."""
    early = pd.DataFrame({"start_years": 0.38, "assessed_cd4": [300, 310, 320]},
                         index=["A", "B", "C"])
    long = pd.DataFrame({"PATIENT": ["A", "B", "C"], "years": [1.84, 1.84, 1.0],
                         "cd4": [400, 300, 300]})
    bounds = lr.late_response_bounds(long, early, pd.Series(dtype=float), [350], [22],
                                     confirm=1).set_index("bound")
    assert bounds.loc["complete case", ["crossings", "n_known"]].tolist() == [1, 2]
    assert bounds.loc["worst case", "n_known"] == 3


def test_no_early_nonresponder_gives_not_estimable_rows_not_an_error():
    long, early, death = toy()
    table = lr.late_response(long, early.iloc[:0], death.iloc[:0], [350], [12])
    assert len(table) and table["cumulative_incidence"].isna().all()
    assert table["note"].astype(str).str.startswith("not estimable").all()
    assert set(table["note"]) >= {lr.NO_ONE_AT_RISK}


def test_counts_sorted_once_are_the_counts_sorted_each_time():
    """The late-response tables sort the count history once (``_Counts``); every subset read
    from it is what sorting ``long`` for that subset gives (ties in time keep their order)."""
    rng = np.random.default_rng(3)
    n = 4000
    long = pd.DataFrame({"PATIENT": rng.choice([f"p{i}" for i in range(300)], n),
                         "years": rng.integers(0, 40, n) / 4, "cd4": rng.normal(300, 80, n)})
    ids = pd.Index(sorted(set(long["PATIENT"]))[::2])
    held = lr._Counts(long, ids)
    for subset in (ids, ids[::3], ids[:0], pd.Index(["p0", "nobody"])):
        subset = subset[subset.isin(ids)]
        for got, expected in zip(lr._sorted(held, subset), lr._sorted(long, subset),
                                 strict=True):
            np.testing.assert_array_equal(got, expected)
