"""What cohorts send, end to end: an unreadable date in an optional table no longer stops the
site, an export whose CD4 rows are all unusable gets its data-quality report and five
'not applicable' entries, and the cross-table and code-list checks a data manager expects."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from immune_recovery import load_cohort
from immune_recovery.cli import main
from immune_recovery.paths import project_root
from immune_recovery.reporting.cohort_site import build_cohort_site

CLOSE = "2026-01-01"


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    folder = root / "c60"
    assert main(["simulate", "--patients", "60", "--seed", "8", "--out", str(folder)]) == 0
    for extra in ("truth.csv", "truth.json"):
        (folder / extra).unlink()
    return folder


def _site(folder, out):
    return main(["report", str(folder), "--name", "x", "--out", str(out), "--close-date",
                 CLOSE, "--jobs", "2", "--no-progress"])


def test_an_unreadable_date_in_an_optional_table_does_not_stop_the_site(export, tmp_path):
    folder = tmp_path / "cep"
    shutil.copytree(export, folder)
    cep = pd.read_csv(folder / "tblCEP.csv", dtype=str)
    cep.loc[0, "CEP_D"] = "31/02/2015"
    cep.to_csv(folder / "tblCEP.csv", index=False)
    out = tmp_path / "site"
    assert _site(folder, out) == 0
    assert len(list(out.glob("*/*.html"))) == 7
    issues = pd.read_csv(out / "data-quality-x" / "tables" / "issues.csv")
    row = issues[issues["column"] == "CEP_D"].iloc[0]
    assert row["severity"] == "error" and row["pattern"] == "99/99/9999"


def test_no_usable_cd4_count_builds_the_data_quality_report_and_says_why(export, tmp_path):
    folder = tmp_path / "nocd4"
    shutil.copytree(export, folder)
    cd4 = pd.read_csv(folder / "tblLAB_CD4.csv", dtype=str)
    cd4["CD4_U"] = "7"  # not a HICDEP unit: every row excluded (CW006)
    cd4.to_csv(folder / "tblLAB_CD4.csv", index=False)
    out = tmp_path / "site"
    assert _site(folder, out) == 0
    assert [p.name for p in out.iterdir() if p.is_dir()] == ["data-quality-x"]
    index = (out / "index.html").read_text()
    assert index.count("Not applicable:") == 6 and "no usable row in tblLAB_CD4" in index
    assert main(["validate", str(folder), "--close-date", CLOSE,
                 "--errors", str(tmp_path / "e.csv")]) == 1


def test_stop_dates_after_death_and_unknown_event_codes_are_flagged(export, tmp_path):
    folder = tmp_path / "codes"
    shutil.copytree(export, folder)
    ltfu = pd.read_csv(folder / "tblLTFU.csv", dtype=str)
    art = pd.read_csv(folder / "tblART.csv", dtype=str)
    dead = ltfu[ltfu["DEATH_Y"] == "1"]["PATIENT"]
    patient = next(p for p in dead if (art["PATIENT"] == p).any())
    death = pd.Timestamp(ltfu.loc[ltfu["PATIENT"] == patient, "DEATH_D"].iloc[0])
    first = art.index[art["PATIENT"] == patient][0]
    art.loc[first, "ART_ED"] = (death + pd.Timedelta(days=30)).strftime("%Y-%m-%d")
    art.to_csv(folder / "tblART.csv", index=False)
    cep = pd.read_csv(folder / "tblCEP.csv", dtype=str)
    cep.loc[0, "CEP_ID"] = "XYZ"
    cep.to_csv(folder / "tblCEP.csv", index=False)
    bas = pd.read_csv(folder / "tblBAS.csv", dtype=str)
    bas.loc[3, "MODE"] = " "
    bas.to_csv(folder / "tblBAS.csv", index=False)
    flags = load_cohort(folder, close_date=CLOSE).ledger.flags
    after = flags[flags["rule"] == "IR-DATE-6"]
    assert list(after["PATIENT"]) == [patient] and list(after["column"]) == ["ART_ED"]
    assert list(flags.loc[flags["rule"] == "IR-CEP-3", "value"]) == ["XYZ"]
    assert list(flags.loc[flags["rule"] == "IR-BAS-7", "PATIENT"]) == [bas.loc[3, "PATIENT"]]


def test_a_trial_export_without_viral_loads_builds_every_report(tmp_path):
    """ACTG 175 as a cohort would send it: CD4 counts at two visits, no viral loads, a trial's
    follow-up shorter than the catalogue's assessments and the spline's second knot. Every
    report is built; what cannot be estimated says so (it used to stop four of seven)."""
    root = project_root()
    out = tmp_path / "site"
    result = build_cohort_site(root / "data" / "hicdep" / "actg175", "t", out,
                               definitions_file=root / "params" / "definitions" / "actg175.yaml",
                               close_date="2000-01-01", jobs=2, progress=False)
    assert result.failed == {} and result.not_applicable == {}
    assert len(list(out.glob("*/*.html"))) == 7
