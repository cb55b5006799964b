"""Reading, validating and writing folders of HICDEP tables.

A cohort is a folder holding one file per table, named after the table: ``tblBAS.csv``,
``tblLAB_CD4.csv``... (or ``.parquet``). ``tblBAS`` and ``tblLAB_CD4`` are required; the other
tables are optional (a cohort without ``tblLAB_RNA`` simply has no viral loads).

CSV files are UTF-8, comma-separated, with a header row of HICDEP field names; dates are ISO
``yyyy-mm-dd``; an empty field is a missing value. Reading is vectorized: each column is parsed
once for the whole table.

Every row read is accounted for: it is either used or excluded into the
:class:`ExclusionLedger` with the rule it broke (see :mod:`immune_recovery.schemas`), so that
``rows read = rows used + rows excluded`` for every table.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .exceptions import InputError
from .schemas import (
    DATE_PRECISION_CODES,
    RULE_TABLE,
    RULES,
    SENTINEL_UNKNOWN_DATE,
    TABLES,
    TableSpec,
    empty_table,
)

FORMATS = ("csv", "parquet")
DATE_FORMAT = "%Y-%m-%d"

LEDGER_COLUMNS = ["table", "file", "row", "PATIENT", "rule", "description", "column", "value"]


@dataclass
class ExclusionLedger:
    """Rows excluded from analysis (one entry per row, the first rule it broke) and rows kept
    but flagged (one entry per row and rule; ``blank`` rules also set the value missing).

    Attributes
    ----------
    entries : DataFrame
        Exclusions. Columns ``table, file, row, PATIENT, rule, description, column, value``;
        ``row`` counts data records from 1 (line ``row + 1`` of a CSV file).
    flags : DataFrame
        Flagged rows, same columns.
    rows_read, rows_used : dict
        Rows read and rows kept after all exclusions, per table.
    """

    entries: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEDGER_COLUMNS))
    flags: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEDGER_COLUMNS))
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_used: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def _record(self, table: str, rows: pd.DataFrame, rule: str,
                column: str | None) -> pd.DataFrame:
        value = (
            rows[column].astype("string").fillna("").to_numpy()
            if column is not None and column in rows
            else ""
        )
        patient = rows["PATIENT"].astype("string").fillna("").to_numpy() if "PATIENT" in rows \
            else ""
        return pd.DataFrame(
            {
                "table": table,
                "file": self.files.get(table, table),
                "row": rows.index.to_numpy(dtype=np.int64),
                "PATIENT": patient,
                "rule": rule,
                "description": RULES[rule],
                "column": column or "",
                "value": value,
            }
        )

    def exclude(self, table: str, rows: pd.DataFrame, rule: str,
                column: str | None = None) -> None:
        """Record ``rows`` (a slice of the table, indexed by record number) as excluded."""
        if not rows.empty:
            new = self._record(table, rows, rule, column)
            self.entries = new if self.entries.empty else pd.concat([self.entries, new],
                                                                    ignore_index=True)

    def flag(self, table: str, rows: pd.DataFrame, rule: str, column: str | None = None) -> None:
        """Record ``rows`` as kept but flagged by ``rule``."""
        if not rows.empty:
            new = self._record(table, rows, rule, column)
            self.flags = new if self.flags.empty else pd.concat([self.flags, new],
                                                                ignore_index=True)

    def reconciliation(self) -> pd.DataFrame:
        """Per table: rows read, used and excluded; ``rows_read == rows_used + rows_excluded``."""
        excluded = self.entries.groupby("table").size() if not self.entries.empty else {}
        flagged = self.flags.groupby("table")["row"].nunique() if not self.flags.empty else {}
        out = pd.DataFrame(
            {
                "table": list(self.rows_read),
                "file": [self.files.get(t, "") for t in self.rows_read],
                "rows_read": [self.rows_read[t] for t in self.rows_read],
                "rows_used": [self.rows_used.get(t, 0) for t in self.rows_read],
                "rows_excluded": [int(excluded.get(t, 0)) for t in self.rows_read],
                "rows_flagged": [int(flagged.get(t, 0)) for t in self.rows_read],
            }
        )
        out["reconciles"] = out["rows_read"] == out["rows_used"] + out["rows_excluded"]
        return out

    def summary(self) -> pd.DataFrame:
        """Excluded rows counted by table and rule (with the rule's description)."""
        if self.entries.empty:
            return pd.DataFrame(columns=["table", "rule", "description", "rows_excluded"])
        return (
            self.entries.groupby(["table", "rule", "description"], sort=True)
            .size()
            .rename("rows_excluded")
            .reset_index()
        )


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


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


def _first_bad(label: str, raw: pd.Series, bad: np.ndarray, column: str, rule: str,
               hint: str | None = None) -> InputError:
    position = int(np.flatnonzero(bad)[0])
    value = raw.iloc[position]
    extra = hint
    if isinstance(value, str) and value[:1] in "<>" and column.endswith("_V"):
        extra = ("HICDEP codes a result below the limit as a negative number, "
                 "e.g. -50 for '<50'")
    n_bad = int(bad.sum())
    if n_bad > 1:
        extra = (extra + "; " if extra else "") + f"{n_bad} such values in this column"
    return InputError(file=label, row=int(raw.index[position]), column=column, value=value,
                      rule=rule, hint=extra)


def _parse_column(raw: pd.Series, kind: str, label: str, column: str) -> pd.Series:
    """Parse one column of text (or an already-typed Parquet column) by its ``kind``."""
    if kind in ("id", "text"):
        if raw.dtype == object or pd.api.types.is_string_dtype(raw):
            return raw.astype(object).where(raw.notna(), None)
        # numbers used as identifiers in Parquet: render integers without ".0"
        if pd.api.types.is_float_dtype(raw) and np.all(np.mod(raw.dropna(), 1) == 0):
            raw = raw.astype("Int64")
        return raw.astype("string").astype(object).where(raw.notna(), None)
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw):
            return raw.astype("datetime64[ns]")
        text = raw.astype("string")
        parsed = pd.to_datetime(text, format=DATE_FORMAT, errors="coerce")
        bad = (text.notna() & parsed.isna()).to_numpy()
        if bad.any():
            raise _first_bad(label, raw, bad, column, "not an ISO date (yyyy-mm-dd)")
        return parsed.astype("datetime64[ns]")
    if kind in ("number", "code"):
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            parsed = raw.astype("float64")
        else:
            text = raw.astype("string")
            parsed = pd.to_numeric(text.str.strip(), errors="coerce").astype("float64")
            bad = (text.notna() & parsed.isna()).to_numpy()
            if bad.any():
                raise _first_bad(label, raw, bad, column, "not a number")
        if kind == "code":
            values = parsed.to_numpy()
            bad = ~np.isnan(values) & (np.mod(values, 1) != 0)
            if bad.any():
                raise _first_bad(label, raw, bad, column, "not an integer code")
            return parsed.astype("Int64")
        return parsed
    raise ValueError(f"unknown column kind {kind!r}")


def _infer_extra_column(raw: pd.Series) -> pd.Series:
    """Undocumented extra columns: numbers if every value parses as one, else text."""
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw):
        return raw
    parsed = pd.to_numeric(raw, errors="coerce")
    if (raw.notna() == parsed.notna()).all():
        return parsed
    if raw.dropna().astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}").all() and raw.notna().any():
        return pd.to_datetime(raw, format=DATE_FORMAT, errors="coerce")
    return raw


def parse_table(raw: pd.DataFrame, spec: TableSpec, label: str) -> pd.DataFrame:
    """Turn raw text columns into typed ones; stop with one line on an unreadable value."""
    missing = [
        name for name, col in spec.columns.items() if col.required and name not in raw.columns
    ]
    if missing:
        raise InputError(file=label, column=missing[0],
                         rule="required column missing from the header",
                         hint=f"header has: {', '.join(map(str, raw.columns[:12]))}")
    out = {}
    for name, col in spec.columns.items():
        if name in raw.columns:
            out[name] = _parse_column(raw[name], col.metadata["kind"], label, name)
        else:
            out[name] = pd.Series(index=raw.index, dtype=str(col.dtype)) \
                if col.metadata["kind"] not in ("id", "text") else \
                pd.Series(None, index=raw.index, dtype=object)
    for name in raw.columns:
        if name not in out:
            out[name] = _infer_extra_column(raw[name])
    typed = pd.DataFrame(out, index=raw.index)
    # Empty strings in identifiers count as missing.
    for name, col in spec.columns.items():
        if col.metadata["kind"] in ("id", "text"):
            typed[name] = typed[name].where(typed[name].astype("string").str.len() > 0, None)
    return typed


# --------------------------------------------------------------------------------------
# Validation into the ledger
# --------------------------------------------------------------------------------------


def _rule_for_failure(spec: TableSpec, column: str, check: str) -> str:
    if check == "not_nullable":
        return spec.columns[column].metadata["missing_rule"]
    if check in RULES:
        return check
    # pandera labels built-in checks by their call, e.g. "isin([1, 2])"; ours carry names.
    raise RuntimeError(f"{spec.name}: unnamed failing check {check!r} on {column!r}")


def validate_table(df: pd.DataFrame, spec: TableSpec, ledger: ExclusionLedger) -> pd.DataFrame:
    """Apply ``spec``'s row rules: exclude rows (first excluding rule per row), blank values,
    flag rows; then exclude duplicates of the table's key (first row kept)."""
    try:
        spec.schema.validate(df, lazy=True)
        kept = df
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        structural = cases[cases["index"].isna()]
        if not structural.empty:  # dtype problems cannot happen after parse_table
            first = structural.iloc[0]
            raise InputError(file=ledger.files.get(spec.name, spec.name),
                             column=str(first["column"]), rule=str(first["check"])) from None
        row_cases = cases[cases["index"].notna()].copy()
        row_cases["rule"] = [
            _rule_for_failure(spec, str(c) if c is not None else "", str(k))
            for c, k in zip(row_cases["column"], row_cases["check"], strict=True)
        ]
        row_cases["row"] = row_cases["index"].astype(np.int64)
        row_cases["action"] = row_cases["rule"].map(lambda r: RULE_TABLE[r].action)
        # whole-table checks report every column of a failing row: keep the rule's own column
        table_level = row_cases["schema_context"] == "DataFrameSchema"
        row_cases.loc[table_level, "column"] = row_cases.loc[table_level, "rule"].map(
            lambda r: RULE_TABLE[r].column)
        row_cases = row_cases.drop_duplicates(["row", "rule", "column"])
        kept = df.copy()
        for (rule, column), group in row_cases[row_cases["action"] != "exclude"] \
                .groupby(["rule", "column"], sort=False):
            rows = np.unique(group["row"].to_numpy())
            column = None if column in ("", None) else str(column)
            ledger.flag(spec.name, kept.loc[rows], rule, column=column)
            if RULE_TABLE[rule].action == "blank" and column is not None:
                kept.loc[rows, column] = _missing_value(kept[column])
        excluding = row_cases[row_cases["action"] == "exclude"].copy()
        order = {rule: i for i, rule in enumerate(RULES)}
        excluding["order"] = excluding["rule"].map(order)
        first_rule = excluding.sort_values(["row", "order"]).drop_duplicates("row")
        for (rule, column), group in first_rule.groupby(["rule", "column"], sort=False):
            ledger.exclude(spec.name, df.loc[group["row"].to_numpy()], rule,
                           column=None if column in ("", None) else str(column))
        kept = kept.drop(index=first_rule["row"].to_numpy())
    if spec.unique:
        duplicated = kept.duplicated(subset=spec.unique, keep="first")
        if duplicated.any():
            ledger.exclude(spec.name, kept[duplicated], spec.unique_rule,
                           column=spec.unique[-1])
            kept = kept[~duplicated]
    return kept


def _missing_value(column: pd.Series):
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.NaT
    if pd.api.types.is_extension_array_dtype(column):
        return pd.NA
    return np.nan if pd.api.types.is_float_dtype(column) else None


PRIMARY_DATE = {"tblART": "ART_SD", "tblMED": "MED_SD", "tblLAB_CD4": "CD4_D",
                "tblLAB_RNA": "RNA_D", "tblDIS": "DIS_D"}


def check_dates(df: pd.DataFrame, spec: TableSpec, ledger: ExclusionLedger,
                reference_date: pd.Timestamp) -> pd.DataFrame:
    """HICDEP date conventions: the 1911-11-11 'unknown' sentinel and precision ``U`` make a
    date missing; an unknown precision code is flagged; dates after ``reference_date`` are in
    the future (ATC004): a primary date excludes the row, another date is set missing."""
    df = df.copy()
    primary = PRIMARY_DATE.get(spec.name)
    for column in spec.date_columns:
        if column not in df:
            continue
        sentinel = df[column] == SENTINEL_UNKNOWN_DATE
        if sentinel.any():
            ledger.flag(spec.name, df[sentinel], "IR-DATE-1", column)
            df.loc[sentinel, column] = pd.NaT
        precision = f"{column}_A"
        if precision in df:
            codes = df[precision].astype("string").str.strip()
            unknown = (codes == "U").fillna(False)
            if unknown.any():
                ledger.flag(spec.name, df[unknown], "IR-DATE-2", column)
                df.loc[unknown, column] = pd.NaT
            invalid = (codes.notna() & ~codes.isin(DATE_PRECISION_CODES)).fillna(False)
            if invalid.any():
                ledger.flag(spec.name, df[invalid], "IR-DATE-3", precision)
        future = (df[column] > reference_date).fillna(False)
        if not future.any():
            continue
        if column == primary:
            ledger.exclude(spec.name, df[future], "ATC004", column)
            df = df[~future]
        else:
            rule = "IR-BAS-6" if spec.name == "tblBAS" else "IR-DATE-4"
            ledger.flag(spec.name, df[future], rule, column)
            df.loc[future, column] = pd.NaT
    return df


def flag_cd4_spikes(cd4: pd.DataFrame, ledger: ExclusionLedger, fold: float = 2.5,
                    cells: float = 300.0) -> None:
    """CW009: an absolute count ``fold``-times and ``cells`` away from both of the patient's
    neighbouring counts, in the same direction (flagged, kept)."""
    absolute = cd4[(cd4["CD4_U"] == 1).fillna(False).to_numpy()]
    if len(absolute) < 3:
        return
    ordered = absolute.sort_values(["PATIENT", "CD4_D"], kind="stable")
    value = ordered["CD4_V"].to_numpy(dtype=float)
    patient = ordered["PATIENT"].astype(str).to_numpy()
    prev_v, next_v = np.roll(value, 1), np.roll(value, -1)
    same_prev = np.roll(patient, 1) == patient
    same_next = np.roll(patient, -1) == patient
    same_prev[0] = same_next[-1] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        up = (value >= fold * prev_v) & (value >= fold * next_v) & \
            (value - np.maximum(prev_v, next_v) >= cells)
        down = (fold * value <= prev_v) & (fold * value <= next_v) & \
            (np.minimum(prev_v, next_v) - value >= cells)
    spike = same_prev & same_next & (up | down)
    ledger.flag("tblLAB_CD4", ordered[spike], "CW009", "CD4_V")


def _cross_table_checks(tables: dict[str, pd.DataFrame], ledger: ExclusionLedger) -> None:
    """RC001 (patient not in tblBAS), ATC003 (before birth), ATC001/ATC002 (after death or
    drop-out). tblLTFU is checked first, so that a death or drop-out date that was itself
    excluded does not exclude other rows."""
    bas = tables["tblBAS"].set_index("PATIENT")
    known = pd.Index(bas.index)
    birth = bas["BIRTH_D"]
    order = ["tblLTFU"] + [n for n in tables if n not in ("tblBAS", "tblLTFU")]
    death = drop = pd.Series(dtype="datetime64[ns]")
    for name in order:
        df = tables[name]
        if df.empty:
            continue
        orphan = ~df["PATIENT"].isin(known)
        ledger.exclude(name, df[orphan], "RC001", column="PATIENT")
        df = df[~orphan]
        if name == "tblLTFU":
            for col in ("DEATH_D", "DROP_D"):
                before = (df[col] < df["PATIENT"].map(birth)).fillna(False).astype(bool)
                ledger.exclude(name, df[before], "ATC003", column=col)
                df = df[~before]
            by_patient = df.set_index("PATIENT")
            death = by_patient["DEATH_D"].where(by_patient["DEATH_Y"] == 1)
            drop = by_patient["DROP_D"].where(by_patient["DROP_Y"] == 1)
        elif name in PRIMARY_DATE:
            col = PRIMARY_DATE[name]
            for rule, limit, too_far in (
                ("ATC003", birth, lambda d, lim: d < lim),
                ("ATC001", death, lambda d, lim: d > lim),
                ("ATC002", drop, lambda d, lim: d > lim),
            ):
                if limit.empty or limit.isna().all():
                    continue
                bad = too_far(df[col], df["PATIENT"].map(limit)).fillna(False).astype(bool)
                ledger.exclude(name, df[bad], rule, column=col)
                df = df[~bad]
        tables[name] = df


def read_tables(folder: str | Path, reference_date: str | pd.Timestamp | None = None
                ) -> tuple[dict[str, pd.DataFrame], ExclusionLedger, set[str]]:
    """Read, parse and validate every table in ``folder``.

    ``reference_date`` (default: today) is the date after which a date is in the future.
    Returns the validated tables (absent optional tables as empty frames), the ledger, and the
    set of table names that were present as files.
    """
    reference = pd.Timestamp(reference_date) if reference_date is not None else \
        pd.Timestamp.today().normalize()
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(file=str(folder), rule="no such folder of HICDEP tables")
    ledger = ExclusionLedger()
    tables: dict[str, pd.DataFrame] = {}
    present: set[str] = set()
    for name, spec in TABLES.items():
        path = find_table_file(folder, name)
        if path is None:
            if spec.required:
                raise InputError(file=str(folder / f"{name}.csv"),
                                 rule=f"required table {name} not found (.csv or .parquet)")
            tables[name] = empty_table(spec)
            continue
        present.add(name)
        ledger.files[name] = path.name
        raw = read_raw_table(path)
        ledger.rows_read[name] = len(raw)
        typed = check_dates(parse_table(raw, spec, path.name), spec, ledger, reference)
        tables[name] = validate_table(typed, spec, ledger)
    _cross_table_checks(tables, ledger)
    flag_cd4_spikes(tables["tblLAB_CD4"], ledger)
    for name in present:
        ledger.rows_used[name] = len(tables[name])
    return tables, ledger, present


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
