"""Generate ``tests/data/exports/``: small cohorts shaped like real exports, each with the
outcome a careful reader would expect (``expect.yaml``).

Every case starts from the same five-patient cohort (the test suite's small cohort) and writes
it the way some real export would: lower-case headers (IeDEA exports), a UTF-8 byte-order
mark ("CSV UTF-8" from a spreadsheet), the deprecated ``GENDER`` column, semicolons (a
spreadsheet in a comma-decimal locale), tabs, gzip, upper-case file names, Stata ``.dta``, SAS
transport ``.xpt``, Latin-1 text, empty lines and quoted line breaks, unknown extra columns,
and many unreadable values across tables.

Rerun after changing a case: ``.venv/bin/python tests/data/make_exports.py`` (the SAS case
needs ``pyreadstat``, which the package itself does not: pandas reads ``.xpt`` without it).
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).parent
OUT = HERE / "exports"
sys.path.insert(0, str(HERE.parent.parent))
from tests.conftest import SMALL_COHORT  # noqa: E402


def base_tables() -> dict[str, pd.DataFrame]:
    from io import StringIO

    return {name: pd.read_csv(StringIO("\n".join(line.strip() for line in text.strip()
                                                 .splitlines())), dtype=str,
                              keep_default_na=False)
            for name, text in SMALL_COHORT.items()}


def write_csv(folder: Path, tables: dict[str, pd.DataFrame], sep: str = ",",
              encoding: str = "utf-8", names: dict[str, str] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        file = (names or {}).get(name, f"{name}.csv")
        df.to_csv(folder / file, sep=sep, index=False, encoding=encoding, lineterminator="\n")


def case_lowercase(folder: Path) -> dict:
    tables = {n: df.rename(columns=str.lower) for n, df in base_tables().items()}
    write_csv(folder, tables)
    return {"patients": 4, "notices": ["columns renamed: patient -> PATIENT"]}


def case_bom(folder: Path) -> dict:
    write_csv(folder, base_tables(), encoding="utf-8-sig")
    return {"patients": 4, "notices": ["UTF-8 byte-order mark removed"]}


def case_gender(folder: Path) -> dict:
    tables = base_tables()
    tables["tblBAS"] = tables["tblBAS"].rename(columns={"SEX": "GENDER"})
    write_csv(folder, tables)
    return {"patients": 4, "notices": ["GENDER -> SEX"], "sex_known": 3}


def case_semicolon(folder: Path) -> dict:
    write_csv(folder, base_tables(), sep=";")
    return {"patients": 4, "notices": ["semicolon-separated (detected)"]}


def case_tab_and_gzip(folder: Path) -> dict:
    tables = base_tables()
    write_csv(folder, tables, sep="\t", names={n: f"{n}.tsv" for n in tables})
    path = folder / "tblLAB_CD4.tsv"
    with path.open("rb") as src, (folder / "tblLAB_CD4.tsv.gz").open("wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return {"patients": 4, "cd4_rows": 9, "notices": ["tab-separated (detected)"]}


def case_uppercase_files(folder: Path) -> dict:
    tables = base_tables()
    write_csv(folder, tables, names={n: f"{n.upper()}.CSV" for n in tables})
    return {"patients": 4}


def case_extra_columns(folder: Path) -> dict:
    tables = base_tables()
    tables["tblLAB_CD4"]["LAB_NAME"] = "central"
    write_csv(folder, tables)
    return {"patients": 4, "notices": ["left out: LAB_NAME"]}


def case_stata(folder: Path) -> dict:
    tables = base_tables()
    write_csv(folder, {n: df for n, df in tables.items() if n not in ("tblBAS", "tblLAB_CD4")})
    bas = tables["tblBAS"].copy()
    for column in ("BIRTH_D", "AIDS_D", "RECART_D"):
        bas[column] = pd.to_datetime(bas[column].replace("", None))
    for column in ("SEX", "MODE", "AIDS_Y", "RECART_Y"):
        bas[column] = pd.to_numeric(bas[column])
    bas.to_stata(folder / "tblBAS.dta", write_index=False, version=118,
                 time_stamp=pd.Timestamp("2026-01-01").to_pydatetime(),
                 convert_dates={c: "td" for c in ("BIRTH_D", "AIDS_D", "RECART_D")})
    cd4 = tables["tblLAB_CD4"].copy()
    cd4["CD4_D"] = pd.to_datetime(cd4["CD4_D"])
    cd4[["CD4_V", "CD4_U"]] = cd4[["CD4_V", "CD4_U"]].apply(pd.to_numeric)
    cd4.to_stata(folder / "tblLAB_CD4.dta", write_index=False, version=118,
                 time_stamp=pd.Timestamp("2026-01-01").to_pydatetime(),
                 convert_dates={"CD4_D": "td"})
    return {"patients": 4, "cd4_rows": 9}


def case_sas_transport(folder: Path) -> dict:
    import pyreadstat

    tables = base_tables()
    write_csv(folder, {n: df for n, df in tables.items() if n != "tblLAB_CD4"})
    cd4 = tables["tblLAB_CD4"].copy()
    cd4["CD4_D"] = pd.to_datetime(cd4["CD4_D"]).dt.date
    cd4[["CD4_V", "CD4_U"]] = cd4[["CD4_V", "CD4_U"]].apply(pd.to_numeric)
    pyreadstat.write_xport(cd4, str(folder / "tblLAB_CD4.xpt"), table_name="CD4",
                           file_format_version=5)
    return {"patients": 4, "cd4_rows": 9}


def case_latin1(folder: Path) -> dict:
    tables = base_tables()
    tables["tblBAS"].loc[3, "PATIENT"] = "P\u00e94"
    for name in ("tblART", "tblLAB_CD4", "tblLAB_RNA", "tblLTFU"):
        tables[name]["PATIENT"] = tables[name]["PATIENT"].replace("P4", "P\u00e94")
    write_csv(folder, tables, encoding="latin-1")
    return {"patients": 4, "encoding": "latin-1",
            "without_encoding": r"tblBAS\.csv, line 5, column PATIENT, value 'byte 0xe9': "
                                r"the file is not UTF-8 text"}


def case_empty_lines(folder: Path) -> dict:
    write_csv(folder, base_tables())
    path = folder / "tblLAB_CD4.csv"
    lines = path.read_text().splitlines()
    # an empty line after the header, a note with a quoted line break, another empty line,
    # then a date written day/month/year: record 3 starts on line 7
    body = [line + ",ok" for line in lines[1:]]
    body[1] = body[1][:-len("ok")] + '"two\nlines"'
    body[2] = body[2].replace("2000-07-01", "01/07/2000")
    text = "\n".join([lines[0] + ",NOTE", "", body[0], body[1], "", *body[2:]]) + "\n"
    path.write_text(text)
    return {"error": r"tblLAB_CD4\.csv, row 3 \(line 7\), column CD4_D, value '01/07/2000': "
                     r"not an ISO date"}


def case_many_errors(folder: Path) -> dict:
    tables = base_tables()
    cd4 = pd.concat([tables["tblLAB_CD4"]] * 3, ignore_index=True)
    cd4["CD4_V"] = "<" + cd4["CD4_V"]
    tables["tblLAB_CD4"] = cd4
    tables["tblBAS"]["BIRTH_D"] = tables["tblBAS"]["BIRTH_D"].str.replace("-", "/")
    write_csv(folder, tables)
    return {"error_count": 27 + 4, "files": ["tblBAS.csv", "tblLAB_CD4.csv"]}


CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items())
         if name.startswith("case_")}


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    for name, make in CASES.items():
        folder = OUT / name
        expect = make(folder)
        (folder / "expect.yaml").write_text(yaml.safe_dump(expect, sort_keys=True))
    print(f"{len(CASES)} cases in {OUT.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
