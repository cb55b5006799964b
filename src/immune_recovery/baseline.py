"""Baseline characteristics, one row per patient.

Baseline CD4 is the absolute count (``CD4_U = 1``, cells/mm³) dated in
``[T0 - 180 d, T0 + 7 d]`` closest to T0, ties to the earlier date; baseline viral load is
picked the same way from ``tblLAB_RNA`` (copies/mL). Age is in years at T0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cohort import Cohort
from .conventions import BASELINE_WINDOW_DAYS, DAYS_PER_YEAR, to_days
from .measurements import PatientSeries

#: Baseline CD4 bands (cells/mm³) used by tables and risk-factor models.
CD4_BANDS = (0, 50, 100, 200, 350, np.inf)
CD4_BAND_LABELS = ("<50", "50-99", "100-199", "200-349", ">=350")


def cd4_band(values: pd.Series) -> pd.Series:
    """Baseline CD4 (cells/mm³) as an ordered categorical band."""
    return pd.cut(values, bins=list(CD4_BANDS), right=False, labels=list(CD4_BAND_LABELS))


def _pick_baseline(cohort: Cohort, dates: pd.Series, values: pd.Series,
                   codes: np.ndarray) -> tuple[pd.Series, pd.Series]:
    series = PatientSeries.build(codes, to_days(dates), cohort.t0_day, cohort.n_patients)
    before, after = BASELINE_WINDOW_DAYS
    row = series.closest(0, before, after)
    found = row >= 0
    safe = np.where(found, row, 0)
    value = np.where(found, series.take(values.to_numpy(dtype="float64"))[safe]
                     if len(series) else np.nan, np.nan)
    date = np.where(found, series.take(dates.to_numpy())[safe] if len(series)
                    else np.datetime64("NaT"), np.datetime64("NaT"))
    return (pd.Series(value, index=cohort.patients, dtype="float64"),
            pd.Series(date, index=cohort.patients).astype("datetime64[ns]"))


def baseline_cd4(cohort: Cohort) -> pd.DataFrame:
    """Per patient: ``baseline_cd4`` (cells/mm³) and ``baseline_cd4_date``."""
    cd4 = cohort.absolute_cd4()
    value, date = _pick_baseline(cohort, cd4["CD4_D"], cd4["CD4_V"], cd4["code"].to_numpy())
    return pd.DataFrame({"baseline_cd4": value, "baseline_cd4_date": date})


def rna_copies(values: pd.Series) -> pd.Series:
    """RNA_V in copies/mL for analysis: a result below the limit (``-L``) counts as ``L``;
    ``-1`` (undetectable, limit unknown) as missing."""
    v = values.astype("float64")
    return v.where(v >= 0, -v).where(v != -1)


def baseline_rna(cohort: Cohort) -> pd.DataFrame:
    """Per patient: ``baseline_rna`` (copies/mL), ``baseline_log10_rna`` and its date."""
    if cohort.rna.empty:
        idx = cohort.patients
        return pd.DataFrame({"baseline_rna": np.nan, "baseline_log10_rna": np.nan,
                             "baseline_rna_date": pd.NaT}, index=idx).astype(
            {"baseline_rna_date": "datetime64[ns]"})
    rna = cohort.rna
    value, date = _pick_baseline(cohort, rna["RNA_D"], rna_copies(rna["RNA_V"]),
                                 cohort.codes("tblLAB_RNA"))
    with np.errstate(divide="ignore"):
        log10 = np.log10(value.where(value > 0))
    return pd.DataFrame({"baseline_rna": value, "baseline_log10_rna": log10,
                         "baseline_rna_date": date})


#: ATC codes of the drugs flagged in the initial regimen.
ZIDOVUDINE, DIDANOSINE, TENOFOVIR_DF = "J05AF01", "J05AF02", "J05AF07"
TMP_SMX = "J01EE01"
REGIMEN_WINDOW_DAYS = 30


def initial_regimen(cohort: Cohort) -> pd.DataFrame:
    """Per patient, flags of the regimen started at T0 (drugs started within 30 days of T0 and
    not stopped before T0 + 30 d): ``zdv`` (zidovudine), ``ddi_tdf`` (didanosine with tenofovir
    DF), ``tdf``; ``tmp_smx``: TMP/SMX (tblMED ``J01EE01``) taken at T0 + 30 d."""
    idx = cohort.patients
    t0 = cohort.time_origin["t0"]
    out = pd.DataFrame(False, index=idx, columns=["zdv", "ddi_tdf", "tdf", "tmp_smx"])

    def active(df: pd.DataFrame, start: str, stop: str) -> pd.DataFrame:
        if df.empty:
            return df
        origin = t0.to_numpy()[df["PATIENT"].cat.codes.to_numpy()]
        window = pd.to_timedelta(REGIMEN_WINDOW_DAYS, unit="D")
        near = (df[start] >= origin - window) & (df[start] <= origin + window)
        ongoing = df[stop].isna() | (df[stop] > origin + window)
        return df[near.to_numpy() & ongoing.to_numpy()]

    art = active(cohort.art, "ART_SD", "ART_ED")
    if not art.empty:
        codes = art["PATIENT"].cat.codes.to_numpy()
        has = {}
        for drug in (ZIDOVUDINE, DIDANOSINE, TENOFOVIR_DF):
            has[drug] = np.zeros(len(idx), dtype=bool)
            taking = codes[(art["ART_ID"] == drug).to_numpy(dtype=bool, na_value=False)]
            has[drug][taking[taking >= 0]] = True
        out["zdv"] = has[ZIDOVUDINE]
        out["tdf"] = has[TENOFOVIR_DF]
        out["ddi_tdf"] = has[DIDANOSINE] & has[TENOFOVIR_DF]
    med = cohort.med
    if not med.empty:
        med = med[med["MED_ID"] == TMP_SMX]
        origin = t0.to_numpy()[med["PATIENT"].cat.codes.to_numpy()]
        window = pd.to_timedelta(REGIMEN_WINDOW_DAYS, unit="D")
        on = (med["MED_SD"] <= origin + window) & (med["MED_ED"].isna()
                                                   | (med["MED_ED"] > origin + window))
        taking = med.loc[on.to_numpy(), "PATIENT"].cat.codes.unique()
        out.iloc[taking, out.columns.get_loc("tmp_smx")] = True
    return out


def patient_table(cohort: Cohort) -> pd.DataFrame:
    """One row per patient: time origin, demographics, baseline CD4/RNA, follow-up, and
    every ``tblSTUDY`` column (lower-cased).

    Columns include ``t0``, ``age`` (years at T0), ``sex`` (male/female/unknown),
    ``prior_aids`` (AIDS diagnosed on or before T0; NA when unknown), ``baseline_cd4``,
    ``baseline_cd4_band``, ``baseline_log10_rna``, the initial-regimen flags of
    :func:`initial_regimen` (``zdv``, ``ddi_tdf``, ``tdf``, ``tmp_smx``), ``followup_end``,
    ``followup_days``, ``died``, ``death_date``. A stored cohort (a work copy) gives the
    table stored with it.
    """
    if cohort.stored_patient_table is not None:
        return pd.read_parquet(cohort.stored_patient_table)
    idx = cohort.patients
    origin = cohort.time_origin
    birth = cohort.per_patient("tblBAS", "BIRTH_D").astype("datetime64[ns]")
    age = (origin["t0"] - birth).dt.days / DAYS_PER_YEAR
    sex = cohort.per_patient("tblBAS", "SEX").astype("Int64").map(
        {1: "male", 2: "female", 9: "unknown"}).fillna("unknown")
    aids_y = cohort.per_patient("tblBAS", "AIDS_Y").astype("Int64")
    aids_d = cohort.per_patient("tblBAS", "AIDS_D").astype("datetime64[ns]")
    prior_aids = pd.Series(pd.NA, index=idx, dtype="boolean")
    prior_aids[aids_y == 0] = False
    prior_aids[(aids_y == 1) & (aids_d.isna() | (aids_d <= origin["t0"]))] = True
    prior_aids[(aids_y == 1) & (aids_d > origin["t0"])] = False
    hiv_pos = cohort.per_patient("tblBAS", "HIV_POS_D").astype("datetime64[ns]")
    out = pd.DataFrame(
        {
            "t0": origin["t0"],
            "t0_source": origin["t0_source"],
            "age": age,
            "years_since_diagnosis": (origin["t0"] - hiv_pos).dt.days / DAYS_PER_YEAR,
            "sex": sex,
            "mode": cohort.per_patient("tblBAS", "MODE").astype("Int64"),
            "prior_aids": prior_aids,
        },
        index=idx,
    )
    out = out.join(baseline_cd4(cohort)).join(baseline_rna(cohort))
    out = out.join(initial_regimen(cohort))
    out["baseline_cd4_band"] = cd4_band(out["baseline_cd4"])
    fu = cohort.followup
    out = out.join(fu)
    out["followup_days"] = (out["followup_end"] - out["t0"]).dt.days
    study = cohort.study
    if not study.empty:
        extra = study.set_index("PATIENT").drop(columns=[], errors="ignore")
        extra.index = pd.Index(extra.index.astype(str), name="PATIENT")
        extra.columns = [c.lower() for c in extra.columns]
        out = out.join(extra.reindex(idx), rsuffix="_study")
    out.index.name = "PATIENT"
    return out
