"""Time origin, follow-up and baseline values on a cohort whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from immune_recovery import load_cohort, patient_table


def test_time_origin_recart_then_first_art(small_cohort_dir):
    origin = load_cohort(small_cohort_dir).time_origin
    assert origin.loc["P1", "t0"] == pd.Timestamp("2000-01-01")
    assert origin.loc["P1", "t0_source"] == "RECART_D"
    # P3 has no RECART_D: earliest ART_SD
    assert origin.loc["P3", "t0"] == pd.Timestamp("2001-02-01")
    assert origin.loc["P3", "t0_source"] == "ART_SD"
    assert pd.isna(origin.loc["P4", "t0"]) and origin.loc["P4", "t0_source"] == ""


def test_followup_end_and_source(small_cohort_dir):
    fu = load_cohort(small_cohort_dir).followup
    assert fu.loc["P1", "followup_end"] == pd.Timestamp("2002-01-01")
    assert fu.loc["P1", "followup_source"] == "last_alive"
    assert fu.loc["P2", "followup_source"] == "death" and bool(fu.loc["P2", "died"])
    assert fu.loc["P2", "followup_end"] == pd.Timestamp("2001-06-01")
    assert fu.loc["P3", "followup_source"] == "drop_out" and bool(fu.loc["P3", "dropped_out"])
    # P4 has no records at all
    assert pd.isna(fu.loc["P4", "followup_end"])


def test_patient_table_baseline_values(small_cohort_dir):
    pt = patient_table(load_cohort(small_cohort_dir))
    # P1: counts at T0-31 (150) and T0+4 (180) -> 180 is closer; percent rows ignored
    assert pt.loc["P1", "baseline_cd4"] == 180
    assert pt.loc["P1", "baseline_cd4_date"] == pd.Timestamp("2000-01-05")
    # P2: 1999-01-01 is more than 180 days before T0; 2000-02-20 (T0-10) is used
    assert pt.loc["P2", "baseline_cd4"] == 120
    # P3: T0 2001-02-01, count 12 days before
    assert pt.loc["P3", "baseline_cd4"] == 300
    assert np.isnan(pt.loc["P4", "baseline_cd4"])
    assert pt.loc["P1", "baseline_rna"] == 100000
    assert pt.loc["P1", "baseline_log10_rna"] == 5.0
    assert pt.loc["P1", "baseline_cd4_band"] == "100-199"
    assert round(pt.loc["P1", "age"], 2) == round(
        (pd.Timestamp("2000-01-01") - pd.Timestamp("1960-01-01")).days / 365.25, 2)
    assert pt.loc["P1", "sex"] == "male" and pt.loc["P2", "sex"] == "female"
    assert pt.loc["P2", "prior_aids"] == True  # noqa: E712 (pandas boolean)
    assert pt.loc["P1", "prior_aids"] == False  # noqa: E712
    assert pd.isna(pt.loc["P3", "prior_aids"])
    assert pt.loc["P2", "followup_days"] == (pd.Timestamp("2001-06-01")
                                             - pd.Timestamp("2000-03-01")).days


def test_from_tables_validates_like_files(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir)
    tables = {k: cohort.tables[k].assign(PATIENT=cohort.tables[k]["PATIENT"].astype(str))
              for k in cohort.present}
    tables["tblLAB_CD4"] = pd.concat([tables["tblLAB_CD4"], pd.DataFrame(
        {"PATIENT": ["P1"], "CD4_D": [pd.Timestamp("2000-09-01")], "CD4_V": [9999.0],
         "CD4_U": pd.array([1], dtype="Int64")})], ignore_index=True)
    again = type(cohort).from_tables(tables, name="memory")
    assert again.ledger.entries["rule"].tolist() == ["CW001"]
    assert len(again.cd4) == len(cohort.cd4)
