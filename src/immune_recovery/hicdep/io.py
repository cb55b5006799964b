"""Reading and writing HICDEP table files (CSV and Parquet), without interpreting values.

A cohort is a folder holding one file per table, named after the table: ``tblBAS.csv``,
``tblLAB_CD4.csv``... (or ``.parquet``). CSV files are UTF-8, comma-separated, with a header row
of HICDEP field names; dates are ISO ``yyyy-mm-dd``; an empty field is a missing value.
Records are numbered from 1 (``row``; line ``row + 1`` of a CSV file).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..schemas import TABLES

FORMATS = ("csv", "parquet")
DATE_FORMAT = "%Y-%m-%d"


def find_table_file(folder: Path, table: str) -> Path | None:
    """The file holding ``table`` in ``folder`` (``.csv`` preferred over ``.parquet``)."""
    found = [folder / f"{table}.{fmt}" for fmt in FORMATS if (folder / f"{table}.{fmt}").is_file()]
    if len(found) > 1:
        raise InputError(
            file=str(folder / table),
            rule="the table is given twice (both .csv and .parquet); keep one",
        )
    return found[0] if found else None


def _read_csv_text(path: Path) -> pd.DataFrame:
    label = path.name
    try:
        with path.open("r", encoding="utf-8", newline="") as handle:
            header_line = handle.readline()
    except UnicodeDecodeError as err:
        raise InputError(file=label, rule="the file is not UTF-8 text",
                         hint=f"byte {err.start} of the header cannot be decoded") from None
    if not header_line.strip():
        raise InputError(file=label, rule="the file is empty (no header row)")
    header = next(csv.reader([header_line]))
    if len(header) == 1 and any(sep in header_line for sep in (";", "\t", "|")):
        raise InputError(
            file=label,
            row=None,
            column=None,
            value=header_line.strip()[:60],
            rule="the header has one column: the file is not comma-separated",
            hint="HICDEP CSV files use commas between fields",
        )
    try:
        raw = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8",
            engine="c",
        )
    except UnicodeDecodeError as err:
        raise InputError(file=label, rule="the file is not UTF-8 text",
                         hint=f"undecodable byte at offset {err.start}") from None
    except pd.errors.ParserError as err:
        raise InputError(file=label, rule=f"malformed CSV: {str(err).strip()}") from None
    return raw


def _csv_header(path: Path) -> list[str]:
    """The header row as written (pandas renames repeated names to ``NAME.1``)."""
    with path.open("r", encoding="utf-8", newline="") as handle:
        return next(csv.reader([handle.readline()]))


def read_raw_table(path: Path) -> pd.DataFrame:
    """Read one table file without interpreting values (CSV: all text)."""
    if path.suffix == ".parquet":
        try:
            raw = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several unrelated types
            raise InputError(file=path.name, rule=f"unreadable Parquet file: {err}") from None
    else:
        raw = _read_csv_text(path)
    header = list(raw.columns) if path.suffix == ".parquet" else _csv_header(path)
    header = [str(c).strip() for c in header]
    duplicated = pd.Index(header)[pd.Index(header).duplicated()]
    if len(duplicated):
        raise InputError(file=path.name, column=str(duplicated[0]),
                         rule="the column appears twice in the header")
    raw.columns = header
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row")
    return raw


def read_folder(folder: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every known table file in ``folder``, unparsed: ``({table: raw frame}, {table: file
    name})``. A missing required table stops with :class:`InputError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(file=str(folder), rule="no such folder of HICDEP tables")
    raw: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for name, spec in TABLES.items():
        path = find_table_file(folder, name)
        if path is None:
            if spec.required:
                raise InputError(file=str(folder / f"{name}.csv"),
                                 rule=f"required table {name} not found (.csv or .parquet)")
            continue
        files[name] = path.name
        raw[name] = read_raw_table(path)
    return raw, files


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _for_csv(df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for name, col in df.items():
        if pd.api.types.is_datetime64_any_dtype(col):
            out[name] = col.dt.strftime(DATE_FORMAT)
        elif pd.api.types.is_float_dtype(col):
            values = col.to_numpy()
            finite = values[~np.isnan(values)]
            out[name] = col.astype("Int64") if np.all(np.mod(finite, 1) == 0) else col
        else:
            out[name] = col
    return pd.DataFrame(out)


def write_tables(folder: str | Path, tables: Mapping[str, pd.DataFrame],
                 fmt: str = "csv") -> list[Path]:
    """Write HICDEP tables to ``folder`` as ``<table>.csv`` (or ``.parquet``); same input,
    same bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            _for_csv(df).to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
        else:
            df.reset_index(drop=True).to_parquet(path, index=False)
        written.append(path)
    return written
