"""Clinical events after the time origin: AIDS-defining events (``tblDIS``), serious
non-AIDS events (``tblCEP``), death (``tblLTFU``) and a trial's own endpoint (``tblSTUDY``).

``patients`` arguments are :func:`~immune_recovery.baseline.patient_table` frames (one row per
patient, with ``t0`` and ``death_date``; ``endpoint_y``/``endpoint_d`` for trials).
"""

from __future__ import annotations

import pandas as pd

from .cohort import Cohort
from .schemas import SERIOUS_NON_AIDS

#: Event kinds :func:`event_dates` knows: ``clinical`` is the composite of a new AIDS-defining
#: event, a serious non-AIDS event or death (the endpoint of Lapadula 2013 and Baker 2008).
EVENTS = ("ade_or_death", "ade", "death", "snae", "clinical", "endpoint")

#: ``DIS_ID`` codes counted as AIDS-defining events (HICDEP list; ``AIDS`` = type not given).
AIDS_DEFINING = frozenset({
    "AIDS", "KS", "PCP", "MCP", "MCX", "LNTB", "CANE", "CANO", "CMVR", "CMV", "CRCO", "TOX",
    "LEU", "WAST", "DEM", "NHG", "NHGB", "NHGI", "NHGU", "NHGP", "RTIR", "HSV", "CRSP", "ISD",
    "MAC", "MCY", "SAL", "HIS", "COC", "CEC", "BCNE", "PNEU", "RSP", "FOCA", "MAV",
})


def _first_after_t0(table: pd.DataFrame, code_column: str, codes: frozenset[str],
                    date_column: str, patients: pd.DataFrame) -> pd.Series:
    """Per patient: the earliest ``date_column`` after T0 among rows with one of ``codes``."""
    if table.empty:
        return pd.Series(pd.NaT, index=patients.index, dtype="datetime64[ns]")
    rows = table[table[code_column].isin(codes)]
    t0 = patients["t0"].to_numpy()[rows["PATIENT"].cat.codes.to_numpy()]
    rows = rows[rows[date_column].to_numpy() > t0]
    earliest = rows.groupby("PATIENT", observed=False)[date_column].min()
    return earliest.reindex(patients.index).astype("datetime64[ns]")


def aids_events(cohort: Cohort, patients: pd.DataFrame) -> pd.Series:
    """Per patient: date of the first AIDS-defining event after T0 (NaT if none)."""
    return _first_after_t0(cohort.dis, "DIS_ID", AIDS_DEFINING, "DIS_D", patients)


def serious_non_aids_events(cohort: Cohort, patients: pd.DataFrame) -> pd.Series:
    """Per patient: date of the first serious non-AIDS event after T0 (``tblCEP`` codes in
    :data:`~immune_recovery.schemas.SERIOUS_NON_AIDS`; NaT if none)."""
    return _first_after_t0(cohort.cep, "CEP_ID", SERIOUS_NON_AIDS, "CEP_D", patients)


def _earliest(*dates: pd.Series) -> pd.Series:
    return pd.concat(dates, axis=1).min(axis=1).astype("datetime64[ns]")


def event_dates(cohort: Cohort, patients: pd.DataFrame, event: str) -> pd.Series:
    """Per patient: date of the first event of the given kind after T0 (NaT if none)."""
    if event == "death":
        return patients["death_date"].astype("datetime64[ns]")
    if event == "ade":
        return aids_events(cohort, patients)
    if event == "snae":
        return serious_non_aids_events(cohort, patients)
    if event == "ade_or_death":
        return _earliest(aids_events(cohort, patients), patients["death_date"])
    if event == "clinical":
        return _earliest(aids_events(cohort, patients), serious_non_aids_events(cohort, patients),
                         patients["death_date"])
    if event == "endpoint":
        if "endpoint_y" not in patients:
            raise ValueError("the cohort has no trial endpoint (tblSTUDY.ENDPOINT_Y)")
        return patients["endpoint_d"].where(patients["endpoint_y"] == 1).astype("datetime64[ns]")
    raise ValueError(f"event must be one of {EVENTS}, got {event!r}")
