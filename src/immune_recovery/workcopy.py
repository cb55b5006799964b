"""The work copy of a cohort: read and validated once, kept compact and columnar, and read
back by every report of a cohort site without parsing or validating the export again.

``immune-recovery report`` reads the export and validates it once
(:mod:`immune_recovery.reporting.cohort_site`), then writes the validated
:class:`~immune_recovery.cohort.Cohort` here with :func:`write_work_copy`, in its work folder
(beside the site, never inside it; removed after the run unless ``--keep-work``). A report's
:func:`~immune_recovery.cohort.load_cohort` on that folder returns the same cohort (tables
with their record numbers and types, the exclusion ledger with the export's own file names,
the tables present) from :func:`read_work_copy`. Each table is read from Parquet only when
an analysis first asks for it, so a report holds only the tables it uses; the patient table
(:func:`~immune_recovery.baseline.patient_table`) is stored computed.

Layout of the folder:

* ``work-copy.json``: format, cohort name, tables present, the reading options applied;
* ``patients.parquet``: the patient identifiers in ``tblBAS`` order (position = patient
  code);
* ``tables/<table>.parquet``: each validated table, ``PATIENT`` as its integer code;
* ``patient_table.parquet`` (not when the analyses cannot run: a critical problem),
  ``ledger.pickle`` (the exclusion ledger, pickled: the folder is
  written and read by this package only, on the machine that holds the export).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import pandas as pd
import pyarrow as pa

from .exceptions import ParameterError

#: Version of the layout; a work copy of another version is not read (it is rebuilt).
FORMAT = 1
MARKER = "work-copy.json"


def is_work_copy(folder: str | Path) -> bool:
    """True when ``folder`` holds a work copy (of any format)."""
    return (Path(folder) / MARKER).is_file()


class StoredTables(MutableMapping):
    """A cohort's tables, each read from its Parquet file on first access (then kept)."""

    def __init__(self, folder: Path, names: list[str], patients: pd.Index) -> None:
        self._folder, self._names, self._patients = folder, list(names), patients
        self._loaded: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._loaded:
            if name not in self._names:
                raise KeyError(name)
            frame = pd.read_parquet(self._folder / "tables" / f"{name}.parquet")
            # Arrow's allocator keeps what the read freed (the Arrow table, about the size
            # of the frame): give it back, or a report holds each large table twice
            pa.default_memory_pool().release_unused()
            codes = frame["PATIENT"].to_numpy()
            frame["PATIENT"] = pd.Categorical.from_codes(codes, categories=self._patients)
            self._loaded[name] = frame
        return self._loaded[name]

    def __setitem__(self, name: str, frame: pd.DataFrame) -> None:
        if name not in self._names:
            self._names.append(name)
        self._loaded[name] = frame

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def write_work_copy(cohort, folder: str | Path, options: dict,
                    patients: pd.DataFrame | None) -> Path:
    """Write ``cohort`` (a validated :class:`~immune_recovery.cohort.Cohort`) and its
    patient table ``patients`` (None: not stored, computed when asked) to ``folder``;
    ``options``: the reading options applied (close date, unreadable, date format...), which
    a report's parameters must then match."""
    folder = Path(folder)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"PATIENT": cohort.patients.to_numpy()}).to_parquet(
        folder / "patients.parquet", index=False)
    for name, frame in cohort.tables.items():
        stored = frame.assign(PATIENT=frame["PATIENT"].cat.codes.to_numpy())
        stored.attrs = {}
        stored.to_parquet(folder / "tables" / f"{name}.parquet")
    if patients is not None:
        patients.to_parquet(folder / "patient_table.parquet")
    (folder / "ledger.pickle").write_bytes(pickle.dumps(cohort.ledger, protocol=5))
    record = {"format": FORMAT, "name": cohort.name, "tables": list(cohort.tables),
              "present": sorted(cohort.present), "options": options}
    (folder / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder


def read_work_copy(folder: str | Path, options: dict | None = None) -> dict:
    """The parts of the cohort written by :func:`write_work_copy`, as keyword arguments of
    :class:`~immune_recovery.cohort.Cohort`. ``options`` given (a report's reading options)
    must be those the copy was made with: the export is not read again under others."""
    folder = Path(folder)
    record = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    if record.get("format") != FORMAT:
        raise ParameterError(f"{folder.name}: a work copy of format {record.get('format')}, "
                             f"this version reads format {FORMAT}; rerun immune-recovery report")
    differ = {k: (v, record["options"].get(k)) for k, v in (options or {}).items()
              if record["options"].get(k) != v}
    if differ:
        raise ParameterError(f"{folder.name}: the work copy was read with other options: "
                             + ", ".join(f"{k} {was!r} (asked {v!r})"
                                         for k, (v, was) in differ.items()))
    patients = pd.Index(pd.read_parquet(folder / "patients.parquet")["PATIENT"].astype(str),
                        name="PATIENT")
    stored = folder / "patient_table.parquet"
    return {"name": record["name"], "tables": StoredTables(folder, record["tables"], patients),
            "ledger": pickle.loads((folder / "ledger.pickle").read_bytes()),
            "present": frozenset(record["present"]), "source": folder.name,
            "stored_patient_table": stored if stored.is_file() else None}
