"""Large simulated cohorts held compactly in memory (integer-coded patients), for benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from immune_recovery.cohort import Cohort
from immune_recovery.schemas import TABLES, empty_table
from immune_recovery.simulate import iter_chunks


def simulated_cohort(n_patients: int, seed: int = 2026) -> Cohort:
    """Simulate ``n_patients`` and keep only what the classifier reads, PATIENT categorical."""
    ids = pd.Index([f"S{i:07d}" for i in range(1, n_patients + 1)], name="PATIENT")
    parts: dict[str, list[pd.DataFrame]] = {"tblBAS": [], "tblLAB_CD4": [], "tblLAB_RNA": []}
    keep = {"tblBAS": ["PATIENT", "RECART_D"], "tblLAB_CD4": ["PATIENT", "CD4_D", "CD4_V", "CD4_U"],
            "tblLAB_RNA": ["PATIENT", "RNA_D", "RNA_V", "RNA_L"]}
    for tables, _truth in iter_chunks(n_patients, seed):
        for name in parts:
            df = tables[name][keep[name]].copy()
            codes = df["PATIENT"].str.slice(1).astype(np.int64).to_numpy() - 1
            df["PATIENT"] = pd.Categorical.from_codes(codes, categories=ids)
            parts[name].append(df)
    tables = {name: empty_table(spec) for name, spec in TABLES.items()}
    for name, frames in parts.items():
        tables[name] = pd.concat(frames, ignore_index=True)
    tables["tblLAB_CD4"]["CD4_U"] = tables["tblLAB_CD4"]["CD4_U"].astype("int8")
    for name in ("tblART", "tblMED", "tblDIS", "tblLTFU", "tblSTUDY"):
        tables[name]["PATIENT"] = pd.Categorical([], categories=ids)
    return Cohort(name=f"sim{n_patients}", tables=tables,
                  present=frozenset({"tblBAS", "tblLAB_CD4", "tblLAB_RNA"}))
