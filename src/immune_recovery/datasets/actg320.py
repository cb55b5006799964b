"""ACTG 320 (Hammer 1997) as HICDEP tables.

Source: ``sksurv/datasets/data/actg320.arff`` (1151 patients, one row each; the file has
no patient id, so ``PATIENT`` is the record's position in the file, 1 to 1151).

Mapping
-------
* Day 0 (randomisation) is the nominal date :data:`DAY0`; ``RECART_D`` = day 0 although all
  participants had taken zidovudine for at least 3 months (``PRIORZDV``, months).
* ``tblBAS``: ``BIRTH_D`` from ``age`` (precision ``Y``); ``SEX`` (1 male, 2 female);
  ``MODE`` 2 (injecting drug use) when ``ivdrug`` is current or previous, 4 for haemophilia,
  else 99; ``AIDS_Y`` = 9 (not recorded).
* ``tblART``: the randomised drugs from day 0 (``txgrp`` 1 zidovudine + lamivudine,
  2 zidovudine + lamivudine + indinavir, 3 stavudine + lamivudine, 4 stavudine + lamivudine +
  indinavir).
* ``tblLAB_CD4``: the baseline count ``cd4`` (cells/mm³; the mean of two screening counts,
  hence halves) at day 0.
* ``tblLTFU``: death (``censor_d``) at day 0 + ``time_d``; ``L_ALIVE_D`` = that date for
  survivors.
* ``tblDIS``: an AIDS-defining event (``DIS_ID = AIDS``, type not given by the source) at day
  0 + ``time`` when the primary endpoint occurred and was not the death itself.
* ``tblSTUDY``: ``ARM`` (``tx``: control = two NRTIs, or two NRTIs + indinavir), ``TXGRP``,
  ``CD4_STRATUM`` (``strat2``: ``<=50`` or ``51-200`` cells/mm³), the primary endpoint (AIDS-
  defining event or death; ``censor``/``time``) as ``ENDPOINT_Y``/``ENDPOINT_D``,
  ``FU_END_D`` = day 0 + ``time_d``, and ``AGE``, ``RACETH``, ``IVDRUG``, ``HEMOPHIL``,
  ``KARNOF``, ``PRIORZDV``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import arff

from ._common import art_rows, birth_dates, nominal_dates, trial_ltfu

DAY0 = "1996-01-01"
ARMS = {0: "2 NRTIs", 1: "2 NRTIs + IDV"}
TXGRP_DRUGS = {
    1: ["zidovudine", "lamivudine"],
    2: ["zidovudine", "lamivudine", "indinavir"],
    3: ["stavudine", "lamivudine"],
    4: ["stavudine", "lamivudine", "indinavir"],
}
STRATA = {0: "<=50", 1: "51-200"}


def read_arff(raw_path: Path) -> pd.DataFrame:
    data, _meta = arff.loadarff(raw_path)
    src = pd.DataFrame(data)
    for column in src.columns:
        if src[column].dtype == object:
            src[column] = src[column].str.decode("ascii").astype(float)
    return src


def convert(raw_path: Path) -> dict[str, pd.DataFrame]:
    src = read_arff(raw_path)
    patient = pd.Series(np.arange(1, len(src) + 1), index=src.index).astype(str)
    day0 = pd.Series(pd.Timestamp(DAY0), index=src.index, dtype="datetime64[ns]")
    ivdrug = src["ivdrug"].astype(int)
    bas = pd.DataFrame({
        "PATIENT": patient,
        "BIRTH_D": birth_dates(DAY0, src["age"]),
        "BIRTH_D_A": "Y",
        "ENROL_D": day0,
        "SEX": src["sex"].astype(int),
        "MODE": np.select([ivdrug.isin([2, 3]), src["hemophil"] == 1], [2, 4], default=99),
        "AIDS_Y": 9,
        "RECART_Y": 1,
        "RECART_D": day0,
    })
    art = art_rows(patient, src["txgrp"].astype(int).map(TXGRP_DRUGS), day0)
    cd4 = pd.DataFrame({"PATIENT": patient, "CD4_D": day0, "CD4_V": src["cd4"], "CD4_U": 1})
    died = src["censor_d"].astype(int) == 1
    end = nominal_dates(DAY0, src["time_d"])
    ltfu = trial_ltfu(patient, died, end)
    endpoint = src["censor"].astype(int) == 1
    endpoint_is_death = endpoint & died & (src["time"] == src["time_d"])
    aids = endpoint & ~endpoint_is_death
    dis = pd.DataFrame({
        "PATIENT": patient[aids],
        "DIS_ID": "AIDS",
        "DIS_D": nominal_dates(DAY0, src["time"])[aids],
    })
    study = pd.DataFrame({
        "PATIENT": patient,
        "ARM": src["tx"].astype(int).map(ARMS),
        "TXGRP": src["txgrp"].astype(int),
        "CD4_STRATUM": src["strat2"].astype(int).map(STRATA),
        "FU_END_D": end,
        "ENDPOINT_Y": endpoint.astype(int),
        "ENDPOINT_D": nominal_dates(DAY0, src["time"]),
        "AGE": src["age"],
        "RACETH": src["raceth"].astype(int),
        "IVDRUG": ivdrug,
        "HEMOPHIL": src["hemophil"].astype(int),
        "KARNOF": src["karnof"].astype(int),
        "PRIORZDV": src["priorzdv"],
    })
    return {"tblBAS": bas, "tblART": art, "tblLAB_CD4": cd4, "tblLTFU": ltfu,
            "tblDIS": dis.reset_index(drop=True), "tblSTUDY": study}
