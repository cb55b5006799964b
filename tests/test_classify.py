"""The classification contract, one rule per test, on tiny cohorts with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery import load_cohort
from immune_recovery.classify import classify
from immune_recovery.definitions import parse_definition

from .cohorts import make_cohort


def d(**entry) -> object:
    entry.setdefault("id", "x")
    entry.setdefault("vl_rule", "none")
    return parse_definition(entry)


def run(cohort, definition) -> pd.DataFrame:
    return classify(cohort, [definition]).long().set_index("PATIENT")


GAIN50_M6 = dict(cd4_rule="gain_lt", cd4_threshold=50, assessment_month=6)


def test_time_origin_is_recart_then_first_art(tmp_path):
    cohort = make_cohort(tmp_path, ["A", "B"], t0={"A": 0, "B": None}, art=[("B", 10)],
                         cd4=[("A", 0, 100), ("A", 183, 200), ("B", 10, 100), ("B", 193, 120)])
    out = run(cohort, d(**GAIN50_M6))
    assert out.loc["A", "assessed_date"] == pd.Timestamp("2000-07-02")  # day 183
    assert out.loc["B", "baseline_date"] == pd.Timestamp("2000-01-11")  # T0 = first ART_SD
    assert out.loc["B", "gain"] == 20 and out.loc["B", "group"] == "cd4_nonresponder"


def test_only_absolute_counts_are_used(tmp_path):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 1, 15, 2), ("A", 183, 25, 2),
                                              ("A", 180, 300)])
    out = run(cohort, d(**GAIN50_M6))
    assert out.loc["A", "baseline_cd4"] == 100 and out.loc["A", "assessed_cd4"] == 300


@pytest.mark.parametrize(("days", "expected"), [
    ([-180, 8], -180),   # window is [T0-180, T0+7]: day 8 is outside
    ([-181, 8], None),
    ([-5, 5], -5),       # tie: the earlier date
    ([-30, 7], 7),
])
def test_baseline_window_and_tie(tmp_path, days, expected):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", x, 100 + i) for i, x in enumerate(days)]
                         + [("A", 183, 500)])
    out = run(cohort, d(**GAIN50_M6))
    if expected is None:
        assert out.loc["A", "reason"] == "no_baseline_cd4"
        assert out.loc["A", "group"] == "not_assessable"
    else:
        assert out.loc["A", "baseline_date"] == pd.Timestamp("2000-01-01") + pd.Timedelta(
            days=expected)


@pytest.mark.parametrize(("month", "target"), [(6, 183), (2, 61), (8, 244), (12, 365)])
def test_assessment_target_rounds_half_up(tmp_path, month, target):
    # one count exactly on the target, others one day either side
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", target - 1, 201),
                                              ("A", target, 202), ("A", target + 1, 203)])
    out = run(cohort, d(cd4_rule="level_lt", cd4_threshold=100, assessment_month=month))
    assert out.loc["A", "assessed_cd4"] == 202


@pytest.mark.parametrize(("month", "offset", "found"), [
    (12, 45, True), (12, 46, False), (13, 90, True), (13, 91, False)])
def test_default_window_is_45_then_90_days(tmp_path, month, offset, found):
    target = int(np.floor(month * 30.4375 + 0.5))
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", target + offset, 300)])
    out = run(cohort, d(cd4_rule="level_lt", cd4_threshold=100, assessment_month=month))
    assert (out.loc["A", "reason"] == "") is found


def test_assessment_tie_goes_to_the_earlier_count(tmp_path):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 173, 120), ("A", 193, 400)])
    out = run(cohort, d(**GAIN50_M6))
    assert out.loc["A", "assessed_cd4"] == 120 and out.loc["A", "group"] == "cd4_nonresponder"


def test_window_set_by_the_definition(tmp_path):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 183 + 60, 400)])
    assert run(cohort, d(**GAIN50_M6))["reason"].iloc[0] == "no_cd4_at_assessment"
    assert run(cohort, d(**GAIN50_M6, window_days=60))["reason"].iloc[0] == ""


@pytest.mark.parametrize(("rule", "threshold", "assessed", "nonresponse"), [
    ("gain_lt", 50, 150, False),   # gain exactly 50
    ("gain_le", 50, 150, True),
    ("level_lt", 200, 200, False),
    ("level_le", 200, 200, True),
    ("rel_gain_lt", 30, 129, True),   # +29%
    ("rel_gain_lt", 30, 130, False),  # +30%
    ("below_baseline", None, 99, True),
    ("below_baseline", None, 100, False),
])
def test_cd4_rules(tmp_path, rule, threshold, assessed, nonresponse):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 183, assessed)])
    entry = dict(cd4_rule=rule, assessment_month=6)
    if threshold is not None:
        entry["cd4_threshold"] = threshold
    out = run(cohort, d(**entry))
    assert out.loc["A", "group"] == ("cd4_nonresponder" if nonresponse else "cd4_responder")


def test_never_above_looks_from_t0_through_the_assessed_count(tmp_path):
    cd4 = [("A", -100, 600), ("A", 0, 100), ("A", 183, 300),  # 600 before T0 does not count
           ("B", 0, 100), ("B", 90, 520), ("B", 183, 300),    # above 500 in between
           ("C", 0, 100), ("C", 170, 300), ("C", 200, 900)]   # 900 after the assessed count
    cohort = make_cohort(tmp_path, ["A", "B", "C"], cd4=cd4)
    out = run(cohort, d(cd4_rule="never_above", cd4_threshold=500, assessment_month=6))
    assert out["group"].tolist() == ["cd4_nonresponder", "cd4_responder", "cd4_nonresponder"]


def test_all_of_and_any_of(tmp_path):
    cohort = make_cohort(tmp_path, ["A", "B"], cd4=[("A", 0, 100), ("A", 365, 120),
                                                    ("B", 0, 300), ("B", 365, 320)])
    both = [{"cd4_rule": "rel_gain_lt", "cd4_threshold": 30},
            {"cd4_rule": "level_lt", "cd4_threshold": 200}]
    out_all = run(cohort, d(all_of=both, assessment_month=12))
    out_any = run(cohort, d(any_of=both, assessment_month=12))
    assert out_all["group"].tolist() == ["cd4_nonresponder", "cd4_responder"]
    assert out_any["group"].tolist() == ["cd4_nonresponder", "cd4_nonresponder"]


def test_zero_baseline_with_a_relative_rule(tmp_path):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 0), ("A", 183, 50)])
    out = run(cohort, d(cd4_rule="rel_gain_lt", cd4_threshold=20, assessment_month=6))
    assert out.loc["A", "reason"] == "zero_baseline"
    assert run(cohort, d(**GAIN50_M6)).loc["A", "reason"] == ""


VL_AT = dict(vl_rule="at_assessment", vl_cutoff=400)


@pytest.mark.parametrize(("rna", "suppressed", "reason"), [
    ([(170, 100000), (183, 399)], True, ""),
    ([(183, 400)], False, ""),          # 400 is not below 400
    ([(183, -50)], True, ""),           # <50: below 400
    ([(183, -1)], True, ""),            # undetectable, limit unknown: counts as below
    ([(183, -500)], None, "rna_limit_above_cutoff"),
    ([(173, 50000), (193, -50)], False, ""),  # tie: the earlier result
    ([(240, -50)], None, "no_rna"),      # outside the +/-45 day window
])
def test_viral_load_at_assessment(tmp_path, rna, suppressed, reason):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 183, 400)],
                         rna=[("A", *r) for r in rna])
    out = run(cohort, d(**GAIN50_M6, **VL_AT))
    assert out.loc["A", "reason"] == reason
    assert out.loc["A", "vl_rule_applied"]
    if suppressed is None:
        assert pd.isna(out.loc["A", "suppressed"]) and out.loc["A", "group"] == "not_assessable"
    else:
        assert out.loc["A", "suppressed"] == suppressed
        assert out.loc["A", "group"] == ("complete_responder" if suppressed
                                         else "virologic_nonresponder")


SUSTAINED = dict(vl_rule="sustained", vl_cutoff=50, vl_sustained_from_month=3)


@pytest.mark.parametrize(("rna", "suppressed", "reason"), [
    ([(0, 90000), (91, -50), (183, 20), (228, -50)], True, ""),  # day 0 is before month 3
    ([(91, -50), (150, 80), (183, -50)], False, ""),             # one result above
    ([(91, -50), (229, 5000)], True, ""),                        # after the window end
    ([(0, 90000)], None, "no_rna"),                              # nothing from month 3
    ([(91, -400), (183, -50)], None, "rna_limit_above_cutoff"),
    ([(91, -400), (183, 70)], False, ""),                        # clearly above wins
])
def test_viral_load_sustained(tmp_path, rna, suppressed, reason):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 183, 100)],
                         rna=[("A", *r) for r in rna])
    out = run(cohort, d(**GAIN50_M6, **SUSTAINED))
    assert out.loc["A", "reason"] == reason
    if suppressed is not None:
        assert out.loc["A", "suppressed"] == suppressed
        assert out.loc["A", "group"] == ("immunologic_nonresponder" if suppressed
                                         else "complete_nonresponder")


def test_reasons_come_in_contract_order(tmp_path):
    cohort = make_cohort(
        tmp_path, ["NB", "NA", "Z", "NR", "LIM"],
        cd4=[("NA", 0, 100), ("Z", 0, 0), ("Z", 183, 10), ("NR", 0, 100), ("NR", 183, 100),
             ("LIM", 0, 100), ("LIM", 183, 100)],
        rna=[("Z", 400, -1), ("LIM", 183, -400)])
    out = run(cohort, d(cd4_rule="rel_gain_lt", cd4_threshold=20, assessment_month=6,
                        vl_rule="at_assessment", vl_cutoff=50))
    assert out["reason"].tolist() == ["no_baseline_cd4", "no_cd4_at_assessment",
                                      "zero_baseline", "no_rna", "rna_limit_above_cutoff"]


def test_four_groups_with_a_viral_load_rule(tmp_path):
    cd4 = [(p, 0, 100) for p in "ABCD"] + [("A", 183, 300), ("B", 183, 120), ("C", 183, 300),
                                            ("D", 120 + 63, 110)]
    rna = [("A", 183, -50), ("B", 183, -50), ("C", 183, 9000), ("D", 183, 9000)]
    cohort = make_cohort(tmp_path, list("ABCD"), cd4=cd4, rna=rna)
    out = run(cohort, d(**GAIN50_M6, **VL_AT))
    assert out["group"].tolist() == ["complete_responder", "immunologic_nonresponder",
                                     "virologic_nonresponder", "complete_nonresponder"]


def test_without_rna_table_the_vl_rule_is_not_applied(tmp_path):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 183, 120)])
    out = run(cohort, d(**GAIN50_M6, **VL_AT))
    assert not out.loc["A", "vl_rule_applied"]
    assert out.loc["A", "group"] == "cd4_nonresponder"
    assert pd.isna(out.loc["A", "suppressed"])


def test_output_columns_and_cli_contract(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir)
    out = classify(cohort, [d(**GAIN50_M6, **VL_AT)]).long()
    for column in ("PATIENT", "definition", "baseline_cd4", "baseline_date", "assessed_cd4",
                   "assessed_date", "gain", "suppressed", "vl_rule_applied", "group", "reason"):
        assert column in out
    assert len(out) == cohort.n_patients


# -- confirmation by consecutive counts ------------------------------------------------------

CONFIRMED = dict(cd4_rule="level_lt", cd4_threshold=200, assessment_month=6, confirm_counts=2)


@pytest.mark.parametrize(("later", "group", "reason"), [
    ([(300, 150)], "cd4_nonresponder", ""),               # next count 117 d later, below
    ([(300, 250)], "cd4_responder", ""),                  # next count above: not confirmed
    ([], "not_assessable", "no_confirmatory_cd4"),        # no later count
    ([(183 + 191, 150)], "not_assessable", "no_confirmatory_cd4"),  # gap 191 > 190 days
    ([(183 + 190, 150)], "cd4_nonresponder", ""),         # gap exactly 190: confirms
])
def test_confirmation_needs_the_next_count(tmp_path, later, group, reason):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 183, 150)]
                         + [("A", day, v) for day, v in later])
    out = run(cohort, d(**CONFIRMED))
    assert out.loc["A", "group"] == group
    assert out.loc["A", "reason"] == reason


def test_responder_needs_no_confirmation(tmp_path):
    cohort = make_cohort(tmp_path, ["A"], cd4=[("A", 0, 100), ("A", 183, 250)])
    assert run(cohort, d(**CONFIRMED)).loc["A", "group"] == "cd4_responder"


def test_three_counts_and_gain_rule(tmp_path):
    # gain < 50 on the assessed and the next two counts, against the same baseline
    cohort = make_cohort(tmp_path, ["A", "B"], cd4=[
        ("A", 0, 100), ("A", 183, 120), ("A", 270, 130), ("A", 360, 149),
        ("B", 0, 100), ("B", 183, 120), ("B", 270, 130), ("B", 360, 150)])
    out = run(cohort, d(cd4_rule="gain_lt", cd4_threshold=50, assessment_month=6,
                        confirm_counts=3))
    assert out.loc["A", "group"] == "cd4_nonresponder"
    assert out.loc["B", "group"] == "cd4_responder"


def test_confirmation_is_rejected_when_not_whole():
    from immune_recovery.exceptions import DefinitionError

    with pytest.raises(DefinitionError, match="confirm_counts"):
        d(**{**CONFIRMED, "confirm_counts": 1.5})
