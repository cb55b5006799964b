"""Validation of parsed HICDEP tables into the exclusion ledger.

:func:`validate_tables` works on DataFrames (from files, Parquet partitions or memory alike):
each table's row rules (its pandera schema in :mod:`immune_recovery.schemas`), its date
conventions, then the cross-table rules each table's spec names, then CD4 spikes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..conventions import CD4_ABSOLUTE_UNIT
from ..exceptions import InputError, InputErrors
from ..schemas import (
    DATE_PRECISION_CODES,
    RULE_TABLE,
    RULES,
    SENTINEL_UNKNOWN_DATE,
    TABLES,
    TableSpec,
    empty_table,
)
from .ledger import ExclusionLedger
from .parse import parse_table


def _rule_for_failure(spec: TableSpec, column: str, check: str) -> str:
    if check == "not_nullable":
        return spec.columns[column].metadata["missing_rule"]
    if check in RULES:
        return check
    # pandera labels built-in checks by their call, e.g. "isin([1, 2])"; ours carry names.
    raise RuntimeError(f"{spec.name}: unnamed failing check {check!r} on {column!r}")


#: Each table's schema (by table: the schema, the same without its table-wide checks, which
#: :func:`table_failures` runs, and without its column types).
_COLUMN_SCHEMAS: dict[str, tuple[pa.DataFrameSchema, pa.DataFrameSchema]] = {}


def _column_schema(spec: TableSpec) -> pa.DataFrameSchema:
    """``spec``'s schema for the row rules: without the table-wide checks and without the
    column types, which :func:`~.parse.parse_table` has set (pandera would check the type of
    every identifier one Python call at a time, most of the time validation takes)."""
    cached = _COLUMN_SCHEMAS.get(spec.name)
    if cached is None or cached[0] is not spec.schema:
        schema = copy.deepcopy(spec.schema)
        schema.checks = []
        for column in schema.columns.values():
            column.dtype = None
        _COLUMN_SCHEMAS[spec.name] = cached = (spec.schema, schema)
    return cached[1]


def table_failures(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The rows failing each table-wide check of ``spec``'s schema, one row per row and
    check, as pandera's failure cases name them (``schema_context``, ``column``, ``check``,
    ``index``), NA handled as pandera does (a row whose values are all missing passes).
    pandera itself reshapes a table-wide failure into one case per row and column, in a
    time that grows with the table (seconds at 30,000 patients): the same rows, faster."""
    cases = []
    for check in spec.schema.checks:
        passed = pd.Series(check._check_fn(df), index=df.index).astype(bool)
        if check.ignore_na:
            passed |= df.isna().all(axis="columns")
        failing = df.index[~passed.to_numpy()]
        cases.append(pd.DataFrame({"schema_context": "DataFrameSchema", "column": None,
                                   "check": check.name, "index": failing}))
    return pd.concat(cases, ignore_index=True) if cases else pd.DataFrame(
        columns=["schema_context", "column", "check", "index"])


def validate_table(df: pd.DataFrame, spec: TableSpec, ledger: ExclusionLedger) -> pd.DataFrame:
    """Apply ``spec``'s row rules: exclude rows (first excluding rule per row), blank values,
    flag rows; then exclude duplicates of the table's key (first row kept)."""
    try:
        _column_schema(spec).validate(df, lazy=True)
        cases = pd.DataFrame(columns=["schema_context", "column", "check", "index"])
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    table_cases = table_failures(df, spec)
    if not table_cases.empty:
        cases = table_cases if cases.empty else pd.concat([cases, table_cases],
                                                          ignore_index=True)
    if cases.empty:
        kept = df
    else:
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
        kept = df  # copied before the first value is blanked (df is the ledger's source)
        for (rule, column), group in row_cases[row_cases["action"] != "exclude"] \
                .groupby(["rule", "column"], sort=False, dropna=False):
            rows = np.unique(group["row"].to_numpy())
            column = None if column in ("", None) or column != column else str(column)
            ledger.flag(spec.name, kept.loc[rows], rule, column=column)
            if RULE_TABLE[rule].action == "blank" and column is not None:
                kept = kept.copy() if kept is df else kept
                kept.loc[rows, column] = _missing_value(kept[column])
        excluding = row_cases[row_cases["action"] == "exclude"].copy()
        order = {rule: i for i, rule in enumerate(RULES)}
        excluding["order"] = excluding["rule"].map(order)
        first_rule = excluding.sort_values(["row", "order"]).drop_duplicates("row")
        for (rule, column), group in first_rule.groupby(["rule", "column"], sort=False):
            ledger.exclude(spec.name, df.loc[group["row"].to_numpy()], rule,
                           column=None if column in ("", None) else str(column))
        kept = kept.drop(index=first_rule["row"].to_numpy())
        del df  # the table as given, let go before its duplicates are looked for
    if spec.unique:
        duplicated = duplicated_rows(kept, spec.unique)
        if duplicated.any():
            ledger.exclude(spec.name, kept[duplicated], spec.unique_rule,
                           column=spec.unique[-1])
            kept = kept[~duplicated]
    return kept


def duplicated_rows(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Rows whose ``columns`` repeat an earlier row's, the first kept and a missing value
    equal to a missing one: :meth:`pandas.DataFrame.duplicated` (``keep="first"``), by a
    stable sort of the rows' keys instead of a hash table of them. On the 26 million CD4 rows
    of a million patients, sorted by patient as exports are, pandas took 2.4 times as long
    and 1.9 GB to this function's 0.8 GB; on the same rows shuffled, both took about as long."""
    key = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for column in columns:  # the first column the most significant: a table sorted by its
        codes, uniques = pd.factorize(frame[column])  # key sorts fast; missing: -1
        size = len(uniques) + 1
        if span > np.iinfo(np.int64).max // size:  # keys beyond int64: pandas' own way
            return frame.duplicated(subset=columns, keep="first").to_numpy()
        key *= size
        key += codes
        key += 1
        span *= size
    order = np.argsort(key, kind="stable")  # equal keys in row order: the first comes first
    ordered = key[order]
    repeat = np.zeros(len(frame), dtype=bool)
    repeat[order[1:]] = ordered[1:] == ordered[:-1]
    return repeat


def _missing_value(column: pd.Series):
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.NaT
    if pd.api.types.is_extension_array_dtype(column):
        return pd.NA
    return np.nan if pd.api.types.is_float_dtype(column) else None


def check_dates(df: pd.DataFrame, spec: TableSpec, ledger: ExclusionLedger,
                close_date: pd.Timestamp) -> pd.DataFrame:
    """HICDEP date conventions: the 1911-11-11 'unknown' sentinel and precision ``U`` make a
    date missing; an unknown precision code is flagged; dates after ``close_date`` are in
    the future (ATC004): the table's primary date excludes the row, another date is set
    missing. ``df`` itself is never modified: copied before the first value is set missing."""
    given = df
    for column in spec.date_columns:
        if column not in df:
            continue
        sentinel = df[column] == SENTINEL_UNKNOWN_DATE
        if sentinel.any():
            ledger.flag(spec.name, df[sentinel], "IR-DATE-1", column)
            df = df.copy() if df is given else df
            df.loc[sentinel, column] = pd.NaT
        precision = f"{column}_A"
        if precision in df:
            codes = df[precision].astype("string").str.strip()
            unknown = (codes == "U").fillna(False)
            if unknown.any():
                ledger.flag(spec.name, df[unknown], "IR-DATE-2", column)
                df = df.copy() if df is given else df
                df.loc[unknown, column] = pd.NaT
            invalid = (codes.notna() & ~codes.isin(DATE_PRECISION_CODES)).fillna(False)
            if invalid.any():
                ledger.flag(spec.name, df[invalid], "IR-DATE-3", precision)
        future = (df[column] > close_date).fillna(False)
        if not future.any():
            continue
        if column == spec.primary_date:
            ledger.exclude(spec.name, df[future], "ATC004", column)
            df = df[~future]
        else:
            rule = "IR-BAS-6" if spec.name == "tblBAS" else "IR-DATE-4"
            ledger.flag(spec.name, df[future], rule, column)
            df = df.copy() if df is given else df
            df.loc[future, column] = pd.NaT
    return df


def flag_cd4_spikes(cd4: pd.DataFrame, ledger: ExclusionLedger,
                    spec: TableSpec = TABLES["tblLAB_CD4"]) -> None:
    """CW009: an absolute count ``spike_fold``-times and ``spike_cells`` away from both of the
    patient's neighbouring counts, in the same direction (flagged, kept); parameters from the
    table spec's ``check_params``."""
    fold, cells = spec.check_params["spike_fold"], spec.check_params["spike_cells"]
    absolute = cd4[(cd4["CD4_U"] == CD4_ABSOLUTE_UNIT).fillna(False).to_numpy()]
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
    ledger.flag(spec.name, ordered[spike], "CW009", "CD4_V")


def _dates_before_birth(tables: dict[str, pd.DataFrame], ledger: ExclusionLedger) -> None:
    """IR-DATE-5 (HICDEP ATC003): every tblBAS date and tblLTFU's last-alive date before the
    patient's birth is flagged and set missing (the patient stays; death and drop-out dates
    before birth exclude the tblLTFU row, see below)."""
    bas = tables["tblBAS"]
    birth_by_patient = bas.drop_duplicates("PATIENT").set_index("PATIENT")["BIRTH_D"]
    checks = [("tblBAS", c) for c in TABLES["tblBAS"].date_columns if c != "BIRTH_D"]
    checks += [("tblLTFU", "L_ALIVE_D")]
    for name, column in checks:
        df = tables[name]
        if df.empty or column not in df:
            continue
        birth = bas["BIRTH_D"] if name == "tblBAS" else df["PATIENT"].map(birth_by_patient)
        before = (df[column] < birth).fillna(False).astype(bool)
        if before.any():
            ledger.flag(name, df[before], "IR-DATE-5", column)
            df = df.copy()
            df.loc[before, column] = pd.NaT
            tables[name] = df


def _by_code(values: pd.Series, known: pd.Index, codes: np.ndarray) -> np.ndarray:
    """Each row's value of ``values`` (indexed by unique patients): ``codes`` are the rows'
    positions in ``known`` (-1: not there, missing)."""
    found = values.reindex(known).to_numpy()
    return np.where(codes >= 0, found[np.maximum(codes, 0)], np.array(None, dtype=found.dtype))


def _cross_table_checks(tables: dict[str, pd.DataFrame], ledger: ExclusionLedger) -> None:
    """The cross-table rules each spec names (``TableSpec.cross_table``). tblLTFU is checked
    first, so that a death or drop-out date that was itself excluded does not exclude other
    rows."""
    _dates_before_birth(tables, ledger)
    bas = tables["tblBAS"].set_index("PATIENT")
    known = pd.Index(bas.index)
    birth = bas["BIRTH_D"]
    order = ["tblLTFU"] + [n for n in tables if n not in ("tblBAS", "tblLTFU")]
    death = drop = pd.Series(dtype="datetime64[ns]")
    for name in order:
        df = tables[name]
        spec = TABLES[name]
        if df.empty:
            continue
        # each row's patient found once, every lookup by it (tblBAS's, tblLTFU's patients
        # are unique after validate_table: IR-BAS-2, IR-LTFU-2)
        codes = known.get_indexer(df["PATIENT"])

        def per_row(values: pd.Series) -> np.ndarray:
            return _by_code(values, known, codes)

        def keep(rows: np.ndarray) -> None:
            nonlocal df, codes
            if not rows.all():  # a table without such rows is not copied
                df, codes = df[rows], codes[rows]

        if "RC001" in spec.cross_table:
            orphan = codes < 0
            ledger.exclude(name, df[orphan], "RC001", column="PATIENT")
            keep(~orphan)
        if name == "tblLTFU":
            for col in ("DEATH_D", "DROP_D"):
                before = (df[col] < per_row(birth)).fillna(False).astype(bool).to_numpy()
                ledger.exclude(name, df[before], "ATC003", column=col)
                keep(~before)
            by_patient = df.set_index("PATIENT")
            death = by_patient["DEATH_D"].where(by_patient["DEATH_Y"] == 1)
            drop = by_patient["DROP_D"].where(by_patient["DROP_Y"] == 1)
        elif spec.primary_date is not None:
            col = spec.primary_date
            for rule, limit, too_far in (
                ("ATC003", birth, lambda d, lim: d < lim),
                ("ATC001", death, lambda d, lim: d > lim),
                ("ATC002", drop, lambda d, lim: d > lim),
            ):
                if rule not in spec.cross_table or limit.empty or limit.isna().all():
                    continue
                bad = too_far(df[col], per_row(limit)).fillna(False).astype(bool).to_numpy()
                ledger.exclude(name, df[bad], rule, column=col)
                keep(~bad)
            if "ATC001" in spec.cross_table and not death.empty and death.notna().any():
                for stop in (c for c in spec.date_columns if c != col and c in df):
                    after = (df[stop] > per_row(death)).fillna(False).astype(bool)
                    ledger.flag(name, df[after], "IR-DATE-6", column=stop)
        tables[name] = df


def validate_tables(frames: Mapping[str, pd.DataFrame], close_date: str | pd.Timestamp,
                    files: Mapping[str, str] | None = None, unreadable: str = "stop",
                    date_format: str | None = None, release: bool = False
                    ) -> tuple[dict[str, pd.DataFrame], ExclusionLedger, set[str]]:
    """Parse and validate HICDEP tables given as DataFrames.

    ``frames`` maps table names to raw frames (CSV text, or typed columns as Parquet or
    memory give them), in any row index: records are numbered from 1 in their order.
    ``close_date`` is the database close date: a date after it is in the future (ATC004).
    ``files`` names each table's source file in the ledger (default: the table name).
    Returns the validated tables (absent optional tables as empty frames), the ledger and the
    set of tables present.

    ``unreadable``: ``"stop"`` raises on unreadable values (every one of every table at
    once) and on a missing required table; ``"missing"`` reads on, the values left missing,
    every one of them in ``ledger.unreadable`` and summarised by pattern in
    ``ledger.issues`` (severity ``error``), a missing required table an empty table and a
    ``critical`` issue. ``date_format``: the format of text dates (default ISO).
    ``release``: take each raw frame out of ``frames`` (a dict the caller no longer needs)
    once parsed, so that a large export is never held raw, parsed and validated at once.
    """
    if unreadable not in ("stop", "missing"):
        raise ValueError(f"unreadable must be 'stop' or 'missing', got {unreadable!r}")
    close = pd.Timestamp(close_date)
    ledger = ExclusionLedger(close_date=close)
    tables: dict[str, pd.DataFrame] = {}
    present: set[str] = set()
    unknown = sorted(set(frames) - set(TABLES))
    if unknown:
        ledger.notices.append(f"tables not read by the package, ignored: {', '.join(unknown)}")
    errors: list[InputError] = []
    parsed: dict[str, pd.DataFrame] = {}
    for name, spec in TABLES.items():
        if name not in frames:
            if spec.required and unreadable == "stop":
                raise InputError(file=f"{name}", rule=f"required table {name} not given")
            if spec.required:
                ledger.issue("critical", name, f"required table {name} not found", hint=(
                    f"export {name} as {name}.csv (HICDEP field names); without it no "
                    "analysis can run"))
            tables[name] = empty_table(spec)
            continue
        present.add(name)
        label = (files or {}).get(name, name)
        ledger.files[name] = label
        raw = frames[name]
        ledger.notices += raw.attrs.get("notices", [])
        if not (isinstance(raw.index, pd.RangeIndex) and raw.index.start == 1
                and raw.index.step == 1):
            raw = raw.set_axis(pd.RangeIndex(1, len(raw) + 1, name="row"), axis=0)
        ledger.rows_read[name] = len(raw)
        if release:
            del frames[name]  # type: ignore[attr-defined]
        parsed[name] = parse_table(raw, spec, label, errors, ledger.notices, date_format)
        del raw
    if errors and unreadable == "stop":  # every unreadable value of every table, at once
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    if errors:
        _record_unreadable(InputErrors(errors), ledger)
    for name in list(parsed):  # each parsed table let go once validated
        spec = TABLES[name]
        tables[name] = validate_table(check_dates(parsed.pop(name), spec, ledger, close),
                                      spec, ledger)
    _cross_table_checks(tables, ledger)
    flag_cd4_spikes(tables["tblLAB_CD4"], ledger)
    for name in present:
        ledger.rows_used[name] = len(tables[name])
    _usable_rows(tables, present, ledger)
    return tables, ledger, present


def _record_unreadable(errors: InputErrors, ledger: ExclusionLedger) -> None:
    """Unreadable values read as missing: all of them, and one issue per pattern."""
    ledger.unreadable = errors.table()
    table_of = {label: name for name, label in ledger.files.items()}
    for row in errors.patterns().itertuples(index=False):
        ledger.issue("error", table_of.get(row.file, row.file),
                     f"{row.rule}: read as missing", column=str(row.column),
                     pattern=str(row.pattern), count=row.count, examples=row.examples,
                     hint=row.hint)


def _usable_rows(tables: dict[str, pd.DataFrame], present: set[str],
                 ledger: ExclusionLedger) -> None:
    """Critical issues when a required table has no usable row left."""
    for name, spec in TABLES.items():
        if spec.required and name in present and tables[name].empty:
            ledger.issue("critical", name, f"no usable row in {name}: every row was "
                         "excluded or unreadable", count=ledger.rows_read.get(name, 0),
                         hint="see the excluded rows by rule and the unreadable values")
    cd4 = tables["tblLAB_CD4"]
    if not cd4.empty and not (cd4["CD4_U"] == CD4_ABSOLUTE_UNIT).fillna(False).any():
        ledger.issue("critical", "tblLAB_CD4", "no CD4 count in cells/mm³ (CD4_U 1): "
                     "percentages alone cannot be analysed", count=len(cd4))
