"""Cohort overview tables against independent computations on the raw source files."""

from __future__ import annotations

import numpy as np
import pandas as pd

from immune_recovery import load_cohort, patient_table
from immune_recovery.datasets import read_manifest
from immune_recovery.datasets.actg320 import read_arff
from immune_recovery.overview import (
    cd4_summary,
    cd4_visits,
    followup_summary,
    table_one,
    table_one_frame,
)

from .conftest import require_dataset


def test_actg320_followup_and_events_match_the_raw_file():
    cohort = load_cohort(require_dataset("actg320"))
    pt = patient_table(cohort)
    summary = followup_summary(cohort, pt).set_index("group")
    raw = read_arff(read_manifest()["actg320"].raw_path)
    raw["arm"] = raw["tx"].map({0: "2 NRTIs", 1: "2 NRTIs + IDV"})
    for arm, part in raw.groupby("arm"):
        assert summary.loc[arm, "patients"] == len(part)
        assert summary.loc[arm, "endpoint_events"] == int(part["censor"].sum())
        assert summary.loc[arm, "deaths"] == int(part["censor_d"].sum())
        # person-years from the raw follow-up days (nominal dates round half days up)
        assert abs(summary.loc[arm, "person_years"] - part["time_d"].sum() / 365.25) < 0.1
    assert summary.loc["overall", "endpoint_events"] == 96
    assert summary.loc["overall", "aids_events"] == 79


def test_table_one_counts_by_arm():
    cohort = load_cohort(require_dataset("actg175"))
    frame = table_one_frame(table_one(patient_table(cohort), groupby="arm"))
    n_row = frame[frame["variable"] == "n"].iloc[0]
    assert [int(n_row[a]) for a in ("ZDV", "ZDV+ddI", "ZDV+ddC", "ddI")] == [532, 522, 524, 561]
    assert int(n_row["Overall"]) == 2139


def test_cd4_visits_on_the_small_cohort(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir)
    pt = patient_table(cohort)
    visits = cd4_visits(cohort, pt, group="sex")
    # 8 absolute counts; P1's count 31 days before T0 is month -1
    assert len(visits) == 8
    p1 = visits[visits["PATIENT"] == "P1"].sort_values("days")
    assert p1["days"].tolist() == [-31, 4, 182]
    assert p1["month"].tolist() == [-1, 0, 6]
    summary = cd4_summary(visits)
    male_month0 = summary[(summary["group"] == "male") & (summary["month"] == 0)].iloc[0]
    # P1 (180, day 4) and P3 (300, day -12)
    assert male_month0["n"] == 2 and male_month0["median"] == 240


def test_cpcra002_cd4_medians_match_the_source():
    cohort = load_cohort(require_dataset("cpcra002"))
    pt = patient_table(cohort)
    summary = cd4_summary(cd4_visits(cohort, pt)).set_index(["group", "month"])
    raw = pd.read_pickle(read_manifest()["cpcra002"].raw_path)
    raw["cd4"] = np.floor(raw["num_CD4"].astype(float) ** 2 + 0.5)
    raw["drug"] = raw["fac_drug"].astype(str)
    for (drug, month), part in raw.groupby(["drug", "time"], observed=True):
        assert summary.loc[(drug, int(month)), "n"] == len(part)
        assert summary.loc[(drug, int(month)), "median"] == part["cd4"].median()
