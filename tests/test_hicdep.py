"""Reading and validating HICDEP folders: clear errors for unreadable input, a ledger for
implausible rows, and counts that reconcile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from immune_recovery import InputError, load_cohort
from immune_recovery.conventions import CD4_ABSOLUTE_UNIT, to_days
from immune_recovery.hicdep import read_tables, write_tables
from immune_recovery.hicdep.validate import duplicated_rows

from .conftest import require_dataset


def test_small_cohort_loads_with_nothing_excluded(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir)
    assert cohort.n_patients == 4
    assert list(cohort.patients) == ["P1", "P2", "P3", "P4"]
    assert cohort.ledger.entries.empty
    recon = cohort.ledger.reconciliation()
    assert recon["reconciles"].all()
    assert dict(zip(recon["table"], recon["rows_read"], strict=True)) == {
        "tblBAS": 4, "tblART": 4, "tblLAB_CD4": 9, "tblLAB_RNA": 4, "tblLTFU": 3}
    assert cohort.has_rna
    assert "tblDIS" not in cohort.present and cohort.dis.empty


def test_types_are_parsed(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir)
    assert str(cohort.cd4["CD4_D"].dtype) == "datetime64[ns]"
    assert cohort.cd4["CD4_V"].dtype == "float64"
    assert str(cohort.bas["SEX"].dtype) == "Int64"
    assert cohort.rna["RNA_V"].tolist() == [100000, -50, 50000, -1]
    # patient keys are integer codes in tblBAS order
    assert cohort.codes("tblLAB_CD4").tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2]


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "message"),
    [
        ("tblLAB_CD4", 2, "CD4_V", "abc", "not a number"),
        ("tblLAB_CD4", 3, "CD4_D", "01/07/2000", "not an ISO date"),
        ("tblBAS", 1, "SEX", "1.5", "not an integer code"),
        ("tblLAB_RNA", 2, "RNA_V", "<50", "not a number"),
    ],
)
def test_unreadable_value_names_file_row_column_value_rule(
    small_cohort_dir, edit_table, table, row, column, value, message
):
    def corrupt(df):
        df.loc[row - 1, column] = value
        return df

    edit_table(small_cohort_dir, table, corrupt)
    with pytest.raises(InputError) as info:
        load_cohort(small_cohort_dir)
    err = info.value
    assert (err.file, err.row, err.column, err.value) == (f"{table}.csv", row, column, value)
    text = str(err)
    assert f"{table}.csv" in text and f"row {row}" in text and column in text
    assert message in text
    assert "\n" not in text
    if value == "<50":
        assert "negative number" in text


def test_missing_required_column(small_cohort_dir, edit_table):
    edit_table(small_cohort_dir, "tblLAB_CD4", lambda df: df.drop(columns="CD4_U"))
    with pytest.raises(InputError, match=r"tblLAB_CD4.csv, column CD4_U: required column"):
        load_cohort(small_cohort_dir)


def test_missing_required_table(small_cohort_dir):
    (small_cohort_dir / "tblBAS.csv").unlink()
    with pytest.raises(InputError, match="required table tblBAS not found"):
        load_cohort(small_cohort_dir)


def test_semicolon_file_is_read_and_noted(small_cohort_dir):
    path = small_cohort_dir / "tblLAB_CD4.csv"
    path.write_text(path.read_text().replace(",", ";"))
    cohort = load_cohort(small_cohort_dir)
    assert len(cohort.cd4) == 9
    assert any("semicolon-separated (detected)" in n for n in cohort.ledger.notices)


def test_non_utf8_file_is_rejected(small_cohort_dir):
    path = small_cohort_dir / "tblBAS.csv"
    path.write_bytes(path.read_bytes().replace(b"P4", b"P\xe94"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_cohort(small_cohort_dir)


def _append(folder, table, line):
    path = folder / f"{table}.csv"
    path.write_text(path.read_text() + line + "\n")


@pytest.mark.parametrize(
    ("table", "line", "rule"),
    [
        ("tblLAB_CD4", "P1,2000-08-01,9000,1", "CW001"),
        ("tblLAB_CD4", "P1,2000-08-01,-5,1", "CW001"),
        ("tblLAB_CD4", "P1,2000-07-01,999,1", "CW002"),
        ("tblLAB_CD4", "P1,2000-08-01,,1", "CW004"),
        ("tblLAB_CD4", "P1,2000-08-01,20,3", "CW006"),
        ("tblLAB_CD4", "P1,2000-08-01,120,2", "CW007"),
        ("tblLAB_CD4", "P9,2000-08-01,300,1", "RC001"),
        ("tblLAB_CD4", "P1,1950-08-01,300,1", "ATC003"),
        ("tblLAB_CD4", "P2,2001-07-01,300,1", "ATC001"),
        ("tblLAB_CD4", "P3,2002-03-01,300,1", "ATC002"),
        ("tblLAB_RNA", "P1,2000-08-01,20000000,50", "RW006"),
        ("tblLAB_RNA", "P1,2000-07-01,400,50", "RW001"),
        ("tblART", "P1,J05AF02,2000-05-01,2000-04-01", "IR-ART-2"),
        ("tblART", "P1,J01EE01,2000-05-01,", "IR-ART-3"),
        ("tblBAS", "P1,1960-01-01,1,1,0,,1,2000-01-01", "IR-BAS-2"),
        ("tblLAB_CD4", "P1,2031-01-01,300,1", "ATC004"),
    ],
)
def test_implausible_rows_go_to_the_ledger(small_cohort_dir, table, line, rule):
    before = read_tables(small_cohort_dir)[0][table]
    _append(small_cohort_dir, table, line)
    tables, ledger, _ = read_tables(small_cohort_dir)
    entries = ledger.entries
    assert entries["rule"].tolist() == [rule]
    assert entries["table"].tolist() == [table]
    assert entries["row"].tolist() == [len(before) + 1]
    assert len(tables[table]) == len(before)
    recon = ledger.reconciliation().set_index("table")
    assert recon.loc[table, "rows_read"] == len(before) + 1
    assert recon.loc[table, "rows_excluded"] == 1
    assert recon["reconciles"].all()


@pytest.mark.parametrize(
    ("table", "line", "rule", "column", "blanked"),
    [
        ("tblBAS", "P5,1960-01-01,4,1,0,,1,2000-01-01", "IR-BAS-3", "SEX", True),
        ("tblBAS", "P5,1960-01-01,1,1,0,,1,2031-01-01", "IR-BAS-6", "RECART_D", True),
        ("tblBAS", "P5,1911-11-11,1,1,0,,1,2000-01-01", "IR-DATE-1", "BIRTH_D", True),
        ("tblLAB_CD4", "P1,2000-08-01,3500,1", "CW008", None, False),
        ("tblLAB_RNA", "P1,2000-08-01,-400,", "RW002", None, False),
        ("tblLAB_RNA", "P1,2000-08-01,40,50", "RW007", None, False),
        ("tblLAB_RNA", "P1,2000-08-01,750001,50", "RW003", None, False),
    ],
)
def test_questionable_rows_are_flagged_and_kept(small_cohort_dir, table, line, rule, column,
                                                blanked):
    before = read_tables(small_cohort_dir, "2026-01-01")[0][table]
    _append(small_cohort_dir, table, line)
    tables, ledger, _ = read_tables(small_cohort_dir, "2026-01-01")
    assert ledger.entries.empty
    assert rule in ledger.flags["rule"].tolist()
    assert len(tables[table]) == len(before) + 1
    if blanked:
        assert pd.isna(tables[table].iloc[-1][column])
    assert ledger.reconciliation()["reconciles"].all()


def test_cd4_spike_is_flagged(small_cohort_dir):
    path = small_cohort_dir / "tblLAB_CD4.csv"
    path.write_text(path.read_text() + "P2,2000-05-01,900,1\n")
    tables, ledger, _ = read_tables(small_cohort_dir)
    flagged = ledger.flags[ledger.flags["rule"] == "CW009"]
    assert flagged["value"].tolist() == ["900.0"]


def test_precision_u_makes_a_date_missing(small_cohort_dir, edit_table):
    def add_precision(df):
        df["BIRTH_D_A"] = ["D", "U", "Q", ""]
        return df

    edit_table(small_cohort_dir, "tblBAS", add_precision)
    tables, ledger, _ = read_tables(small_cohort_dir)
    bas = tables["tblBAS"].set_index("PATIENT")
    assert pd.isna(bas.loc["P2", "BIRTH_D"]) and not pd.isna(bas.loc["P1", "BIRTH_D"])
    dates = ledger.flags[ledger.flags["rule"].str.startswith("IR-DATE")]
    assert sorted(dates["rule"]) == ["IR-DATE-2", "IR-DATE-3"]


def test_first_rule_per_row_counts_each_row_once(small_cohort_dir):
    # out of range AND orphan: excluded once, by the per-table rule (checked first)
    _append(small_cohort_dir, "tblLAB_CD4", "P9,2000-08-01,9000,1")
    cohort = load_cohort(small_cohort_dir)
    assert cohort.ledger.entries["rule"].tolist() == ["CW001"]
    assert cohort.ledger.reconciliation()["reconciles"].all()


def test_csv_and_parquet_give_the_same_cohort(small_cohort_dir, tmp_path):
    csv_tables, _, _ = read_tables(small_cohort_dir)
    write_tables(tmp_path / "pq", {k: v for k, v in csv_tables.items()
                                   if k in ("tblBAS", "tblART", "tblLAB_CD4", "tblLAB_RNA",
                                            "tblLTFU")}, fmt="parquet")
    pq_tables, ledger, present = read_tables(tmp_path / "pq")
    assert ledger.entries.empty
    for name in present:
        pd.testing.assert_frame_equal(
            csv_tables[name].reset_index(drop=True), pq_tables[name].reset_index(drop=True),
            check_dtype=False,
        )


def test_write_then_read_round_trip_is_byte_stable(small_cohort_dir, tmp_path):
    tables, _, present = read_tables(small_cohort_dir)
    keep = {k: tables[k] for k in present}
    write_tables(tmp_path / "a", keep)
    again, _, _ = read_tables(tmp_path / "a")
    write_tables(tmp_path / "b", {k: again[k] for k in present})
    for name in present:
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == \
            (tmp_path / "b" / f"{name}.csv").read_bytes()


def test_both_csv_and_parquet_is_an_error(small_cohort_dir):
    tables, _, _ = read_tables(small_cohort_dir)
    write_tables(small_cohort_dir, {"tblBAS": tables["tblBAS"]}, fmt="parquet")
    with pytest.raises(InputError, match="given twice"):
        load_cohort(small_cohort_dir)


def test_validate_tables_works_on_dataframes_of_text(small_cohort_dir):
    """The same validation as files, on frames given in memory as text (any row index)."""
    from immune_recovery.hicdep import read_folder, validate_tables

    raw, files = read_folder(small_cohort_dir)
    from_files, ledger_files, _ = read_tables(small_cohort_dir, close_date="2026-11-25")
    shuffled = {name: frame.set_axis(range(100, 100 + len(frame))) for name, frame in raw.items()}
    tables, ledger, present = validate_tables(shuffled, "2026-11-25", files=files)
    assert present == set(raw)
    for name in present:
        pd.testing.assert_frame_equal(tables[name], from_files[name])
    assert ledger.reconciliation().equals(ledger_files.reconciliation())
    assert ledger.close_date == pd.Timestamp("2026-11-25") and ledger.notices == []


def test_from_tables_writes_nothing_to_disk(small_cohort_dir, monkeypatch):
    import immune_recovery.hicdep.io as hicdep_io
    from immune_recovery import Cohort

    cohort = load_cohort(small_cohort_dir, close_date="2026-11-25")
    tables = {k: cohort.tables[k].assign(PATIENT=cohort.tables[k]["PATIENT"].astype(str))
              for k in cohort.present}

    def refuse(*args, **kwargs):
        raise AssertionError("from_tables must not write files")

    monkeypatch.setattr(hicdep_io, "write_tables", refuse)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", refuse)
    again = Cohort.from_tables(tables, name="memory", close_date="2026-11-25")
    assert again.n_patients == cohort.n_patients and len(again.cd4) == len(cohort.cd4)


def test_a_missing_close_date_is_said_not_silent(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir)
    assert any("close date" in notice for notice in cohort.ledger.notices)
    assert cohort.ledger.close_date == pd.Timestamp.today().normalize()


def test_table_specs_carry_their_primary_date_and_check_parameters():
    from immune_recovery.schemas import CD4_SPIKE_CELLS, CD4_SPIKE_FOLD, TABLES

    assert TABLES["tblLAB_CD4"].primary_date == "CD4_D"
    assert TABLES["tblLAB_CD4"].check_params == {"spike_fold": CD4_SPIKE_FOLD,
                                                 "spike_cells": CD4_SPIKE_CELLS}
    assert TABLES["tblBAS"].primary_date is None and TABLES["tblBAS"].cross_table == ()
    assert "RC001" in TABLES["tblSTUDY"].cross_table
    assert {"ATC001", "ATC002", "ATC003"} <= set(TABLES["tblLAB_RNA"].cross_table)


def test_cohort_absolute_counts_and_days_since_t0(small_cohort_dir):
    cohort = load_cohort(small_cohort_dir, close_date="2026-11-25")
    cd4 = cohort.absolute_cd4()
    assert cd4 is cohort.absolute_cd4(), "computed once"
    first = cd4.iloc[0]
    t0 = cohort.time_origin["t0"].iloc[int(first["code"])]
    assert first["days_since_t0"] == (first["CD4_D"] - t0).days


@pytest.mark.parametrize("all_absolute", [False, True])
def test_absolute_counts_are_the_plain_selection(small_cohort_dir, all_absolute):
    """With percentages among the counts (rows selected) and without (the table's own
    columns): the frame a row selection and ``assign`` give."""
    cohort = load_cohort(small_cohort_dir)
    if all_absolute:
        cohort = load_cohort(require_dataset("synthetic"))
    cd4 = cohort.cd4
    keep = (cd4["CD4_U"] == CD4_ABSOLUTE_UNIT).fillna(False).to_numpy(dtype=bool)
    assert keep.all() == all_absolute
    plain = cd4.loc[keep, ["PATIENT", "CD4_D", "CD4_V"]]
    code = plain["PATIENT"].cat.codes.to_numpy().astype("int64")
    day = to_days(plain["CD4_D"])
    plain = plain.assign(code=code, day=day, days_since_t0=day - cohort.t0_day[code])
    pd.testing.assert_frame_equal(cohort.absolute_cd4(), plain, check_exact=True)


@given(st.lists(st.tuples(st.sampled_from(["P1", "P2", "NA", None]),
                          st.sampled_from([pd.Timestamp("2011-02-05"), pd.Timestamp("2012-01-01"),
                                           pd.NaT]),
                          st.sampled_from([1, 2, None])), max_size=40))
@settings(max_examples=200, deadline=None)
def test_duplicated_rows_are_the_rows_pandas_calls_duplicated(rows):
    """The sort-based duplicate search agrees with pandas' (the first kept, missing equal to
    missing), for identifiers, dates and integer codes with gaps."""
    frame = pd.DataFrame(rows, columns=["PATIENT", "CD4_D", "CD4_U"]).astype(
        {"PATIENT": object, "CD4_D": "datetime64[ns]", "CD4_U": "Int64"})
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    for columns in (["PATIENT"], ["PATIENT", "CD4_D"], ["PATIENT", "CD4_D", "CD4_U"]):
        expected = frame.duplicated(subset=columns, keep="first").to_numpy()
        assert (duplicated_rows(frame, columns) == expected).all()


def test_duplicated_rows_with_keys_beyond_int64_fall_back_to_pandas():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.integers(0, 2**16, size=(70_000, 5)), columns=list("abcde"))
    frame = pd.concat([frame, frame.iloc[:50]], ignore_index=True)
    assert np.prod([float(frame[c].nunique() + 1) for c in frame]) > np.iinfo(np.int64).max
    found = duplicated_rows(frame, list("abcde"))
    assert found.sum() == 50 and (found == frame.duplicated().to_numpy()).all()
