"""HICDEP tables in one frame, for engines whose data model is one table per site (vantage6
gives an algorithm one DataFrame per database): the rows of every table stacked, a column
:data:`TABLE_COLUMN` naming the table each row came from, the union of their columns (missing
where a table has no such column).

A site exports ``stack_tables(read_folder(export)[0])`` once (as CSV or, keeping the types,
Parquet) and names the file as its node's database; :func:`unstack_tables` gives the tables
back as :func:`~immune_recovery.hicdep.validate_tables` takes them, every row numbered in its
table's order as in a file of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..exceptions import InputError
from ..schemas import TABLES

#: The column that names each row's HICDEP table.
TABLE_COLUMN = "HICDEP_TABLE"


def stack_tables(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One frame of every table's rows (tables in :data:`~immune_recovery.schemas.TABLES`
    order, then any other by name)."""
    order = [t for t in TABLES if t in tables] + sorted(set(tables) - set(TABLES))
    parts = [tables[t].reset_index(drop=True).assign(**{TABLE_COLUMN: t}) for t in order]
    frame = pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame()
    return frame[[TABLE_COLUMN, *[c for c in frame.columns if c != TABLE_COLUMN]]]


def unstack_tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables of a stacked frame: each one's rows, with the columns of its HICDEP
    specification that the frame has and every other column holding a value in its rows."""
    if TABLE_COLUMN not in frame.columns:
        raise InputError(file="the site's database", column=TABLE_COLUMN,
                         rule=f"a stacked HICDEP frame names each row's table in "
                              f"{TABLE_COLUMN}")
    names = frame[TABLE_COLUMN].astype("string").str.strip()
    unnamed = names.isna() | (names == "")
    if unnamed.any():
        raise InputError(file="the site's database", column=TABLE_COLUMN,
                         row=int(unnamed.to_numpy().argmax()) + 1,
                         rule=f"{int(unnamed.sum())} rows name no table",
                         hint="every row of a stacked frame belongs to one HICDEP table")
    tables = {}
    for name in pd.unique(names.dropna()):
        rows = frame[names == name].drop(columns=TABLE_COLUMN)
        spec = TABLES.get(name)
        own = set(spec.schema.columns) if spec is not None else set()
        keep = [c for c in rows.columns if c in own or rows[c].notna().any()]
        tables[str(name)] = rows[keep].reset_index(drop=True)
    return tables
