"""Reading and writing HICDEP table files, without interpreting values.

A cohort is a folder holding one file per table, named after the table, in any case:
``tblBAS.csv``, ``TBLBAS.csv``, ``tblbas.tsv``... Accepted, as real exports come:

* text: ``.csv``, ``.tsv``, ``.txt`` (and the same gzip-compressed, ``.csv.gz``), UTF-8 with
  or without a byte-order mark, or another encoding given with ``encoding``; the separator
  (comma, semicolon, tab or ``|``) detected from the header unless ``sep`` is given; empty
  lines skipped and line breaks inside quoted fields allowed, with every record's physical
  line number kept for messages; a UTF-8 file whose every line is one record is read by
  Arrow's CSV reader and kept as Arrow text (no Python string per value: a million patients
  fit in memory), any other by the csv module;
* Parquet (``.parquet``), Stata (``.dta``) and SAS (``.sas7bdat``, ``.xpt`` transport), via
  pandas' readers;
* header names matched case-insensitively after trimming; older names mapped to current ones
  (:data:`SYNONYMS`); columns no table of the package knows kept out (except in tblSTUDY, the
  project's open table). Every renaming and every column left out is listed in the ledger's
  notices (``raw.attrs["notices"]``).

Records are numbered from 1 (``row``); ``raw.attrs["lines"]`` gives each record's line.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..exceptions import InputError
from ..schemas import TABLES

FORMATS = ("csv", "parquet")
DATE_FORMAT = "%Y-%m-%d"
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
READ_SUFFIXES = (*TEXT_SUFFIXES, *(f"{s}.gz" for s in TEXT_SUFFIXES), ".parquet", ".dta",
                 ".sas7bdat", ".xpt")
SEPARATORS = (",", ";", "\t", "|")
#: Older HICDEP / IeDEA-DES column names and the current name, per table (HICDEP and the
#: IeDEA-DES code list mark ``GENDER`` deprecated in favour of ``SEX``).
SYNONYMS: dict[str, dict[str, str]] = {"tblBAS": {"GENDER": "SEX"}}
#: Tables whose undocumented columns are kept (tblSTUDY carries each data set's own fields).
OPEN_TABLES = ("tblSTUDY",)


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(READ_SUFFIXES, key=len, reverse=True)
                 if name.endswith(s)), None)


def find_table_file(folder: Path, table: str) -> Path | None:
    """The file holding ``table`` in ``folder``: its name is the table's, in any case, with
    one of :data:`READ_SUFFIXES`; two such files are an error."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and _suffix(p) is not None
                   and p.name[:-len(_suffix(p))].lower() == table.lower())
    if len(found) > 1:
        raise InputError(
            file=str(folder / table),
            rule=f"the table is given twice ({', '.join(p.name for p in found)}); keep one",
        )
    return found[0] if found else None


def _detect_separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] > 0 else ","


def _decode(data: bytes, label: str, encoding: str | None, sep: str | None) -> str:
    """Bytes to text; a bad byte is reported with its line and column."""
    name = encoding or "utf-8"
    try:
        return data.decode(name)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        start = data.rfind(b"\n", 0, err.start) + 1
        first = data.split(b"\n", 1)[0].decode(name, errors="replace").rstrip("\r")
        separator = sep or _detect_separator(first)
        header = next(csv.reader([first], delimiter=separator), [])
        index = data.count(separator.encode(), start, err.start)
        column = header[index].strip() if line > 1 and index < len(header) else None
        raise InputError(
            file=label, line=line, column=column, value=f"byte 0x{data[err.start]:02x}",
            rule=f"the file is not {'UTF-8' if encoding is None else encoding} text",
            hint="save it as UTF-8, or give its encoding (--encoding, e.g. latin-1)") from None
    except LookupError:
        raise InputError(file=label, rule=f"unknown encoding {encoding!r}") from None


def _records(text: str, sep: str, label: str) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    """Header, records (all text) and each record's physical line, by the csv module (empty
    lines skipped, line breaks inside quoted fields allowed): the reader for files
    :func:`_arrow_records` does not take, and the one whose messages name lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows, lines, header, line = [], [], None, 1
    for record in reader:
        start, line = line, reader.line_num + 1
        if not record or record == [""]:
            continue
        if header is None:
            header = record
            continue
        if len(record) != len(header):
            raise InputError(file=label, line=start,
                             rule=f"malformed CSV: expected {len(header)} fields, "
                                  f"saw {len(record)}")
        rows.append(record)
        lines.append(start)
    if header is None:
        raise InputError(file=label, rule="the file is empty (no header row)")
    body = pd.DataFrame(rows, columns=range(len(header)), dtype=object)
    body = body.where(body != "", None) if len(body) else body
    return header, body, np.asarray(lines, dtype=np.int64)


def _arrow_records(data: bytes, sep: str, first: str
                   ) -> tuple[list[str], pd.DataFrame, np.ndarray] | None:
    """What :func:`_records` returns, read by Arrow's CSV reader into Arrow text columns
    (compact: no Python string per value; an empty field is missing, as there), for a UTF-8
    file whose every physical line is one record; ``None`` for any other file (empty lines,
    line breaks inside quoted fields, a malformed record, a byte that is not UTF-8, which
    Arrow checks), which :func:`_records` reads and reports on. ``first``: the header line."""
    header = next(csv.reader([first], delimiter=sep), [])
    if not header:
        return None
    names = [f"f{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if table.num_rows != physical:  # empty lines skipped or a record spanning lines
        return None
    header = [str(v) if v is not None else "" for v in table.slice(0, 1).to_pylist()[0]
              .values()]
    body = table.slice(1).to_pandas(types_mapper=pd.ArrowDtype)
    body.columns = range(len(header))
    return header, body, np.arange(2, len(body) + 2)


def _read_text(path: Path, encoding: str | None, sep: str | None
               ) -> tuple[pd.DataFrame, list[str], list[str]]:
    label = path.name
    data = path.read_bytes()
    notices = []
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise InputError(file=label, rule=f"not a readable gzip file ({err})") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        notices.append(f"{label}: UTF-8 byte-order mark removed")
    utf8 = encoding is None or _codec(encoding, label) == "utf-8"
    head = data[:data.find(b"\n")] if b"\n" in data[:1 << 20] else data[:1 << 20]
    first = head.decode("utf-8", errors="replace").rstrip("\r")
    separator = sep or _detect_separator(first)
    fast = _arrow_records(data, separator, first) if utf8 and first.strip() else None
    if fast is None:
        text = _decode(data, label, encoding, sep)
        if not text.strip():
            raise InputError(file=label, rule="the file is empty (no header row)")
        first = text.lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
        separator = sep or _detect_separator(first)
    if separator != ",":
        shown = {"\t": "tab", ";": "semicolon", "|": "vertical bar"}.get(separator, separator)
        notices.append(f"{label}: {shown}-separated" + ("" if sep else " (detected)"))
    header, body, lines = fast if fast is not None else _records(text, separator, label)
    body.attrs["lines"] = lines
    return body, header, notices


def _codec(encoding: str, label: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputError(file=label, rule=f"unknown encoding {encoding!r}") from None


def _read_other(path: Path, suffix: str, encoding: str | None) -> pd.DataFrame:
    label = path.name
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".dta":
            return pd.read_stata(path, convert_categoricals=False)
        raw = pd.read_sas(path, format="xport" if suffix == ".xpt" else "sas7bdat",
                          encoding=encoding or "utf-8")
        for column in raw.columns:  # SAS dates left as numbers: days since 1960-01-01
            if str(column).upper().endswith("_D") and pd.api.types.is_numeric_dtype(raw[column]):
                raw[column] = pd.to_datetime(raw[column], unit="D", origin="1960-01-01")
        return raw
    except Exception as err:  # the readers raise many unrelated types
        kind = {".parquet": "Parquet", ".dta": "Stata", ".xpt": "SAS transport",
                ".sas7bdat": "SAS"}[suffix]
        raise InputError(file=label, rule=f"unreadable {kind} file: {err}") from None


def normalise_header(header: list[str], table: str, label: str
                     ) -> tuple[list[str | None], list[str]]:
    """Each column's HICDEP name (``None``: kept out) and the notices saying what changed."""
    spec = TABLES.get(table)
    known = set(spec.columns) if spec is not None else set()
    known |= {f"{c}_A" for c in (spec.date_columns if spec is not None else ())}
    synonyms = SYNONYMS.get(table, {})
    names, renamed, dropped = [], [], []
    for original in header:
        clean = str(original).replace("\ufeff", "").strip()
        name = clean.upper()
        name = synonyms.get(name, name)
        if name in known or table in OPEN_TABLES:
            names.append(name)
            if name != clean:
                renamed.append(f"{clean} -> {name}")
        else:
            names.append(None)
            dropped.append(clean)
    duplicated = pd.Index([n for n in names if n]).duplicated()
    if duplicated.any():
        column = pd.Index([n for n in names if n])[duplicated][0]
        raise InputError(file=label, column=str(column),
                         rule="the column appears twice in the header")
    notices = []
    if renamed:
        notices.append(f"{label}: columns renamed: {', '.join(renamed)}")
    if dropped:
        notices.append(f"{label}: columns not in HICDEP {table}, left out: {', '.join(dropped)}")
    return names, notices


def read_raw_table(path: Path, table: str | None = None, encoding: str | None = None,
                   sep: str | None = None) -> pd.DataFrame:
    """Read one table file without interpreting values (text files: all text). ``table``
    (default: the file's name) decides which columns are known; ``attrs`` carry ``lines``
    (each record's line, text files) and ``notices``."""
    suffix = _suffix(path) or path.suffix.lower()
    table = table or next((t for t in TABLES if t.lower() == path.name[:-len(suffix)].lower()),
                          path.stem)
    notices: list[str] = []
    if suffix in READ_SUFFIXES and suffix not in (".parquet", ".dta", ".sas7bdat", ".xpt"):
        raw, header, notices = _read_text(path, encoding, sep)
    else:
        raw = _read_other(path, suffix, encoding)
        header = [str(c) for c in raw.columns]
    lines = raw.attrs.get("lines")
    names, more = normalise_header(header, table, path.name)
    keep = [i for i, n in enumerate(names) if n]
    raw = raw.iloc[:, keep]
    raw.columns = [names[i] for i in keep]
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row")
    raw.attrs = {"lines": lines, "notices": notices + more}
    return raw


def read_folder(folder: str | Path, encoding: str | None = None, sep: str | None = None,
                require: bool = True) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every known table file in ``folder``, unparsed: ``({table: raw frame}, {table: file
    name})``. A missing required table stops with :class:`InputError` (with ``require``;
    without, it is simply absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(file=str(folder), rule="no such folder of HICDEP tables")
    raw: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for name, spec in TABLES.items():
        path = find_table_file(folder, name)
        if path is None:
            if spec.required and require:
                raise InputError(file=str(folder / f"{name}.csv"),
                                 rule=f"required table {name} not found "
                                      f"({', '.join(READ_SUFFIXES)})")
            continue
        files[name] = path.name
        raw[name] = read_raw_table(path, name, encoding, sep)
    return raw, files


def unread_files(folder: str | Path, files: Mapping[str, str]) -> list[str]:
    """The files of ``folder`` that are not one of the tables read (``tblLAB``, ``tblVIS``,
    a README...), hidden files left out."""
    read = set(files.values())
    return sorted(p.name for p in Path(folder).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.name not in read)


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
