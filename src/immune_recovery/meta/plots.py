"""Plots of one fit, drawn from its results: the forest plot (study rows, pooled row and
prediction interval), the funnel plot (with trim-and-fill's filled studies) and the Baujat
plot of each study's contribution to heterogeneity against its influence on the estimate."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from ..plots import PALETTE, legend
from .models import MetaAnalysis, TrimFill


def plot_forest(fit: MetaAnalysis, scale_label: str, reference: float | None = None,
                band: tuple[float, float] | None = None, percent: bool = False,
                extra: list[tuple[str, float, float, float]] | None = None) -> plt.Figure:
    """Each study with its 95% CI (marker size: weight), the pooled diamond and its
    prediction interval, on the reporting scale; ``reference`` a dashed line, ``band`` a shaded
    range (both on the reporting scale); ``percent`` shows proportions as percentages;
    ``extra``: estimates that are not part of the pooling (label, estimate, CI low, CI high;
    reporting scale), drawn below it in another colour (e.g. a cohort beside the studies)."""
    frame = fit.summary_frame()
    studies = frame[frame["row"] == "study"]
    pooled = frame[frame["row"] == "pooled"].iloc[0]
    scale = 100 if percent else 1
    k = len(studies)
    extra = extra or []
    fig, ax = plt.subplots(figsize=(7, 0.32 * (k + len(extra)) + 1.6))
    for j, (_, est, low, high) in enumerate(extra):
        yj = -1.6 - j
        ax.plot([scale * low, scale * high], [yj, yj], color=PALETTE[1], lw=1.6)
        ax.scatter([scale * est], [yj], s=60, marker="D", color=PALETTE[1], zorder=3)
    for i, row in enumerate(studies.itertuples(index=False)):
        yi = k - i
        ax.plot([scale * row.ci_low, scale * row.ci_high], [yi, yi], color="#555", lw=1)
        ax.scatter([scale * row.estimate], [yi], s=15 + 400 * row.weight, color=PALETTE[0],
                   zorder=3)
    est, low, high = pooled["estimate"], pooled["ci_low"], pooled["ci_high"]
    ax.fill([scale * low, scale * est, scale * high, scale * est], [0, 0.3, 0, -0.3],
            color="#222")
    if np.isfinite(pooled["pi_low"]):
        ax.plot([scale * pooled["pi_low"], scale * pooled["pi_high"]], [-0.7, -0.7],
                color="#b22", lw=2, label="95% prediction interval")
        legend(ax, frameon=False, fontsize=8)
    if reference is not None:
        ax.axvline(scale * reference, color="#888", lw=0.8, ls="--")
    if band is not None:
        ax.axvspan(scale * band[0], scale * band[1], color="#dde8f3", zorder=0)
    ax.set_yticks([k - i for i in range(k)] + [0] + [-1.6 - j for j in range(len(extra))],
                  list(studies["label"]) + ["pooled"] + [e[0] for e in extra])
    if fit.scale == "log":
        ax.set_xscale("log")
    ax.set_xlabel(scale_label)
    ax.set_ylim(-1.2 - len(extra), k + 0.8)
    fig.tight_layout()
    return fig


def plot_funnel(fit: MetaAnalysis, trimfill: TrimFill | None = None,
                xlabel: str = "Estimate (analysis scale)") -> plt.Figure:
    """Estimates against their standard errors (inverted axis) with the pseudo 95% region
    around the random-effects estimate, as metafor ``funnel``; open markers: studies filled by
    trim and fill."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    s = fit.studies_
    mu = float(fit.primary["estimate"])
    top = float(s["se"].max()) * 1.05
    se = np.linspace(0, top, 50)
    z = stats.norm.isf((1 - fit.level) / 2)
    ax.fill_betweenx(se, mu - z * se, mu + z * se, color="#eef2f7", zorder=0)
    ax.axvline(mu, color="#444", lw=0.8)
    ax.scatter(s["y"], s["se"], color=PALETTE[0], zorder=3, label="studies")
    if trimfill is not None and trimfill.k0:
        ax.scatter(trimfill.filled["y"], trimfill.filled["se"], facecolors="white",
                   edgecolors=PALETTE[0], zorder=3, label=f"filled ({trimfill.k0})")
        legend(ax, frameon=False, fontsize=8)
    ax.set_ylim(top, 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Standard error")
    fig.tight_layout()
    return fig


def plot_influence(fit: MetaAnalysis) -> plt.Figure:
    """Baujat plot: each study's contribution to Cochran's Q (x) against its influence on the
    pooled estimate (y), as metafor ``baujat``."""
    y, v = fit.y_, fit.v_
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    contribution = w * (y - mu) ** 2
    influence = []
    for i in range(fit.k_):
        keep = np.arange(fit.k_) != i
        mu_d = np.sum(w[keep] * y[keep]) / np.sum(w[keep])
        influence.append((mu - mu_d) ** 2 / (1 / np.sum(w[keep])))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(contribution, influence, color=PALETTE[0])
    for label, a, b in zip(fit.labels_, contribution, influence, strict=True):
        ax.annotate(str(label), (a, b), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("Contribution to overall heterogeneity (Q)")
    ax.set_ylabel("Influence on the pooled estimate")
    fig.tight_layout()
    return fig
