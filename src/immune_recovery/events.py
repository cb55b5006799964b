"""Clinical events after the time origin: AIDS-defining events (``tblDIS``), death
(``tblLTFU``) and a trial's own endpoint (``tblSTUDY``).

``patients`` arguments are :func:`~immune_recovery.baseline.patient_table` frames (one row per
patient, with ``t0`` and ``death_date``; ``endpoint_y``/``endpoint_d`` for trials).
"""

from __future__ import annotations

import pandas as pd

from .cohort import Cohort

#: Event kinds :func:`event_dates` knows.
EVENTS = ("ade_or_death", "ade", "death", "endpoint")

#: ``DIS_ID`` codes counted as AIDS-defining events (HICDEP list; ``AIDS`` = type not given).
AIDS_DEFINING = frozenset({
    "AIDS", "KS", "PCP", "MCP", "MCX", "LNTB", "CANE", "CANO", "CMVR", "CMV", "CRCO", "TOX",
    "LEU", "WAST", "DEM", "NHG", "NHGB", "NHGI", "NHGU", "NHGP", "RTIR", "HSV", "CRSP", "ISD",
    "MAC", "MCY", "SAL", "HIS", "COC", "CEC", "BCNE", "PNEU", "RSP", "FOCA", "MAV",
})


def aids_events(cohort: Cohort, patients: pd.DataFrame) -> pd.Series:
    """Per patient: date of the first AIDS-defining event after T0 (NaT if none)."""
    dis = cohort.dis
    first = pd.Series(pd.NaT, index=patients.index, dtype="datetime64[ns]")
    if dis.empty:
        return first
    ade = dis[dis["DIS_ID"].isin(AIDS_DEFINING)]
    t0 = patients["t0"].to_numpy()[ade["PATIENT"].cat.codes.to_numpy()]
    ade = ade[ade["DIS_D"].to_numpy() > t0]
    earliest = ade.groupby("PATIENT", observed=False)["DIS_D"].min()
    return earliest.reindex(patients.index).astype("datetime64[ns]")


def event_dates(cohort: Cohort, patients: pd.DataFrame, event: str) -> pd.Series:
    """Per patient: date of the first event of the given kind after T0 (NaT if none)."""
    if event == "death":
        return patients["death_date"].astype("datetime64[ns]")
    if event == "ade":
        return aids_events(cohort, patients)
    if event == "ade_or_death":
        ade = aids_events(cohort, patients)
        return pd.concat([ade, patients["death_date"]], axis=1).min(axis=1).astype(
            "datetime64[ns]")
    if event == "endpoint":
        if "endpoint_y" not in patients:
            raise ValueError("the cohort has no trial endpoint (tblSTUDY.ENDPOINT_Y)")
        return patients["endpoint_d"].where(patients["endpoint_y"] == 1).astype("datetime64[ns]")
    raise ValueError(f"event must be one of {EVENTS}, got {event!r}")
