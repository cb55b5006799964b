"""Rates by current CD4 and the serious non-AIDS events behind them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery import patient_table
from immune_recovery.cohort import Cohort
from immune_recovery.events import event_dates
from immune_recovery.rates import rates_by_current_cd4, rates_by_relative_cd4


def _intervals():
    # patient A: 1 y at CD4 100, then 2 y at 400 with the event; B: 1 y at 400 viremic,
    # then 3 y at 900 suppressed, no event
    return pd.DataFrame({
        "PATIENT": ["A", "A", "B", "B"], "start": [0.0, 1.0, 0.0, 1.0],
        "stop": [1.0, 3.0, 1.0, 4.0], "event": [0, 1, 0, 0],
        "current_sqrt_cd4": np.sqrt([100.0, 400.0, 400.0, 900.0]),
        "current_viremic": [0, 0, 1, 0]})


def test_rates_by_current_cd4_split_person_time_and_count_events_where_they_happen():
    strata = {"<200": (0, 200), ">=350": (350, np.inf)}
    out = rates_by_current_cd4(_intervals(), strata, suppressed_only=False).set_index("stratum")
    assert out.loc["<200", "person_years"] == 1 and out.loc["<200", "events"] == 0
    assert out.loc[">=350", "person_years"] == 6 and out.loc[">=350", "events"] == 1
    assert out.loc[">=350", "rate_per_100py"] == pytest.approx(100 / 6)
    assert out.loc[">=350", "ci_low"] < 100 / 6 < out.loc[">=350", "ci_high"]
    suppressed = rates_by_current_cd4(_intervals(), strata).set_index("stratum")
    assert suppressed.loc[">=350", "person_years"] == 5  # B's viremic year left out


def test_relative_status_against_the_baseline():
    base = pd.Series({"A": 300.0, "B": 350.0})
    out = rates_by_relative_cd4(_intervals(), base, 1.2).set_index("stratum")
    # A: 100 < 360 and 400 >= 360; B: 900 >= 420 (viremic year left out)
    assert out.loc["below", "person_years"] == 1 and out.loc["below", "events"] == 0
    assert out.loc["at_or_above", "person_years"] == 5 and out.loc["at_or_above", "events"] == 1


def test_serious_non_aids_events_and_the_clinical_composite():
    tables = {
        "tblBAS": pd.DataFrame({"PATIENT": ["1", "2", "3"], "BIRTH_D": ["1970-01-01"] * 3,
                                "RECART_D": ["2010-01-01"] * 3}),
        "tblLAB_CD4": pd.DataFrame({"PATIENT": ["1", "2", "3"], "CD4_D": ["2010-01-01"] * 3,
                                    "CD4_V": [200, 300, 400], "CD4_U": [1, 1, 1]}),
        "tblCEP": pd.DataFrame({"PATIENT": ["1", "1", "2", "3"],
                                "CEP_ID": ["AMI", "STR", "XYZ", "NADM"],
                                "CEP_D": ["2012-05-01", "2011-03-01", "2011-01-01",
                                          "2009-06-01"]}),
        "tblDIS": pd.DataFrame({"PATIENT": ["2"], "DIS_ID": ["PCP"], "DIS_D": ["2013-01-01"]}),
        "tblLTFU": pd.DataFrame({"PATIENT": ["1", "2", "3"], "DEATH_Y": [1, 0, 0],
                                 "DEATH_D": ["2011-06-01", None, None],
                                 "L_ALIVE_D": [None, "2015-01-01", "2015-01-01"]}),
    }
    cohort = Cohort.from_tables(tables, close_date="2020-01-01")
    patients = patient_table(cohort)
    snae = event_dates(cohort, patients, "snae")
    assert snae["1"] == pd.Timestamp("2011-03-01")  # the earliest serious non-AIDS event
    assert pd.isna(snae["2"])  # XYZ is not a serious non-AIDS code
    assert pd.isna(snae["3"])  # before T0
    clinical = event_dates(cohort, patients, "clinical")
    assert clinical["1"] == pd.Timestamp("2011-03-01")  # the event came before death
    assert len(cohort.cep) == 3  # the AMI after death went to the ledger (ATC001)
    assert clinical["2"] == pd.Timestamp("2013-01-01")
