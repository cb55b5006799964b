"""Cohort overview: Table 1, CD4 over follow-up, follow-up time and events.

All functions take the one-row-per-patient frame of :func:`~immune_recovery.baseline.patient_table`
(and the cohort where measurements are needed) and return tidy frames; plotting functions
return matplotlib figures.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tableone import TableOne

from . import disclosure
from .baseline import CD4_BAND_LABELS
from .cohort import Cohort
from .conventions import DAYS_PER_MONTH, DAYS_PER_YEAR
from .disclosure import figures as disclosed
from .events import aids_events
from .formatting import as_text
from .plots import kaplan_meier, legend

BASE_CONTINUOUS = {"age": "Age, years", "baseline_cd4": "Baseline CD4, cells/mm3",
                   "baseline_log10_rna": "Baseline HIV RNA, log10 copies/mL"}
BASE_CATEGORICAL = {"sex": "Sex", "baseline_cd4_band": "Baseline CD4 band, cells/mm3",
                    "prior_aids": "Prior AIDS diagnosis"}


def table_one(patients: pd.DataFrame, groupby: str | None = "arm",
              continuous: dict[str, str] | None = None,
              categorical: dict[str, str] | None = None) -> TableOne:
    """Table 1 (tableone): baseline characteristics overall and by ``groupby``.

    Continuous variables are shown as median [Q1, Q3]; columns with no data are left out.
    ``continuous``/``categorical`` add data-set-specific columns (name -> label).
    """
    cont = {**BASE_CONTINUOUS, **(continuous or {})}
    cat = {**BASE_CATEGORICAL, **(categorical or {})}
    data = patients.copy()
    cont = {k: v for k, v in cont.items() if k in data and data[k].notna().any()}
    cat = {k: v for k, v in cat.items() if k in data and data[k].notna().any()}
    for column in cat:
        data[column] = data[column].astype("object").where(data[column].notna(), None)
        data[column] = data[column].map(lambda v: v if v is None else str(v))
    group = groupby if groupby and groupby in data and data[groupby].notna().any() else None
    columns = list(cont) + list(cat)
    order = {"baseline_cd4_band": [str(b) for b in CD4_BAND_LABELS]}
    return TableOne(
        data[columns + ([group] if group else [])],
        order={k: v for k, v in order.items() if k in cat},
        columns=columns,
        categorical=list(cat),
        continuous=list(cont),
        nonnormal=list(cont),
        groupby=group,
        rename={**cont, **cat},
        missing=True,
        overall=True,
        decimals=1,
    )


def table_one_frame(t1: TableOne) -> pd.DataFrame:
    """Table 1 as a flat, tidy frame for CSV: variable, level, then one column per group."""
    frame = t1.tableone.copy()
    frame.columns = [c[-1] if isinstance(c, tuple) else c for c in frame.columns]
    frame = frame.reset_index()
    frame.columns = ["variable", "level", *frame.columns[2:]]
    return disclosure.declare(frame, partition=["variable"], labels=["level"],
                              counts=[c for c in ["Missing"] if c in frame],
                              count_percent=list(frame.columns[3:]))


def cd4_visits(cohort: Cohort, patients: pd.DataFrame, group: str | None = "arm",
               bin_months: int | None = None) -> pd.DataFrame:
    """Absolute CD4 counts with time since T0: one row per measurement.

    Columns: ``PATIENT``, ``group``, ``days`` (since T0), ``month`` (visit month: days /
    30.4375 rounded to the nearest ``bin_months``; 1 when not given and the cohort has at most
    12 distinct visit months, else 6), ``cd4`` (cells/mm³).
    """
    cd4 = cohort.absolute_cd4()
    days = cd4["days_since_t0"].to_numpy()
    month = np.floor(days / DAYS_PER_MONTH + 0.5)
    if bin_months is None:
        bin_months = 1 if len(np.unique(month[~np.isnan(month)])) <= 12 else 6
    month = np.floor(month / bin_months + 0.5) * bin_months
    labels = patients[group].to_numpy()[cd4["code"].to_numpy()] if group in patients else "all"
    return pd.DataFrame({
        "PATIENT": as_text(cd4["PATIENT"]),
        "group": labels,
        "days": days,
        "month": month.astype("int64"),
        "cd4": cd4["CD4_V"].to_numpy(),
    })


def cd4_summary(visits: pd.DataFrame) -> pd.DataFrame:
    """CD4 (cells/mm³) by group and visit month: n, median, Q1, Q3, mean."""
    grouped = visits.groupby(["group", "month"], sort=True)["cd4"]
    out = grouped.agg(n="count", median="median", q1=lambda s: s.quantile(0.25),
                      q3=lambda s: s.quantile(0.75), mean="mean").reset_index()
    return out


def followup_summary(cohort: Cohort, patients: pd.DataFrame, group: str | None = "arm"
                     ) -> pd.DataFrame:
    """Per group (and overall): patients, person-years, median follow-up, and events.

    Columns: ``group``, ``patients``, ``person_years``, ``median_followup_months``,
    ``deaths``, ``aids_events`` (first AIDS-defining event after T0), ``endpoint_events``
    (the trial's primary endpoint, when the data set has one), ``drop_outs``.
    """
    data = patients.assign(
        _group=patients[group].astype(str) if group in patients else "all",
        _aids=aids_events(cohort, patients).notna().to_numpy(),
        _endpoint=(patients["endpoint_y"] == 1) if "endpoint_y" in patients else False,
    )

    def summarise(df: pd.DataFrame, label: str) -> dict:
        days = df["followup_days"].clip(lower=0)
        return {
            "group": label,
            "patients": len(df),
            "person_years": round(float(days.sum() / DAYS_PER_YEAR), 1),
            "median_followup_months": round(float(days.median() / DAYS_PER_MONTH), 1),
            "deaths": int(df["died"].sum()),
            "aids_events": int(df["_aids"].sum()),
            "endpoint_events": int(pd.Series(df["_endpoint"]).fillna(False).sum()),
            "drop_outs": int(df["dropped_out"].sum()),
        }

    rows = [summarise(df, str(label)) for label, df in data.groupby("_group", sort=True)]
    rows.append(summarise(data, "overall"))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------


def plot_baseline_cd4(patients: pd.DataFrame, group: str | None = "arm") -> plt.Figure:
    """Histogram of baseline CD4 (cells/mm³), one panel per group."""
    groups = sorted(patients[group].dropna().astype(str).unique()) if group in patients \
        else ["all"]
    fig, axes = plt.subplots(1, len(groups), sharex=True, sharey=True,
                             figsize=(min(3.0 * len(groups) + 1, 12), 3.2), squeeze=False)
    values_all = patients["baseline_cd4"].dropna()
    bins = np.histogram_bin_edges(values_all, bins=30) if len(values_all) else 10
    for ax, label in zip(axes[0], groups, strict=True):
        values = patients.loc[patients[group].astype(str) == label, "baseline_cd4"].dropna() \
            if group in patients else values_all
        disclosed.histogram(ax, values, bins, color="#4477AA", edgecolor="white")
        ax.axvline(200, color="#BB5566", linestyle="--", linewidth=1)
        ax.set_title(f"{label} (n={disclosure.count_text(len(values))})")
        ax.set_xlabel("Baseline CD4, cells/mm³")
    axes[0][0].set_ylabel("Patients")
    fig.tight_layout()
    return fig


def plot_cd4_over_time(summary: pd.DataFrame, min_n: int = 10) -> plt.Figure:
    """Median CD4 (with interquartile range) by visit month and group (months with at least
    ``min_n`` counts, and at least the disclosure minimum)."""
    min_n = max(min_n, disclosure.min_cell())
    fig, ax = plt.subplots()
    palette = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377"]
    groups = list(dict.fromkeys(summary["group"]))
    width = 0.12 * max(summary["month"].diff().abs().replace(0, np.nan).min(), 1) \
        if len(summary) > 1 else 0
    for i, label in enumerate(groups):
        part = summary[(summary["group"] == label) & (summary["n"] >= min_n)]
        x = part["month"] + (i - (len(groups) - 1) / 2) * width
        ax.errorbar(x, part["median"], yerr=[part["median"] - part["q1"],
                    part["q3"] - part["median"]], marker="o", capsize=3,
                    color=palette[i % len(palette)], label=str(label))
    ax.set_xlabel("Months since start of the study drug / ART")
    ax.set_ylabel("CD4, cells/mm³ (median, IQR)")
    legend(ax, title=None, frameon=False)
    fig.tight_layout()
    return fig


def plot_endpoint_km(patients: pd.DataFrame, group: str | None = "arm",
                     event: str = "endpoint_y", label: str = "Primary endpoint") -> plt.Figure:
    """Kaplan-Meier curves of the event-free proportion by group, numbers at risk below."""
    data = patients.dropna(subset=["followup_days", event])  # endpoint status known
    groups = data[group] if group in data else pd.Series("all", index=data.index)
    return kaplan_meier(data["followup_days"] / DAYS_PER_MONTH, (data[event] == 1).to_numpy(bool), groups,
                        title=label, xlabel="Months since randomisation / ART start")


def has_endpoint(patients: pd.DataFrame, event: str = "endpoint_y") -> bool:
    """Whether the cohort records a trial endpoint for at least one patient."""
    return event in patients and bool(patients[event].notna().any())
