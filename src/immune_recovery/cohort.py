"""The :class:`Cohort`: one validated set of HICDEP tables, with the time origin and
follow-up every analysis shares.

Conventions
-----------
* Time origin T0 = ``tblBAS.RECART_D`` (date ART was first started); when it is missing, the
  earliest ``tblART.ART_SD`` of the patient.
* End of follow-up = date of death when ``tblLTFU.DEATH_Y = 1``; else drop-out date
  (``DROP_Y = 1``); else the study's own end of follow-up (``tblSTUDY.FU_END_D``, trials);
  else ``tblLTFU.L_ALIVE_D``; else the last date of any record of the patient. The column
  ``followup_source`` says which applied.
* In every table ``PATIENT`` is a categorical whose categories are the patients of
  ``tblBAS`` in file order, so ``cohort.codes(table)`` gives integer patient keys without a
  join or a sort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .conventions import CD4_ABSOLUTE_UNIT, to_days
from .hicdep import ExclusionLedger, read_tables, validate_tables
from .paths import relative_to_root
from .workcopy import StoredTables, is_work_copy, read_work_copy


@dataclass
class Cohort:
    """A validated HICDEP cohort.

    Use :func:`load_cohort` to read one from a folder, or :meth:`from_tables` for frames
    already in memory (they go through the same validation).
    """

    name: str
    tables: dict[str, pd.DataFrame]
    ledger: ExclusionLedger = field(default_factory=ExclusionLedger)
    present: frozenset[str] = frozenset()
    source: str | None = None
    #: The patient table as computed when the cohort was stored (a work copy), else None.
    stored_patient_table: Path | None = None

    def __post_init__(self) -> None:
        if isinstance(self.tables, StoredTables):
            return  # stored keyed on the patients of tblBAS (see immune_recovery.workcopy)
        patients = pd.Index(self.tables["tblBAS"]["PATIENT"].astype(str), name="PATIENT")
        for name, df in self.tables.items():
            column = df["PATIENT"]
            if isinstance(column.dtype, pd.CategoricalDtype) and \
                    column.cat.categories.equals(patients):
                continue  # already keyed on these patients (e.g. large in-memory cohorts)
            self.tables[name] = df.assign(
                PATIENT=pd.Categorical(column.astype(str), categories=patients)
            )

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame], name: str = "cohort",
                    close_date: str | pd.Timestamp | None = None,
                    files: dict[str, str] | None = None, unreadable: str = "stop",
                    date_format: str | None = None) -> Cohort:
        """Validate in-memory tables (HICDEP names; text or typed columns) exactly as files
        would be, without writing them anywhere. ``close_date`` (default: today, noted in the
        ledger) is the database close date; ``unreadable`` and ``date_format``: see
        :func:`~immune_recovery.hicdep.validate_tables`."""
        close = pd.Timestamp.today().normalize() if close_date is None else close_date
        validated, ledger, present = validate_tables(tables, close, files=files,
                                                     unreadable=unreadable,
                                                     date_format=date_format)
        if close_date is None:
            ledger.notices.append("no database close date given: today's date used")
        return cls(name=name, tables=validated, ledger=ledger, present=frozenset(present))

    # -- tables -----------------------------------------------------------------------

    @property
    def bas(self) -> pd.DataFrame:
        return self.tables["tblBAS"]

    @property
    def art(self) -> pd.DataFrame:
        return self.tables["tblART"]

    @property
    def med(self) -> pd.DataFrame:
        return self.tables["tblMED"]

    @property
    def cd4(self) -> pd.DataFrame:
        return self.tables["tblLAB_CD4"]

    @property
    def rna(self) -> pd.DataFrame:
        return self.tables["tblLAB_RNA"]

    @property
    def dis(self) -> pd.DataFrame:
        return self.tables["tblDIS"]

    @property
    def cep(self) -> pd.DataFrame:
        return self.tables["tblCEP"]

    @property
    def ltfu(self) -> pd.DataFrame:
        return self.tables["tblLTFU"]

    @property
    def study(self) -> pd.DataFrame:
        return self.tables["tblSTUDY"]

    @property
    def patients(self) -> pd.Index:
        """Patient identifiers in ``tblBAS`` order; position = integer patient code."""
        return self.bas["PATIENT"].cat.categories

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    @property
    def has_rna(self) -> bool:
        """True when the cohort has a ``tblLAB_RNA`` file (even if every row was excluded)."""
        return "tblLAB_RNA" in self.present

    def codes(self, table: str) -> np.ndarray:
        """Integer patient code of each row of ``table``."""
        return self.tables[table]["PATIENT"].cat.codes.to_numpy().astype(np.int64)

    def per_patient(self, table: str, column: str) -> pd.Series:
        """A one-row-per-patient table's column aligned on :attr:`patients` (missing: NA)."""
        df = self.tables[table]
        out = pd.Series(pd.NA, index=self.patients, dtype=df[column].dtype
                        if column in df else object)
        if column in df and not df.empty:
            out.iloc[self.codes(table)] = df[column].to_numpy()
        return out

    def absolute_cd4(self) -> pd.DataFrame:
        """Absolute CD4 counts only (``CD4_U = 1``, cells/mm³): ``PATIENT, CD4_D, CD4_V``,
        the integer patient ``code``, ``day`` (days since 1970-01-01) and ``days_since_t0``
        (:data:`~immune_recovery.conventions.MISSING_DAY`-safe: NaN-free ints where T0 is
        known). Computed once per cohort; do not modify the frame."""
        return self._absolute_cd4

    @cached_property
    def _absolute_cd4(self) -> pd.DataFrame:
        cd4 = self.cd4
        keep = (cd4["CD4_U"] == CD4_ABSOLUTE_UNIT).fillna(False).to_numpy(dtype=bool)
        # every count absolute (the usual case): the table's own columns, not copies
        rows = cd4 if keep.all() else cd4.loc[keep, ["PATIENT", "CD4_D", "CD4_V"]]
        out = {c: rows[c] for c in ("PATIENT", "CD4_D", "CD4_V")}
        code = out["PATIENT"].cat.codes.to_numpy().astype(np.int64)
        day = to_days(out["CD4_D"])
        # copy=False: the columns as they are, not copied into blocks
        return pd.DataFrame({**out, "code": code, "day": day,
                             "days_since_t0": day - self.t0_day[code]}, copy=False)

    # -- time origin and follow-up -------------------------------------------------------

    @cached_property
    def t0_day(self) -> np.ndarray:
        """Per patient (in :attr:`patients` order): T0 as days since 1970-01-01,
        :data:`~immune_recovery.conventions.MISSING_DAY` where unknown."""
        return to_days(self.time_origin["t0"])  # NaT becomes MISSING_DAY

    @cached_property
    def time_origin(self) -> pd.DataFrame:
        """Per patient: ``t0`` (date) and ``t0_source`` (``RECART_D``, ``ART_SD`` or empty)."""
        recart = self.per_patient("tblBAS", "RECART_D").astype("datetime64[ns]")
        first_art = pd.Series(pd.NaT, index=self.patients, dtype="datetime64[ns]")
        if not self.art.empty:
            earliest = self.art.groupby("PATIENT", observed=False)["ART_SD"].min()
            first_art = earliest.reindex(self.patients).astype("datetime64[ns]")
        t0 = recart.fillna(first_art)
        source = np.where(recart.notna(), "RECART_D", np.where(first_art.notna(), "ART_SD", ""))
        return pd.DataFrame({"t0": t0, "t0_source": source}, index=self.patients)

    @cached_property
    def followup(self) -> pd.DataFrame:
        """Per patient: end of follow-up and how it was determined; death and drop-out."""
        idx = self.patients
        death_y = self.per_patient("tblLTFU", "DEATH_Y").astype("Int64")
        death_d = self.per_patient("tblLTFU", "DEATH_D").astype("datetime64[ns]")
        drop_y = self.per_patient("tblLTFU", "DROP_Y").astype("Int64")
        drop_d = self.per_patient("tblLTFU", "DROP_D").astype("datetime64[ns]")
        alive_d = self.per_patient("tblLTFU", "L_ALIVE_D").astype("datetime64[ns]")
        study_end = self.per_patient("tblSTUDY", "FU_END_D").astype("datetime64[ns]")
        died = (death_y == 1).fillna(False).to_numpy(dtype=bool)
        dropped = (drop_y == 1).fillna(False).to_numpy(dtype=bool) & ~died
        last_record = self._last_record_date()
        candidates = [
            ("death", np.where(died, death_d, np.datetime64("NaT"))),
            ("drop_out", np.where(dropped, drop_d, np.datetime64("NaT"))),
            ("study_end", study_end.to_numpy()),
            ("last_alive", alive_d.to_numpy()),
            ("last_record", last_record.to_numpy()),
        ]
        end = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns]")
        source = pd.Series("", index=idx, dtype=object)
        for label, values in candidates:
            values = pd.Series(values, index=idx).astype("datetime64[ns]")
            fill = end.isna() & values.notna()
            end[fill] = values[fill]
            source[fill] = label
        return pd.DataFrame(
            {
                "followup_end": end,
                "followup_source": source,
                "died": died,
                "death_date": death_d.where(died),
                "dropped_out": dropped,
            },
            index=idx,
        )

    def _last_record_date(self) -> pd.Series:
        dates = []
        for table, column in (("tblLAB_CD4", "CD4_D"), ("tblLAB_RNA", "RNA_D"),
                              ("tblDIS", "DIS_D"), ("tblCEP", "CEP_D"), ("tblART", "ART_SD"),
                              ("tblART", "ART_ED")):
            df = self.tables[table]
            if not df.empty:
                dates.append(df.groupby("PATIENT", observed=False)[column].max())
        if not dates:
            return pd.Series(pd.NaT, index=self.patients, dtype="datetime64[ns]")
        return pd.concat(dates, axis=1).max(axis=1).reindex(self.patients)

    # -- display --------------------------------------------------------------------------

    def counts(self) -> pd.DataFrame:
        """Rows per table after exclusions, and patients with at least one row."""
        rows = []
        for name, df in self.tables.items():
            if name not in self.present:
                continue
            n_pat = int(df["PATIENT"].cat.codes.nunique()) if len(df) else 0
            rows.append({"table": name, "rows": len(df), "patients": n_pat})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (f"<Cohort {self.name!r}: {self.n_patients} patients, tables "
                f"{', '.join(sorted(self.present))}>")


def load_cohort(path: str | Path, name: str | None = None,
                close_date: str | pd.Timestamp | None = None, encoding: str | None = None,
                sep: str | None = None, unreadable: str = "stop",
                date_format: str | None = None) -> Cohort:
    """Read and validate a folder of HICDEP tables.

    Unreadable input raises :class:`~immune_recovery.exceptions.InputError` naming the file,
    row, column, value and rule; implausible rows are excluded into ``cohort.ledger`` (and
    questionable ones flagged there). Dates after ``close_date``, the database close date
    (default: today, noted in ``cohort.ledger.notices``), are in
    the future. ``encoding`` and ``sep``: for text files that are not UTF-8 or whose
    separator should not be detected (see :mod:`immune_recovery.hicdep.io`). Every
    unreadable value of every table is reported at once
    (:class:`~immune_recovery.exceptions.InputErrors`), or, with ``unreadable="missing"``,
    read as missing and listed in ``cohort.ledger`` (see
    :func:`~immune_recovery.hicdep.validate_tables`); ``date_format`` is the format of text
    dates (default ISO). A work copy (:mod:`immune_recovery.workcopy`, the export read and
    validated once by ``immune-recovery report``) is read back as stored, provided it was
    made with the same ``close_date``, ``unreadable`` and ``date_format``.
    """
    path = Path(path)
    if is_work_copy(path):
        parts = read_work_copy(path, {"close_date": iso_close_date(close_date),
                                      "unreadable": unreadable,
                                      "date_format": date_format or None})
        return Cohort(**{**parts, "name": name or parts["name"]})
    tables, ledger, present = read_tables(path, close_date, encoding, sep, unreadable,
                                          date_format or None)
    return Cohort(
        name=name or path.name,
        tables=tables,
        ledger=ledger,
        present=frozenset(present),
        source=relative_to_root(path),
    )


def iso_close_date(date: str | pd.Timestamp | None) -> str | None:
    """A close date as the work copy records it (``YYYY-MM-DD``; None: today's)."""
    return None if date is None else f"{pd.Timestamp(date):%Y-%m-%d}"
