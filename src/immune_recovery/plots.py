"""Figures shared by several reports: forest plots and Kaplan-Meier curves with numbers at risk."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.plotting import add_at_risk_counts

from . import disclosure
from .disclosure import figures as disclosed
from .formatting import format_ci

PALETTE = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB"]


def legend(ax, **style) -> None:
    """The legend of ``ax`` outside it, to the right of its top (never over the data; the
    figure is saved with a tight bounding box, which takes it in), when something on ``ax``
    has a label (a figure whose curves were all left out, e.g. under disclosure control, gets
    no empty legend and no warning). ``style``: ``ax.legend``'s options but the placement."""
    style = {k: v for k, v in style.items() if k not in ("loc", "bbox_to_anchor")}
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **style)


def forest(table: pd.DataFrame, estimate: str, low: str, high: str, label: str = "label",
           xlabel: str = "Odds ratio (95% CI)", reference: float = 1.0, log: bool = True,
           marker_column: str | None = None) -> plt.Figure:
    """Forest plot: one row per line of ``table`` (top to bottom), estimate with its CI.

    ``marker_column`` (optional) holds a second value per row drawn as a red cross (e.g. a
    true value or a published estimate). Rows without a finite, positive (on a log scale)
    estimate and CI are left out, so a model that could not be estimated draws no axis from
    1e-8 to 1e152; with none left the figure says so.
    """
    rows = table.reset_index(drop=True)
    values = rows[[estimate, low, high]].apply(pd.to_numeric, errors="coerce") \
        .to_numpy(dtype=float, na_value=np.nan)
    drawable = np.isfinite(values).all(axis=1) & ((values > 0).all(axis=1) if log else True)
    rows = rows[drawable].reset_index(drop=True)
    if rows.empty:
        fig, ax = plt.subplots(figsize=(7.5, 1.3))
        ax.axis("off")
        ax.text(0.5, 0.5, "No estimate could be made (see the table's notes).",
                ha="center", va="center")
        return fig
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(rows) + 1.3))
    y = np.arange(len(rows))[::-1]
    est = rows[estimate].to_numpy(dtype=float)
    lo = rows[low].to_numpy(dtype=float)
    hi = rows[high].to_numpy(dtype=float)
    ax.errorbar(est, y, xerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)],
                fmt="s", color=PALETTE[0], capsize=2, markersize=5, label="estimate (95% CI)")
    if marker_column is not None:
        ax.plot(rows[marker_column].to_numpy(dtype=float), y, "x", color="#BB5566",
                markersize=7, label=marker_column.replace("_", " "))
        legend(ax, frameon=False, fontsize=8)
    ax.axvline(reference, color="grey", linewidth=1)
    if log:
        ax.set_xscale("log")
    ax.set_yticks(y, rows[label], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    for yi, e, l_, h in zip(y, est, lo, hi, strict=True):
        if np.isfinite(e):
            ax.annotate(format_ci(e, l_, h, dash="-"), xy=(1.01, yi),
                        xycoords=("axes fraction", "data"), va="center", fontsize=7)
    fig.tight_layout()
    return fig


def kaplan_meier(durations: pd.Series, events: pd.Series, groups: pd.Series,
                 title: str, xlabel: str = "Years", ylabel: str = "Proportion event-free",
                 order: list[str] | None = None) -> plt.Figure:
    """Kaplan-Meier curves by group, with the numbers at risk under the axis (the first
    column of the at-risk table is each group's size); under disclosure control the curves
    step only after enough patients left and stop where too few are at risk
    (:func:`immune_recovery.disclosure.figures.survival_steps`)."""
    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    fitters = []
    labels = order or sorted(groups.dropna().astype(str).unique())
    for i, name in enumerate(labels):
        mask = (groups.astype(str) == name).to_numpy()
        if not mask.any() or disclosure.small(mask.sum()):
            continue
        kmf = KaplanMeierFitter(label=name.replace("_", " "))
        kmf.fit(durations[mask], event_observed=events[mask])
        times, survival = disclosed.survival_steps(kmf.event_table, kmf.survival_function_)
        ax.step(times, survival, where="post", color=PALETTE[i % len(PALETTE)],
                label=name.replace("_", " "))
        fitters.append(kmf)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    ax.set_ylim(0, 1.02)
    legend(ax, frameon=False, loc="lower left", fontsize=8)
    add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    disclosed.protect_at_risk(fig, ax)
    fig.tight_layout()
    return fig
