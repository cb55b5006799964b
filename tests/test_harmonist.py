"""Golden test on the IeDEA Harmonist sample data set (tests/data/harmonist-sample/, MIT):
each of its intentional errors that the HICDEP rules cover is found, by table, rule and
patient, and the data-quality report builds although the export has no tblLAB_CD4."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from immune_recovery import load_cohort, quality
from immune_recovery.cli import main

SAMPLE = Path(__file__).parent / "data" / "harmonist-sample"
CLOSE = "2026-01-01"

#: (outcome, table, rule) -> the patients whose rows break it, read off the sample's files.
EXPECTED = {
    # tblART: stop dates before start dates (1999 < 2001; 2003 < 2008)
    ("excluded", "tblART", "IR-ART-2"): {"9004", "100", "101", "102", "103", "100900"},
    # tblART: the row of x's (no drug, no start date)
    ("excluded", "tblART", "IR-ART-1"): {"124"},
    # tblLTFU: death before birth (2000-01-01 against births 2000-01-02 and 2000-01-12)
    ("excluded", "tblLTFU", "ATC003"): {"100", "110"},
    # tblLTFU: DEATH_Y = 9 (not 0/1)
    ("excluded", "tblLTFU", "IR-LTFU-3"): {"101", "111", "112", "113", "114", "115"},
    # tblLTFU: died (DEATH_Y 1) with an unreadable death date 'x'
    ("excluded", "tblLTFU", "IR-LTFU-4"): {"105"},
    # tblBAS: AIDS_Y = 8
    ("flagged", "tblBAS", "IR-BAS-4"): {"100"},
    # tblBAS: MODE left blank
    ("flagged", "tblBAS", "IR-BAS-7"): {"114", "125", "126", "128", "139"},
    # tblBAS: AIDS_D before BIRTH_D
    ("flagged", "tblBAS", "IR-DATE-5"): {"100", "102", "103", "104"},
    # date precision codes that are not HICDEP's (N, x, q, X)
    ("flagged", "tblBAS", "IR-DATE-3"): {"9004", "113", "114", "126", "127", "128", "138",
                                         "139"},
    ("flagged", "tblART", "IR-DATE-3"): {"103", "112", "124"},
    ("flagged", "tblLTFU", "IR-DATE-3"): {"102", "121"},
    # precision U: the date is unusable
    ("flagged", "tblBAS", "IR-DATE-2"): {"122", "123", "125", "136", "137", "147"},
    ("flagged", "tblLTFU", "IR-DATE-2"): {"108", "116"},
}


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(SAMPLE, close_date=CLOSE, unreadable="missing")


def test_each_intentional_error_the_rules_cover_is_found(cohort):
    ledger = cohort.ledger
    found: dict[tuple, set[str]] = {}
    for outcome, frame in (("excluded", ledger.entries), ("flagged", ledger.flags)):
        for (table, rule), rows in frame.groupby(["table", "rule"]):
            found[(outcome, table, rule)] = set(rows["PATIENT"].astype(str))
    assert found == EXPECTED


def test_unreadable_values_missing_tables_and_unread_files_are_issues(cohort):
    issues = cohort.ledger.issues
    assert issues.iloc[0]["severity"] == "critical"
    assert issues.iloc[0]["problem"] == "required table tblLAB_CD4 not found"
    unreadable = cohort.ledger.unreadable
    # the row of x's in tblLTFU and tblART, and a dd/mm/yyyy stop date
    assert set(unreadable["PATIENT"]) == {"121", "124", "105"}
    assert "99/99/9999" in set(issues["pattern"])
    unread = issues[issues["severity"] == "warning"]["problem"].iloc[0]
    assert all(name in unread for name in ("tblLAB.csv", "tblLAB_BP.csv", "tblVIS.csv"))
    assert any("columns renamed" in n and "tblLTFU.csv" in n for n in cohort.ledger.notices)


def test_programs_are_kept_and_counted(cohort):
    programs = quality.by_program(cohort.bas, cohort.ledger).set_index("program")
    assert list(programs.loc[["Program1", "Program2", "Program3"], "patients"]) == [15, 12, 21]
    assert programs["rows_excluded"].sum() == len(cohort.ledger.entries)


def test_validate_exits_non_zero_and_names_what_is_missing(tmp_path, capsys):
    assert main(["validate", str(SAMPLE), "--close-date", CLOSE,
                 "--errors", str(tmp_path / "e.csv")]) == 2
    assert "required table tblLAB_CD4 not found" in capsys.readouterr().err


def test_the_site_builds_its_data_quality_report_and_says_why_the_rest_cannot(tmp_path,
                                                                              capsys):
    export = tmp_path / "harmonist"
    shutil.copytree(SAMPLE, export)
    out = tmp_path / "site"
    status = main(["report", str(export), "--name", "harmonist", "--out", str(out),
                   "--close-date", CLOSE, "--no-progress"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert (out / "data-quality-harmonist" / "data-quality-harmonist.html").is_file()
    issues = pd.read_csv(out / "data-quality-harmonist" / "tables" / "issues.csv")
    assert issues.iloc[0]["severity"] == "critical"
    index = (out / "index.html").read_text()
    assert index.count("Not applicable:") == 6 and "tblLAB_CD4 not found" in index
    assert "Traceback" not in printed.out + printed.err
