"""The fast CSV reader (Arrow text, parsed by Arrow where Arrow reads a value exactly as pandas
does) gives the same tables, messages and notices as the csv-module reader and pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from immune_recovery.hicdep import (
    parse_table,
    read_folder,
    read_raw_table,
    read_tables,
    validate_read,
)
from immune_recovery.hicdep.parse import arrow_text
from immune_recovery.paths import project_root
from immune_recovery.schemas import TABLES

#: Values a careful reader accepts or rejects, chosen where Arrow and pandas might differ.
CD4_VALUES = ["257", " 94 ", "-0", "007", "1e3", "12.5", "+5", "NA", " NULL ", ".", "",
              "12\x1c", "\u00a012", "1;5", "<50", "999999999999999", "9999999999999999"]
DATES = ["2011-02-05", " 2011-02-06 ", "2011-2-5", "2011-02-30", "0011-02-05", "2262-05-01",
         "1677-01-01", "2011-13-01", "2011-00-05", "2011-02-00", "2011-04-31", "NULL", "",
         "2011-02-05x", "05/02/2011", "20110205"]


def _write(folder, values, dates):
    rows = [f"P{i},{d},{v},1" for i, (v, d) in enumerate(zip(values, dates))]
    path = folder / "tblLAB_CD4.csv"
    path.write_text('"PATIENT","CD4_D","CD4_V","CD4_U"\n' + "\n".join(rows) + "\n",
                    encoding="utf-8")
    return path


def _objects(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.astype(object).where(raw.notna(), None)
    out.attrs = raw.attrs
    return out


@pytest.mark.parametrize("values,dates", [
    (CD4_VALUES, (DATES * 2)[:len(CD4_VALUES)]),
    (["100"] * 5, ["13/02/2011", "14/03/2011", "01/02/2011", "2011-02-05", "02/01/2011"]),
])
def test_arrow_and_pandas_parse_alike(tmp_path, values, dates):
    raw = read_raw_table(_write(tmp_path, values, dates), "tblLAB_CD4")
    assert arrow_text(raw["CD4_V"]) is not None  # the fast reader took the file
    spec = TABLES["tblLAB_CD4"]
    fast_errors, fast_notices = [], []
    fast = parse_table(raw, spec, "tblLAB_CD4.csv", fast_errors, fast_notices)
    slow_errors, slow_notices = [], []
    slow = parse_table(_objects(raw), spec, "tblLAB_CD4.csv", slow_errors, slow_notices)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert [str(e) for e in fast_errors] == [str(e) for e in slow_errors]
    assert [(e.row, e.line, e.column, e.value, e.patient) for e in fast_errors] == \
        [(e.row, e.line, e.column, e.value, e.patient) for e in slow_errors]
    assert fast_notices == slow_notices


def test_files_arrow_cannot_line_up_go_to_the_csv_reader(tmp_path):
    """Empty lines and a quoted line break: the csv module reads them, with physical lines."""
    path = tmp_path / "tblLAB_CD4.csv"
    path.write_text('PATIENT,CD4_D,CD4_V,CD4_U\nP1,2011-02-05,250,1\n\n'
                    '"P\n2",2011-02-05,x,1\n', encoding="utf-8")
    raw = read_raw_table(path, "tblLAB_CD4")
    assert arrow_text(raw["CD4_V"]) is None
    assert list(raw.attrs["lines"]) == [2, 4]
    errors: list = []
    parse_table(raw, TABLES["tblLAB_CD4"], "tblLAB_CD4.csv", errors, [])
    assert [(e.line, e.value) for e in errors] == [(4, "x")]


def test_the_raw_tables_are_let_go_once_parsed():
    """validate_read empties the raw tables it is given (a large export is never held raw
    and parsed at once) and gives the tables read_tables gives."""
    folder = project_root() / "data" / "hicdep" / "messy"
    raw, files = read_folder(folder, require=False)
    tables, ledger, present = validate_read(raw, files, folder, "2026-01-01", "missing")
    assert raw == {}
    again, ledger_again, _ = read_tables(folder, "2026-01-01", unreadable="missing")
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, again[name])
    for part in ("entries", "flags", "issues", "unreadable"):
        pd.testing.assert_frame_equal(getattr(ledger, part), getattr(ledger_again, part))
    assert ledger.notices == ledger_again.notices
