"""'CD4 gain < 50 cells at week 20' on ACTG 175, checked by hand from the raw file."""

from __future__ import annotations

import pandas as pd

from immune_recovery import load_cohort
from immune_recovery.classify import classify
from immune_recovery.datasets import read_manifest
from immune_recovery.definitions import parse_definition

from .conftest import require_dataset

WEEK20 = parse_definition({"id": "gain_lt50_w20", "cd4_rule": "gain_lt", "cd4_threshold": 50,
                           "assessment_day": 140, "vl_rule": "none"})


def test_per_arm_proportions_match_the_raw_file():
    cohort = load_cohort(require_dataset("actg175"))
    out = classify(cohort, [WEEK20]).long()
    out["arm"] = out["PATIENT"].map(cohort.study.set_index(
        cohort.study["PATIENT"].astype(str))["ARM"])
    got = out.groupby("arm")["group"].apply(lambda g: (g == "cd4_nonresponder").mean())

    raw = pd.read_csv(read_manifest()["actg175"].raw_path)
    raw["arm"] = raw["arms"].map({0: "ZDV", 1: "ZDV+ddI", 2: "ZDV+ddC", 3: "ddI"})
    raw["nonresponder"] = (raw["cd420"] - raw["cd40"]) < 50
    want = raw.groupby("arm")["nonresponder"].mean()
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)
    assert (out["reason"] == "").all()  # every patient has both counts
