"""The evidence report's figures: the meta-regression, harmonized risk-factor ratios and the
IL-2 trials. Forest plots of one pooled question are the library's
(:func:`immune_recovery.meta.plot_forest`, drawn from the fit the verdict used)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..formatting import format_ci
from ..meta import MetaRegression, plot_forest
from ..plots import PALETTE, legend
from . import harmonized, il2


def plot_meta_regression(fit: MetaRegression, data: pd.DataFrame,
                         months: tuple[float, ...] = (6, 12, 36, 72)) -> plt.Figure:
    """Predicted prevalence by threshold for level-based rules in suppressed cohorts outside
    Africa, one line per assessment month; the estimates as points sized by weight."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    thresholds = np.linspace(200, 500, 31)
    for i, month in enumerate(months):
        grid = pd.DataFrame({"gain_rule": 0.0, "relative_rule": 0.0,
                             "threshold_per100": thresholds / 100, "month_per12": month / 12,
                             "suppressed": 1.0, "africa": 0.0, "baseline_cd4_per100": 2.0})
        pred = 1 / (1 + np.exp(-fit.predict(grid)))
        ax.plot(thresholds, 100 * pred, color=PALETTE[i % len(PALETTE)],
                label=f"month {month:g}")
    level = data[data["family"] == "level"]
    ax.scatter(level["cd4_threshold"], 100 * level["proportion"],
               s=20 + 600 * level["weight"], facecolors="none", edgecolors="#444",
               label="level-based estimates (size: weight)")
    ax.set_xlabel("CD4 threshold of the definition, cells/mm³")
    ax.set_ylabel("Non-responders, %")
    ax.set_ylim(0, 100)
    legend(ax, frameon=False, fontsize=8)
    fig.tight_layout()
    return fig




def plot_harmonized(harmonized: pd.DataFrame, title: str) -> plt.Figure:
    """Forest plot of harmonized ratios (above 1: the claimed direction), labelled with the
    study, its contrast and outcome family; open markers: no CI printed."""
    h = harmonized.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(h) + 1.4))
    y = np.arange(len(h))[::-1]
    for yi, row in zip(y, h.itertuples(index=False), strict=True):
        has_ci = np.isfinite(row.harmonized_low) and np.isfinite(row.harmonized_high)
        if has_ci:
            ax.plot([row.harmonized_low, row.harmonized_high], [yi, yi], color="#555", lw=1)
        ax.scatter([row.harmonized], [yi], color=PALETTE[0] if has_ci else "white",
                   edgecolors=PALETTE[0], zorder=3)
    ax.axvline(1, color="#888", lw=0.8, ls="--")
    ax.set_xscale("log")
    labels = [f"{r.study_id}: {str(r.contrast)[:38]} ({r.outcome_family})"
              + (" [inverted]" if r.inverted else "") for r in h.itertuples(index=False)]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("Ratio, harmonized (above 1: the claimed direction; log scale)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_trials_forest(inputs: pd.DataFrame, pooled: pd.DataFrame, title: str) -> plt.Figure:
    """Trials and pooled estimates (hazard ratio, log scale)."""
    labels = [f"{t} ({'on ART' if a == 'yes' else 'not on ART'})"
              for t, a in zip(inputs["trial"], inputs["on_art"], strict=True)]
    labels += list(pooled["model"])
    est = list(inputs["hr"]) + list(pooled["estimate"])
    low = list(inputs["ci_low"]) + list(pooled["ci_low"])
    high = list(inputs["ci_high"]) + list(pooled["ci_high"])
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(labels) + 1.3))
    y = np.arange(len(labels))[::-1]
    n = len(inputs)
    for i in range(len(labels)):
        ax.errorbar(est[i], y[i], xerr=[[est[i] - low[i]], [high[i] - est[i]]],
                    fmt="s" if i < n else "D", color=PALETTE[0] if i < n else "#222222",
                    capsize=2)
        ax.annotate(format_ci(est[i], low[i], high[i], dash="-"), xy=(1.01, y[i]),
                    xycoords=("axes fraction", "data"), va="center", fontsize=7)
    ax.axvline(1, color="grey", linewidth=1)
    ax.axhline(y[n - 1] - 0.5, color="#CCCCCC", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("Hazard ratio, IL-2 vs control (95% CI)")
    ax.set_title(title, loc="left")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def plot_surrogate(trials: pd.DataFrame) -> plt.Figure:
    """CD4 effect against clinical effect per trial: the surrogate question in one figure.

    x: the CD4 gain with IL-2 as reported (difference between arms where given, else the IL-2
    arm's change); y: the hazard ratio for opportunistic disease or death with its CI, or the
    event counts for trials that report only counts.
    """
    fig, ax = plt.subplots()
    clinical = trials[trials["clinical_endpoint"].fillna("").str.startswith(
        il2.ENDPOINTS["opportunistic disease or death"]) & trials["hr_ci_low"].notna()]
    for i, row in enumerate(clinical.itertuples(index=False)):
        x = row.cd4_difference if pd.notna(row.cd4_difference) else float(row.cd4_il2)
        ax.errorbar(x, row.hr, yerr=[[row.hr - row.hr_ci_low], [row.hr_ci_high - row.hr]],
                    fmt="o", color=PALETTE[i % len(PALETTE)], capsize=3,
                    label=f"{row.trial}: {row.cd4_measure.split(' (')[0]}")
    ax.axhline(1, color="grey", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("CD4 gain with IL-2, cells/mm³ (as reported)")
    ax.set_ylabel("Hazard ratio, opportunistic disease or death")
    legend(ax, frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def harmonized_forests(syntheses: dict[str, object]
                       ) -> list[tuple[str, plt.Figure, str, str]]:
    """The forest plot of each question of :mod:`.harmonized` pooled from two or more
    studies, as (name, figure, caption, alt text), in the order of ``harmonized.QUESTIONS``."""
    out = []
    for name, q in harmonized.QUESTIONS.items():
        question = syntheses.get(name)
        if question is None or question.fit is None or question.fit.k_ < 2:
            continue
        ratio = q.scale == "log"
        label = q.measure + (" (log scale)" if ratio else "")
        fig = plot_forest(question.fit, label, reference=q.null)
        caption = (f"{q.title[0].upper()}{q.title[1:]}: {q.measure} (k = {question.fit.k_}; "
                   + ("above 1: non-response commoner with the exposure" if ratio else
                      "the difference in CD4 cells/mm³") + f"). Selection rule: {question.rule}.")
        alt = (f"Forest plot of the published {q.measure} for {q.title}, one estimate per "
               "study group, with the pooled estimate.")
        out.append((name, fig, caption, alt))
    return out
