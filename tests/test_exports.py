"""Real-world exports (``tests/data/exports``, made by ``tests/data/make_exports.py``):
each variant a careful reader would accept is read, and what was renamed or ignored is said."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from immune_recovery import load_cohort
from immune_recovery.cli import main
from immune_recovery.exceptions import InputError, InputErrors

EXPORTS = Path(__file__).parent / "data" / "exports"
CASES = sorted(p.name for p in EXPORTS.iterdir() if (p / "expect.yaml").is_file())
CLOSE = "2026-01-01"


def expect(case: str) -> dict:
    return yaml.safe_load((EXPORTS / case / "expect.yaml").read_text())


def test_the_corpus_is_there():
    assert {"lowercase", "bom", "gender", "semicolon", "tab_and_gzip", "stata",
            "sas_transport", "latin1", "empty_lines", "many_errors"} <= set(CASES)


@pytest.mark.parametrize("case", [c for c in CASES if "patients" in expect(c)])
def test_accepted_variant(case):
    spec = expect(case)
    cohort = load_cohort(EXPORTS / case, close_date=CLOSE, encoding=spec.get("encoding"))
    assert cohort.n_patients == spec["patients"]
    for text in spec.get("notices", []):
        assert any(text in n for n in cohort.ledger.notices), (text, cohort.ledger.notices)
    if "cd4_rows" in spec:
        assert len(cohort.cd4) == spec["cd4_rows"]
        assert cohort.cd4["CD4_D"].notna().all() and cohort.cd4["CD4_V"].notna().all()
    if "sex_known" in spec:  # GENDER read as SEX, not silently ignored
        assert int(cohort.bas["SEX"].isin([1, 2]).sum()) == spec["sex_known"]
    recon = cohort.ledger.reconciliation()
    assert bool(recon["reconciles"].all())


def test_a_non_utf8_byte_is_named_by_line_and_column():
    spec = expect("latin1")
    with pytest.raises(InputError) as caught:
        load_cohort(EXPORTS / "latin1", close_date=CLOSE)
    assert re.search(spec["without_encoding"], str(caught.value)), str(caught.value)


def test_line_numbers_survive_empty_lines_and_quoted_line_breaks():
    with pytest.raises(InputError) as caught:
        load_cohort(EXPORTS / "empty_lines", close_date=CLOSE)
    assert re.search(expect("empty_lines")["error"], str(caught.value)), str(caught.value)


def test_every_unreadable_value_is_reported_in_one_run(tmp_path, capsys):
    spec = expect("many_errors")
    with pytest.raises(InputErrors) as caught:
        load_cohort(EXPORTS / "many_errors", close_date=CLOSE)
    table = caught.value.table()
    assert len(table) == spec["error_count"]
    assert sorted(table["file"].unique()) == spec["files"]
    errors_file = tmp_path / "errors.csv"
    status = main(["validate", str(EXPORTS / "many_errors"), "--close-date", CLOSE,
                   "--errors", str(errors_file)])
    message = capsys.readouterr().err
    assert status == 2 and "Traceback" not in message
    assert f"{spec['error_count']} unreadable value(s) in 2 file(s)" in message
    patterns = caught.value.patterns()
    # one line per file, column, rule and pattern (not one per value), with its count
    assert len(re.findall(r"^  tbl", message, flags=re.M)) == min(len(patterns),
                                                                   InputErrors.SHOWN)
    assert patterns["count"].sum() == spec["error_count"]
    assert "every value, with its row and PATIENT" in message
    written = pd.read_csv(errors_file)
    assert len(written) == spec["error_count"]
    assert set(written.columns) >= {"file", "row", "line", "PATIENT", "column", "value", "rule",
                                    "pattern"}
    assert written["PATIENT"].notna().any()


def test_the_errors_file_is_written_for_few_errors_and_never_left_stale(tmp_path,
                                                                        small_cohort_dir):
    errors_file = tmp_path / "errors.csv"
    bad = tmp_path / "bad"
    shutil.copytree(small_cohort_dir, bad)
    text = (bad / "tblBAS.csv").read_text().replace("1975-01-01", "1975-13-45", 1)
    (bad / "tblBAS.csv").write_text(text)
    assert main(["validate", str(bad), "--errors", str(errors_file)]) == 2
    assert len(pd.read_csv(errors_file)) == 1, "written with one error too"
    assert main(["validate", str(small_cohort_dir), "--errors", str(errors_file)]) == 0
    assert not errors_file.exists(), "a clean run leaves no stale list"


def test_r_and_sql_missing_values_are_read_as_missing_and_counted(tmp_path, small_cohort_dir):
    folder = tmp_path / "r"
    shutil.copytree(small_cohort_dir, folder)
    bas = pd.read_csv(folder / "tblBAS.csv", dtype=str, keep_default_na=False)
    bas.loc[0, "AIDS_D"], bas.loc[1, "AIDS_D"] = "NA", "NULL"
    bas.loc[2, "MODE"], bas.loc[3, "MODE"] = ".", "   "
    bas.to_csv(folder / "tblBAS.csv", index=False)
    cohort = load_cohort(folder, close_date=CLOSE)
    notice = next(n for n in cohort.ledger.notices if "read as missing" in n)
    assert "1 'NA'" in notice and "1 'NULL'" in notice and "1 '.'" in notice
    assert "1 blank" in notice and "AIDS_D" in notice and "MODE" in notice


def test_day_first_dates_are_detected_or_read_with_a_format(tmp_path, small_cohort_dir):
    folder = tmp_path / "dmy"
    shutil.copytree(small_cohort_dir, folder)
    cd4 = pd.read_csv(folder / "tblLAB_CD4.csv", dtype=str)
    iso = pd.to_datetime(cd4["CD4_D"])
    cd4["CD4_D"] = iso.dt.strftime("%d/%m/%Y")
    cd4.to_csv(folder / "tblLAB_CD4.csv", index=False)
    assert (iso.dt.day > 12).any() and (iso.dt.month <= 12).all()  # provably day-first
    cohort = load_cohort(folder, close_date=CLOSE)
    assert any("CD4_D written day-first" in n for n in cohort.ledger.notices)
    assert set(cohort.cd4["CD4_D"]) <= set(iso)
    given = load_cohort(folder, close_date=CLOSE, date_format="%d/%m/%Y")
    assert len(given.cd4) == len(load_cohort(small_cohort_dir, close_date=CLOSE).cd4)


def test_reading_on_lists_unreadable_values_as_issues_by_pattern(tmp_path, small_cohort_dir):
    folder = tmp_path / "on"
    shutil.copytree(small_cohort_dir, folder)
    (folder / "tblLAB_CD4.csv").unlink()
    text = (folder / "tblBAS.csv").read_text().replace("1975-01-01", "01.02.1975", 1)
    (folder / "tblBAS.csv").write_text(text)
    (folder / "tblVIS.csv").write_text("PATIENT,VIS_D\nP1,2001-01-01\n")
    cohort = load_cohort(folder, close_date=CLOSE, unreadable="missing")
    issues = cohort.ledger.issues
    assert list(issues["severity"]) == ["critical", "error", "warning"]
    assert "tblLAB_CD4 not found" in issues.iloc[0]["problem"]
    assert issues.iloc[1]["pattern"] == "99.99.9999" and issues.iloc[1]["count"] == 1
    assert "tblVIS.csv" in issues.iloc[2]["problem"]
    assert len(cohort.ledger.unreadable) == 1 and cohort.ledger.unreadable["PATIENT"].iloc[0]


def test_close_date_option_decides_what_is_in_the_future(small_cohort_dir, capsys):
    status = main(["validate", str(small_cohort_dir), "--close-date", "2000-08-01"])
    out = capsys.readouterr().out
    assert status == 0
    assert "ATC004" in out  # counts of 2000-09-01 and 2001 are after the close date
    cohort = load_cohort(small_cohort_dir, close_date="2000-08-01")
    assert (cohort.cd4["CD4_D"] <= pd.Timestamp("2000-08-01")).all()
    today = load_cohort(small_cohort_dir)
    assert any("no database close date" in n for n in today.ledger.notices)


def test_separator_and_encoding_can_be_given(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    for path in (EXPORTS / "latin1").glob("*.csv"):
        (folder / path.name).write_bytes(path.read_bytes().replace(b",", b"|"))
    cohort = load_cohort(folder, close_date=CLOSE, encoding="latin-1", sep="|")
    assert "P\u00e94" in set(cohort.bas["PATIENT"])


def test_tblbas_and_last_alive_dates_before_birth_are_set_missing(small_cohort_dir, edit_table):
    def bas(df):
        df.loc[df["PATIENT"] == "P1", "RECART_D"] = "1959-01-01"  # before birth 1960-01-01
        df.loc[df["PATIENT"] == "P2", "AIDS_D"] = "1969-01-01"    # before birth 1970-06-15
        return df

    def ltfu(df):
        df.loc[df["PATIENT"] == "P1", "L_ALIVE_D"] = "1950-01-01"
        return df

    edit_table(small_cohort_dir, "tblBAS", bas)
    edit_table(small_cohort_dir, "tblLTFU", ltfu)
    cohort = load_cohort(small_cohort_dir, close_date=CLOSE)
    flags = cohort.ledger.flags
    flagged = set(zip(flags["table"], flags["column"], flags["rule"], strict=True))
    assert {("tblBAS", "RECART_D", "IR-DATE-5"), ("tblBAS", "AIDS_D", "IR-DATE-5"),
            ("tblLTFU", "L_ALIVE_D", "IR-DATE-5")} <= flagged
    bas_rows = cohort.bas.set_index("PATIENT")
    assert pd.isna(bas_rows.loc["P1", "RECART_D"]) and pd.isna(bas_rows.loc["P2", "AIDS_D"])
    assert cohort.n_patients == 4  # the patients stay
    from immune_recovery import patient_table

    assert (patient_table(cohort)["age"].dropna() >= 0).all()


def test_death_with_unknown_precision_keeps_the_row(small_cohort_dir, edit_table):
    def ltfu(df):
        df["DEATH_D_A"] = ""
        df.loc[df["PATIENT"] == "P2", "DEATH_D_A"] = "U"
        return df

    edit_table(small_cohort_dir, "tblLTFU", ltfu)
    cohort = load_cohort(small_cohort_dir, close_date=CLOSE)
    assert "P2" in set(cohort.tables["tblLTFU"]["PATIENT"])  # not excluded
    assert ((cohort.ledger.flags["rule"] == "IR-DATE-2")
            & (cohort.ledger.flags["column"] == "DEATH_D")).any()
    follow = cohort.followup.loc["P2"]
    assert bool(follow["died"]) and pd.isna(follow["death_date"])
    assert follow["followup_source"] != "death"  # ends at the last known contact


@pytest.mark.parametrize("code", ["<", ">", "D", "M", "Y"])
def test_iedea_precision_codes_are_accepted(small_cohort_dir, edit_table, code):
    def bas(df):
        df["BIRTH_D_A"] = code
        return df

    edit_table(small_cohort_dir, "tblBAS", bas)
    cohort = load_cohort(small_cohort_dir, close_date=CLOSE)
    assert not (cohort.ledger.flags["rule"] == "IR-DATE-3").any()
