"""Write tests/data/bad/: one small malformed HICDEP cohort per problem, with its expectation.

Each case starts from the valid cohort of tests/conftest.py (SMALL_COHORT), changes one thing,
and writes ``expect.yaml``: the problem, the exit status of ``immune-recovery validate``, and
either the error message (a regular expression) or the rows that must be excluded or flagged.
Rerun after changing a case: ``.venv/bin/python tests/data/make_bad_corpus.py``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent.parent))
from tests.conftest import SMALL_COHORT, write_csv_tables  # noqa: E402

OUT = HERE / "bad"


def append(table: str, line: str):
    def change(folder: Path) -> None:
        path = folder / f"{table}.csv"
        path.write_text(path.read_text() + line + "\n")
    return change


def replace(table: str, old: str, new: str):
    def change(folder: Path) -> None:
        path = folder / f"{table}.csv"
        text = path.read_text()
        assert old in text, (table, old)
        path.write_text(text.replace(old, new, 1))
    return change


def drop_column(table: str, column: str):
    def change(folder: Path) -> None:
        path = folder / f"{table}.csv"
        lines = path.read_text().splitlines()
        index = lines[0].split(",").index(column)
        path.write_text("\n".join(",".join(c for i, c in enumerate(line.split(","))
                                           if i != index) for line in lines) + "\n")
    return change


def remove(table: str):
    return lambda folder: (folder / f"{table}.csv").unlink()


def write_bytes(table: str, data: bytes):
    return lambda folder: (folder / f"{table}.csv").write_bytes(data)


def retext(table: str, fn):
    def change(folder: Path) -> None:
        path = folder / f"{table}.csv"
        path.write_text(fn(path.read_text()))
    return change


def also_parquet(table: str):
    def change(folder: Path) -> None:
        import pandas as pd
        pd.read_csv(folder / f"{table}.csv").to_parquet(folder / f"{table}.parquet")
    return change


def dis_table(rows: list[str]):
    def change(folder: Path) -> None:
        (folder / "tblDIS.csv").write_text("PATIENT,DIS_ID,DIS_D\n" + "\n".join(rows) + "\n")
    return change


def error(message: str) -> dict:
    return {"exit_code": 2, "message": message}


def ledger(excluded=(), flagged=(), exit_code=0) -> dict:
    return {"exit_code": exit_code,
            "excluded": [dict(zip(("table", "row", "rule"), e, strict=True)) for e in excluded],
            "flagged": [dict(zip(("table", "rule"), f, strict=True)) for f in flagged]}


CASES = {
    # --- unreadable input: one line, exit status 2 ------------------------------------
    "missing_bas_file": ("tblBAS.csv is missing", remove("tblBAS"),
                         error(r"required table tblBAS not found")),
    "missing_cd4_file": ("tblLAB_CD4.csv is missing", remove("tblLAB_CD4"),
                         error(r"required table tblLAB_CD4 not found")),
    "missing_column_cd4_u": ("tblLAB_CD4 has no CD4_U column", drop_column("tblLAB_CD4", "CD4_U"),
                             error(r"tblLAB_CD4\.csv, column CD4_U: required column missing")),
    "missing_column_patient": ("tblBAS has no PATIENT column", drop_column("tblBAS", "PATIENT"),
                               error(r"tblBAS\.csv, column PATIENT: required column missing")),
    "semicolon_delimiter": ("tblLAB_CD4 separated by semicolons (accepted: detected)",
                            retext("tblLAB_CD4", lambda t: t.replace(",", ";")), ledger()),
    "tab_delimiter": ("tblBAS separated by tabs (accepted: detected)",
                      retext("tblBAS", lambda t: t.replace(",", "\t")), ledger()),
    "latin1_encoding": ("tblBAS written in Latin-1", write_bytes(
        "tblBAS", b"PATIENT,BIRTH_D,SEX\nP1,1960-01-01,1\nP\xe92,1970-06-15,2\n"),
        error(r"tblBAS\.csv, line 3, column PATIENT, value 'byte 0xe9': the file is not "
              r"UTF-8 text")),
    "empty_file": ("tblLAB_RNA is an empty file", write_bytes("tblLAB_RNA", b""),
                   error(r"tblLAB_RNA\.csv: the file is empty")),
    "non_iso_date": ("a CD4 date written 07/01/2000", replace("tblLAB_CD4", "2000-07-01,260",
                                                            "07/01/2000,260"),
                     error(r"tblLAB_CD4\.csv, row 3 \(line 4\), column CD4_D, value '07/01/2000': "
                           r"not an ISO date")),
    "impossible_date": ("a CD4 date 2000-02-30", replace("tblLAB_CD4", "2000-02-20,120",
                                                        "2000-02-30,120"),
                        error(r"row 6 \(line 7\), column CD4_D, value '2000-02-30'")),
    "rna_written_lt50": ("an RNA result written '<50'", replace("tblLAB_RNA", "-50,50", "<50,50"),
                         error(r"tblLAB_RNA\.csv, row 2 .*column RNA_V, value '<50': not a number "
                               r"\(HICDEP codes a result below the limit as a negative number")),
    "cd4_text_value": ("a CD4 value 'abc'", replace("tblLAB_CD4", "2000-09-01,200", "2000-09-01,abc"),
                       error(r"row 7 \(line 8\), column CD4_V, value 'abc': not a number")),
    "sex_decimal": ("SEX = 1.5", replace("tblBAS", "P3,1980-01-01,1,", "P3,1980-01-01,1.5,"),
                    error(r"tblBAS\.csv, row 3 .*column SEX, value '1.5': not an integer code")),
    "duplicate_column": ("tblLTFU has DEATH_D twice", retext(
        "tblLTFU", lambda t: t.replace("L_ALIVE_D", "DEATH_D", 1)),
        error(r"tblLTFU\.csv, column DEATH_D: the column appears twice")),
    "ragged_row": ("a CD4 row with an extra field", replace("tblLAB_CD4", "P1,2000-01-05,180,1",
                                                          "P1,2000-01-05,180,1,7"),
                   error(r"tblLAB_CD4\.csv, line 3: malformed CSV: expected 4 fields, saw 5")),
    "csv_and_parquet": ("tblLTFU given as both CSV and Parquet", also_parquet("tblLTFU"),
                        error(r"tblLTFU: the table is given twice")),
    # --- implausible rows: excluded into the ledger, exit status 0 ----------------------
    "cd4_percent_as_count": ("a CD4 percent of 350 (CD4_U = 2)", append("tblLAB_CD4",
                             "P1,2000-08-01,350,2"), ledger([("tblLAB_CD4", 10, "CW007")])),
    "negative_cd4": ("a negative CD4 count", append("tblLAB_CD4", "P1,2000-08-01,-5,1"),
                     ledger([("tblLAB_CD4", 10, "CW001")])),
    "huge_cd4": ("a CD4 count of 90000", append("tblLAB_CD4", "P1,2000-08-01,90000,1"),
                 ledger([("tblLAB_CD4", 10, "CW001")])),
    "cd4_unit_code_3": ("CD4_U = 3", append("tblLAB_CD4", "P1,2000-08-01,300,3"),
                        ledger([("tblLAB_CD4", 10, "CW006")])),
    "missing_cd4_date": ("a CD4 row without a date", append("tblLAB_CD4", "P1,,300,1"),
                         ledger([("tblLAB_CD4", 10, "CW003")])),
    "duplicated_cd4_row": ("the same CD4 row twice", append("tblLAB_CD4", "P2,2000-09-01,200,1"),
                           ledger([("tblLAB_CD4", 10, "CW002")])),
    "huge_rna": ("an RNA of 200 million copies/mL", append("tblLAB_RNA",
                 "P1,2000-08-01,200000000,50"), ledger([("tblLAB_RNA", 5, "RW006")])),
    "duplicated_rna_date": ("two RNA results on one day", append("tblLAB_RNA",
                            "P1,2000-07-01,400,50"), ledger([("tblLAB_RNA", 5, "RW001")])),
    "unknown_patient": ("a CD4 count of a patient not in tblBAS", append("tblLAB_CD4",
                        "P9,2000-08-01,300,1"), ledger([("tblLAB_CD4", 10, "RC001")])),
    "art_stops_before_start": ("ART_ED before ART_SD", append("tblART",
                               "P1,J05AF05,2000-05-01,2000-04-01"),
                               ledger([("tblART", 5, "IR-ART-2")])),
    "non_antiretroviral_art": ("TMP/SMX (J01EE01) in tblART", append("tblART",
                               "P1,J01EE01,2000-05-01,"), ledger([("tblART", 5, "IR-ART-3")])),
    "lab_before_birth": ("a CD4 count dated before birth", append("tblLAB_CD4",
                         "P1,1950-08-01,300,1"), ledger([("tblLAB_CD4", 10, "ATC003")])),
    "lab_after_death": ("a CD4 count dated after death", append("tblLAB_CD4",
                        "P2,2001-07-01,300,1"), ledger([("tblLAB_CD4", 10, "ATC001")])),
    "lab_after_dropout": ("a CD4 count dated after drop-out", append("tblLAB_CD4",
                          "P3,2002-03-01,300,1"), ledger([("tblLAB_CD4", 10, "ATC002")])),
    "death_before_birth": ("death dated before birth", replace("tblLTFU", "P2,0,,1,2001-06-01,",
                           "P2,0,,1,1950-06-01,"), ledger([("tblLTFU", 2, "ATC003")])),
    "death_without_date": ("DEATH_Y = 1 without DEATH_D", replace("tblLTFU", "P1,0,,0,,2002-01-01",
                           "P1,0,,1,,2002-01-01"), ledger([("tblLTFU", 1, "IR-LTFU-4")])),
    "duplicate_patient": ("P1 twice in tblBAS", append("tblBAS",
                          "P1,1961-01-01,1,1,0,,1,2000-01-01"), ledger([("tblBAS", 5, "IR-BAS-2")])),
    "event_in_future": ("an AIDS-defining event dated 2099",
                        dis_table(["P1,PCP,2001-01-01", "P1,KS,2099-01-01"]),
                        ledger([("tblDIS", 2, "ATC004")])),
    "event_before_art": ("an AIDS-defining event before ART start (prior AIDS, kept)",
                         dis_table(["P1,PCP,1999-06-01"]), ledger()),
    # no usable CD4 count: validate says so and exits 1 (no analysis can run)
    "empty_cd4_table": ("tblLAB_CD4 with a header and no rows", write_bytes(
        "tblLAB_CD4", b"PATIENT,CD4_D,CD4_V,CD4_U\n"), ledger(exit_code=1)),
    # --- questionable rows: kept, flagged -----------------------------------------------
    "sentinel_birth_date": ("birth date 1911-11-11 (HICDEP 'unknown')", replace(
        "tblBAS", "P4,1975-01-01", "P4,1911-11-11"), ledger(flagged=[("tblBAS", "IR-DATE-1")])),
    "unknown_sex_code": ("SEX = 7", replace("tblBAS", "P3,1980-01-01,1,", "P3,1980-01-01,7,"),
                         ledger(flagged=[("tblBAS", "IR-BAS-3")])),
    "detectable_below_limit": ("RNA 40 copies/mL with an assay limit of 50", append(
        "tblLAB_RNA", "P1,2000-08-01,40,50"), ledger(flagged=[("tblLAB_RNA", "RW007")])),
    "cd4_spike": ("a CD4 count of 900 between 120 and 200", append("tblLAB_CD4",
                  "P2,2000-05-01,900,1"), ledger(flagged=[("tblLAB_CD4", "CW009")])),
}


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    for name, (problem, change, expect) in sorted(CASES.items()):
        folder = write_csv_tables(OUT / name, SMALL_COHORT)
        change(folder)
        (folder / "expect.yaml").write_text(yaml.safe_dump({"problem": problem, **expect},
                                                           sort_keys=False, allow_unicode=True))
    print(f"{len(CASES)} cases in {OUT.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
