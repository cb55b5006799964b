"""Build tiny HICDEP cohorts from compact specs (days relative to a fixed T0)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from immune_recovery import load_cohort

T0 = pd.Timestamp("2000-01-01")


def day(offset: int) -> str:
    return (T0 + pd.Timedelta(days=offset)).strftime("%Y-%m-%d")


def make_cohort(folder: Path, patients: list[str], cd4: list[tuple],
                rna: list[tuple] | None = None, t0: dict[str, int | None] | None = None,
                art: list[tuple] | None = None):
    """cd4: (patient, day, value[, unit]); rna: (patient, day, value); t0: RECART_D offsets
    (None: no RECART_D); art: (patient, day)."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = t0 or {}
    bas = pd.DataFrame({
        "PATIENT": patients,
        "BIRTH_D": "1960-01-01",
        "SEX": 1,
        "RECART_D": [day(t0.get(p, 0)) if t0.get(p, 0) is not None else "" for p in patients],
    })
    bas.to_csv(folder / "tblBAS.csv", index=False)
    pd.DataFrame([{"PATIENT": c[0], "CD4_D": day(c[1]), "CD4_V": c[2],
                   "CD4_U": c[3] if len(c) > 3 else 1} for c in cd4],
                 columns=["PATIENT", "CD4_D", "CD4_V", "CD4_U"]).to_csv(
        folder / "tblLAB_CD4.csv", index=False)
    if rna is not None:
        pd.DataFrame([{"PATIENT": r[0], "RNA_D": day(r[1]), "RNA_V": r[2]} for r in rna],
                     columns=["PATIENT", "RNA_D", "RNA_V"]).to_csv(
            folder / "tblLAB_RNA.csv", index=False)
    if art is not None:
        pd.DataFrame([{"PATIENT": a[0], "ART_ID": "J05AF01", "ART_SD": day(a[1])} for a in art],
                     columns=["PATIENT", "ART_ID", "ART_SD"]).to_csv(
            folder / "tblART.csv", index=False)
    return load_cohort(folder)
