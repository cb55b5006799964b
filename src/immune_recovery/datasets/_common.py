"""Helpers shared by the trial converters: nominal calendar dates and ATC codes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..conventions import DAYS_PER_YEAR, round_half_up

#: ATC codes of the antiretrovirals in the bundled trials.
ATC = {
    "zidovudine": "J05AF01",
    "didanosine": "J05AF02",
    "zalcitabine": "J05AF03",
    "stavudine": "J05AF04",
    "lamivudine": "J05AF05",
    "indinavir": "J05AE02",
}


def nominal_dates(day0: str, days) -> pd.Series:
    """Calendar dates ``day0 + days`` (days may be float; they are rounded half up)."""
    days = pd.Series(days, dtype="float64")
    out = pd.Timestamp(day0) + pd.to_timedelta(
        pd.Series(np.where(days.notna(), round_half_up(days.fillna(0)), 0)), unit="D"
    )
    return out.where(days.notna().to_numpy()).astype("datetime64[ns]")


def birth_dates(day0: str, age_years) -> pd.Series:
    """Birth dates implied by age in whole years at ``day0`` (precision: year)."""
    return nominal_dates(day0, -np.asarray(age_years, dtype="float64") * DAYS_PER_YEAR)


def art_rows(patients: pd.Series, drugs_per_patient: pd.Series, start: pd.Series) -> pd.DataFrame:
    """tblART rows: one per patient and drug, started at ``start``, not stopped."""
    frame = pd.DataFrame({"PATIENT": patients.to_numpy(), "drugs": drugs_per_patient.to_numpy(),
                          "ART_SD": start.to_numpy()})
    frame = frame.explode("drugs", ignore_index=True)
    return pd.DataFrame({
        "PATIENT": frame["PATIENT"].astype(str),
        "ART_ID": frame["drugs"].map(ATC).astype(str),
        "ART_SD": frame["ART_SD"].astype("datetime64[ns]"),
        "ART_ED": pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]"),
    })


def trial_ltfu(patients: pd.Series, died: pd.Series, end: pd.Series) -> pd.DataFrame:
    """tblLTFU of a trial followed to ``end``: death on that date, else alive on it."""
    return pd.DataFrame({
        "PATIENT": patients,
        "DROP_Y": 0,
        "DEATH_Y": died.astype(int),
        "DEATH_D": end.where(died),
        "L_ALIVE_D": end.where(~died),
    })
