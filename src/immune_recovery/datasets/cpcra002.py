"""CPCRA 002 (Abrams 1994), the ``aids`` data of R's JM package, as HICDEP tables.

Source: ``SurvSet/resources/pickles/aids.pickle`` (467 patients, 1405 CD4 measurements, in
counting-process form: one row per interval ``(time, time2]`` starting at a CD4 measurement).

Mapping
-------
* ``PATIENT`` = ``pid`` (the source's patient id).
* Day 0 (randomisation) is the nominal date :data:`DAY0`; ``RECART_D`` = day 0 (the
  randomised drug), although every participant had taken zidovudine before (``AZT``:
  intolerance or failure).
* ``tblBAS``: ``SEX`` from ``gender``; ``AIDS_Y`` = 1 when ``prevOI`` is ``AIDS`` (an
  AIDS diagnosis before entry; date unknown), else 0; no birth date (not in the source).
* ``tblART``: didanosine (``ddI``) or zalcitabine (``ddC``) from day 0.
* ``tblLAB_CD4``: the source stores the square root of the CD4 count; ``CD4_V`` is its square
  rounded to a whole count (the squares are integers to within 2e-8). The measurement at
  month M (0, 2, 6, 12, 18) is dated day 0 + round(M x 30.4375).
* ``tblLTFU``: death (``event`` of the last interval) at day 0 + round(``time2`` x 30.4375),
  where ``time2`` of the last interval is the follow-up time in months; ``L_ALIVE_D`` = that
  date for survivors.
* ``tblSTUDY``: ``ARM`` (ddI or ddC), ``AZT`` (intolerance or failure), ``FU_END_D``, and
  ``ENDPOINT_Y``/``ENDPOINT_D`` = death.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..conventions import DAYS_PER_MONTH, months_to_days, round_half_up
from ._common import art_rows, nominal_dates, trial_ltfu

DAY0 = "1991-01-01"
DRUGS = {"ddI": ["didanosine"], "ddC": ["zalcitabine"]}


def read_source(raw_path: Path) -> pd.DataFrame:
    src = pd.read_pickle(raw_path)
    src = src.rename(columns=lambda c: str(c))
    for column in ("fac_drug", "fac_gender", "fac_prevOI", "fac_AZT", "pid"):
        src[column] = src[column].astype(str)
    return src


def convert(raw_path: Path) -> dict[str, pd.DataFrame]:
    src = read_source(raw_path)
    src["_pid_num"] = src["pid"].astype(int)
    src = src.sort_values(["_pid_num", "time"], kind="stable")
    per_patient = src.groupby("_pid_num", sort=True).agg(
        pid=("pid", "first"), drug=("fac_drug", "first"), gender=("fac_gender", "first"),
        prev_oi=("fac_prevOI", "first"), azt=("fac_AZT", "first"),
        followup_months=("time2", "max"), died=("event", "max"),
    ).reset_index(drop=True)
    patient = per_patient["pid"]
    day0 = pd.Series(pd.Timestamp(DAY0), index=per_patient.index, dtype="datetime64[ns]")
    bas = pd.DataFrame({
        "PATIENT": patient,
        "BIRTH_D": pd.Series(pd.NaT, index=per_patient.index, dtype="datetime64[ns]"),
        "ENROL_D": day0,
        "SEX": np.where(per_patient["gender"] == "male", 1, 2),
        "AIDS_Y": np.where(per_patient["prev_oi"] == "AIDS", 1, 0),
        "RECART_Y": 1,
        "RECART_D": day0,
    })
    art = art_rows(patient, per_patient["drug"].map(DRUGS), day0)
    cd4 = pd.DataFrame({
        "PATIENT": src["pid"].to_numpy(),
        "CD4_D": nominal_dates(DAY0, months_to_days(src["time"])).to_numpy(),
        "CD4_V": round_half_up(src["num_CD4"].to_numpy() ** 2),
        "CD4_U": 1,
    })
    end = nominal_dates(DAY0, per_patient["followup_months"] * DAYS_PER_MONTH)
    died = per_patient["died"] == 1
    ltfu = trial_ltfu(patient, died, end)
    study = pd.DataFrame({
        "PATIENT": patient,
        "ARM": per_patient["drug"],
        "AZT": per_patient["azt"],
        "FU_END_D": end,
        "ENDPOINT_Y": died.astype(int),
        "ENDPOINT_D": end,
    })
    return {"tblBAS": bas, "tblART": art, "tblLAB_CD4": cd4, "tblLTFU": ltfu,
            "tblSTUDY": study}
