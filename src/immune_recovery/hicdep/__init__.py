"""HICDEP tables: reading and writing files (:mod:`.io`), parsing values (:mod:`.parse`),
validation into the exclusion ledger (:mod:`.validate`, :mod:`.ledger`).

Every row read is accounted for: it is either used or excluded into the
:class:`ExclusionLedger` with the rule it broke (see :mod:`immune_recovery.schemas`), so that
``rows read = rows used + rows excluded`` for every table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .io import (
    DATE_FORMAT,
    FORMATS,
    find_table_file,
    read_folder,
    read_raw_table,
    unread_files,
    write_tables,
)
from .ledger import LEDGER_COLUMNS, ExclusionLedger
from .parse import parse_table
from .validate import validate_table, validate_tables

__all__ = [
    "DATE_FORMAT", "FORMATS", "LEDGER_COLUMNS", "ExclusionLedger", "find_table_file",
    "parse_table", "read_folder", "read_raw_table", "read_tables", "validate_read",
    "validate_table", "validate_tables", "write_tables",
]


def read_tables(folder: str | Path, close_date: str | pd.Timestamp | None = None,
                encoding: str | None = None, sep: str | None = None,
                unreadable: str = "stop", date_format: str | None = None
                ) -> tuple[dict[str, pd.DataFrame], ExclusionLedger, set[str]]:
    """Read, parse and validate every table in ``folder`` (see :func:`validate_tables`).

    ``close_date`` is the database close date; when not given, today is used and the ledger's
    ``notices`` say so. ``encoding`` and ``sep`` apply to text files (default: UTF-8, with
    or without a byte-order mark; separator detected from the header). ``unreadable`` and
    ``date_format``: see :func:`validate_tables`; the files of the folder that were not read
    are listed in the notices (and, reading on, as warnings).
    """
    raw, files = read_folder(folder, encoding, sep, require=unreadable == "stop")
    return validate_read(raw, files, folder, close_date, unreadable, date_format)


def validate_read(raw: dict[str, pd.DataFrame], files: dict[str, str], folder: str | Path,
                  close_date: str | pd.Timestamp | None = None, unreadable: str = "stop",
                  date_format: str | None = None
                  ) -> tuple[dict[str, pd.DataFrame], ExclusionLedger, set[str]]:
    """Validate the tables :func:`read_folder` read from ``folder`` (``files``: their file
    names), as :func:`read_tables` does: its second half, for a caller that looked at the raw
    tables first. ``raw`` is emptied as its tables are parsed (a large export is never held
    raw and parsed at once)."""
    today = close_date is None
    close = pd.Timestamp.today().normalize() if today else pd.Timestamp(close_date)
    tables, ledger, present = validate_tables(raw, close, files=files, unreadable=unreadable,
                                              date_format=date_format, release=True)
    others = unread_files(folder, files)
    if others:
        ledger.notices.append(f"files found and not read: {', '.join(others)}")
        if unreadable == "missing":
            ledger.issue("warning", "", f"files found and not read: {', '.join(others)}",
                         hint="the package reads tblBAS, tblLAB_CD4, "
                         "tblLAB_RNA, tblART, tblLTFU, tblDIS, tblCEP, tblMED and tblSTUDY; "
                         "CD4 counts kept in a long tblLAB must be exported as tblLAB_CD4")
    if today:
        ledger.notices.append(f"no database close date given: dates after today "
                              f"({close:%Y-%m-%d}) count as in the future")
    return tables, ledger, present
