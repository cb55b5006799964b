"""ACTG 175 (Hammer 1996) as HICDEP tables.

Source: ``lifelines/datasets/ACTG175.csv`` (2139 patients, one row each).

Mapping
-------
* ``PATIENT`` = ``pidnum`` (the source's patient id).
* Day 0 (randomisation) is the nominal date :data:`DAY0`; ``RECART_D`` = day 0 (the time
  origin of every analysis), although many participants had taken zidovudine before.
* ``tblBAS``: ``BIRTH_D`` from ``age`` (precision ``Y``); ``SEX`` from ``gender``
  (1 male, 0 female); ``MODE`` from ``homo``/``drugs``/``hemo`` (both homosexual contact and
  injecting drug use: 3; homosexual contact: 1; injecting drug use: 2; haemophilia: 4; none
  recorded: 99 unknown); ``AIDS_Y`` = 9 (not recorded).
* ``tblART``: the randomised drugs from day 0 (arms 0 zidovudine, 1 zidovudine +
  didanosine, 2 zidovudine + zalcitabine, 3 didanosine).
* ``tblLAB_CD4``: ``cd40`` at day 0, ``cd420`` at day 140 (week 20; the protocol window was
  20 +/- 5 weeks), ``cd496`` at day 672 (week 96) when measured. Dates are nominal.
* ``tblSTUDY``: ``ARM``; the composite endpoint (``cens``: CD4 decline of at least 50%,
  AIDS-defining event or death) as ``ENDPOINT_Y``/``ENDPOINT_D`` = day 0 + ``days``; the end
  of follow-up ``FU_END_D`` = the same date; and the covariates ``AGE``, ``WTKG``, ``KARNOF``
  (Karnofsky score), ``HEMO``, ``HOMO``, ``DRUGS``, ``RACE`` (0 white, 1 non-white),
  ``SYMPTOM``, ``STR2`` (0 ART-naive, 1 experienced), ``STRAT``, ``OPRIOR``, ``Z30``,
  ``PREANTI`` (days of prior ART), ``OFFTRT``, ``CD8_0`` and ``CD8_20`` (CD8 at baseline and
  week 20, cells/mm³).
* No ``tblLTFU``: the source does not separate deaths from the other endpoint components.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._common import art_rows, birth_dates, nominal_dates

DAY0 = "1992-01-01"
ARMS = {0: "ZDV", 1: "ZDV+ddI", 2: "ZDV+ddC", 3: "ddI"}
ARM_DRUGS = {
    0: ["zidovudine"],
    1: ["zidovudine", "didanosine"],
    2: ["zidovudine", "zalcitabine"],
    3: ["didanosine"],
}
WEEK20_DAY = 140
WEEK96_DAY = 672


def _mode(src: pd.DataFrame) -> np.ndarray:
    return np.select(
        [(src.homo == 1) & (src.drugs == 1), src.homo == 1, src.drugs == 1, src.hemo == 1],
        [3, 1, 2, 4],
        default=99,
    )


def convert(raw_path: Path) -> dict[str, pd.DataFrame]:
    src = pd.read_csv(raw_path)
    patient = src["pidnum"].astype(str)
    day0 = pd.Series(pd.Timestamp(DAY0), index=src.index, dtype="datetime64[ns]")
    bas = pd.DataFrame({
        "PATIENT": patient,
        "BIRTH_D": birth_dates(DAY0, src["age"]),
        "BIRTH_D_A": "Y",
        "ENROL_D": day0,
        "SEX": np.where(src["gender"] == 1, 1, 2),
        "MODE": _mode(src),
        "AIDS_Y": 9,
        "RECART_Y": 1,
        "RECART_D": day0,
    })
    art = art_rows(patient, src["arms"].map(ARM_DRUGS), day0)
    cd4 = pd.concat([
        pd.DataFrame({"PATIENT": patient, "CD4_D": nominal_dates(DAY0, np.zeros(len(src))),
                      "CD4_V": src["cd40"], "CD4_U": 1}),
        pd.DataFrame({"PATIENT": patient, "CD4_D": nominal_dates(DAY0, np.full(len(src),
                      WEEK20_DAY)), "CD4_V": src["cd420"], "CD4_U": 1}),
        pd.DataFrame({"PATIENT": patient, "CD4_D": nominal_dates(DAY0, np.full(len(src),
                      WEEK96_DAY)), "CD4_V": src["cd496"], "CD4_U": 1}),
    ])
    cd4 = cd4[cd4["CD4_V"].notna()]
    cd4 = cd4.assign(_o=cd4["PATIENT"].map({p: i for i, p in enumerate(patient)})) \
        .sort_values(["_o", "CD4_D"], kind="stable").drop(columns="_o")
    end = nominal_dates(DAY0, src["days"])
    study = pd.DataFrame({
        "PATIENT": patient,
        "ARM": src["arms"].map(ARMS),
        "FU_END_D": end,
        "ENDPOINT_Y": src["cens"].astype(int),
        "ENDPOINT_D": end,
        "AGE": src["age"],
        "WTKG": src["wtkg"].round(4),
        "KARNOF": src["karnof"],
        "HEMO": src["hemo"],
        "HOMO": src["homo"],
        "DRUGS": src["drugs"],
        "RACE": src["race"],
        "SYMPTOM": src["symptom"],
        "STR2": src["str2"],
        "STRAT": src["strat"],
        "OPRIOR": src["oprior"],
        "Z30": src["z30"],
        "PREANTI": src["preanti"],
        "OFFTRT": src["offtrt"],
        "CD8_0": src["cd80"],
        "CD8_20": src["cd820"],
    })
    return {"tblBAS": bas, "tblART": art, "tblLAB_CD4": cd4.reset_index(drop=True),
            "tblSTUDY": study}
