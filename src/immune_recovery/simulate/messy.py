"""A simulated cohort with known data problems injected, to show (and test) the loader's
checks and the data-quality report on data that need them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..hicdep import write_tables
from . import simulate_cohort


def make_messy_example(folder: str | Path, n_patients: int = 300, seed: int = 5) -> Path:
    """A simulated cohort with known problems injected (every kind the loader recognises,
    each a few times), written as HICDEP CSV tables."""
    sim = simulate_cohort(n_patients, seed)
    rng = np.random.default_rng(seed)
    t = {k: v.copy() for k, v in sim.tables.items()}
    cd4, rna, art, bas, ltfu = (t["tblLAB_CD4"], t["tblLAB_RNA"], t["tblART"], t["tblBAS"],
                                t["tblLTFU"])

    def pick(df: pd.DataFrame, k: int) -> np.ndarray:
        return rng.choice(df.index.to_numpy(), size=k, replace=False)

    cd4.loc[pick(cd4, 4), ["CD4_V", "CD4_U"]] = [350.0, 2]          # CW007 percent as count
    cd4.loc[pick(cd4, 3), "CD4_V"] = -5.0                            # CW001 negative
    cd4.loc[pick(cd4, 2), "CD4_V"] = 90_000.0                        # CW001 huge
    cd4.loc[pick(cd4, 3), "CD4_V"] = 3_500.0                         # CW008 unusual
    cd4.loc[pick(cd4, 2), "CD4_D"] = pd.Timestamp("2099-06-01")     # ATC004 future
    duplicates = cd4.loc[pick(cd4, 6)]                               # CW002 duplicated visits
    orphans = cd4.head(3).assign(PATIENT="S9999999")                 # RC001 unknown patient
    t["tblLAB_CD4"] = pd.concat([cd4, duplicates, orphans], ignore_index=True) \
        .sort_values(["PATIENT", "CD4_D"], kind="stable").reset_index(drop=True)
    detectable = rna["RNA_V"] > 0
    rna.loc[pick(rna[detectable], 2), "RNA_V"] = 2e8                 # RW006
    rna.loc[pick(rna[~detectable], 3), ["RNA_V", "RNA_L"]] = [30.0, 50.0]  # RW007
    t["tblLAB_RNA"] = pd.concat([rna, rna.loc[pick(rna, 3)]], ignore_index=True) \
        .sort_values(["PATIENT", "RNA_D"], kind="stable").reset_index(drop=True)  # RW001
    stops = pick(art, 3)
    art.loc[stops, "ART_ED"] = art.loc[stops, "ART_SD"] - pd.Timedelta(days=30)  # IR-ART-2
    bas.loc[pick(bas, 2), "BIRTH_D"] = pd.Timestamp("1911-11-11")   # IR-DATE-1 sentinel
    bas.loc[pick(bas, 2), "SEX"] = 7                                 # IR-BAS-3 unknown code
    dead = ltfu.index[ltfu["DEATH_Y"] == 1][:1]
    if len(dead):
        patient = ltfu.loc[dead[0], "PATIENT"]
        birth = bas.loc[bas["PATIENT"] == patient, "BIRTH_D"].iloc[0]
        ltfu.loc[dead[0], "DEATH_D"] = birth - pd.Timedelta(days=365)  # ATC003 death < birth
    write_tables(folder, t)
    return Path(folder)
