"""Data quality: every check the loader applies, its count, and example rows.

The page a data manager sends back to a cohort: :func:`check_table` lists every rule of
:data:`~immune_recovery.schemas.RULE_TABLE` (with its HICDEP code and what happens to a row
that breaks it), how many rows broke it, and up to three example rows with file, row number,
patient, column and value. :func:`make_messy_example` writes a simulated cohort with known
problems, to show the page on data that need it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .hicdep import ExclusionLedger, write_tables
from .schemas import NOT_IMPLEMENTED, RULE_TABLE


def check_catalogue() -> pd.DataFrame:
    """Every rule: id, HICDEP code, action (exclude / blank / flag) and description."""
    return pd.DataFrame([{"rule": rule, "hicdep": r.hicdep, "action": r.action,
                          "description": r.description} for rule, r in RULE_TABLE.items()])


def _examples(rows: pd.DataFrame, n: int = 3) -> str:
    shown = []
    for r in rows.head(n).itertuples(index=False):
        where = f"{r.file} row {r.row}"
        who = f" ({r.PATIENT})" if r.PATIENT else ""
        what = f" {r.column}={r.value!s}" if r.column else ""
        shown.append(f"{where}{who}{what}")
    return "; ".join(shown)


def check_table(ledger: ExclusionLedger) -> pd.DataFrame:
    """Every check with the rows it excluded or flagged (zeros included) and examples."""
    catalogue = check_catalogue()
    entries = pd.concat([ledger.entries.assign(outcome="excluded"),
                         ledger.flags.assign(outcome="flagged")], ignore_index=True)
    counts, examples = [], []
    for rule in catalogue["rule"]:
        hits = entries[entries["rule"] == rule].drop_duplicates(["table", "row", "rule"])
        counts.append(len(hits))
        examples.append(_examples(hits))
    out = catalogue.assign(rows=counts, examples=examples)
    return out.sort_values(["rows", "rule"], ascending=[False, True], kind="stable") \
        .reset_index(drop=True)


def not_implemented() -> pd.DataFrame:
    return pd.DataFrame([{"check": k, "reason": v} for k, v in NOT_IMPLEMENTED.items()])


def ledger_rows(ledger: ExclusionLedger, limit: int = 25) -> pd.DataFrame:
    """The first ``limit`` excluded and flagged rows, for the report's appendix."""
    entries = pd.concat([ledger.entries.assign(outcome="excluded"),
                         ledger.flags.assign(outcome="flagged")], ignore_index=True)
    if entries.empty:
        return entries
    entries = entries.sort_values(["outcome", "table", "row"], kind="stable")
    return entries.groupby("outcome", sort=True).head(limit).reset_index(drop=True)


def make_messy_example(folder: str | Path, n_patients: int = 300, seed: int = 5) -> Path:
    """A simulated cohort with known problems injected (every kind the loader recognises,
    each a few times), written as HICDEP CSV tables."""
    from .simulate import simulate_cohort

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
