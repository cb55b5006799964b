"""The forest plot of one fit, drawn from its :meth:`~.models.MetaAnalysis.summary_frame`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..plots import PALETTE
from .models import MetaAnalysis


def plot_forest(fit: MetaAnalysis, scale_label: str, reference: float | None = None,
                band: tuple[float, float] | None = None, percent: bool = False) -> plt.Figure:
    """Each study with its 95% CI (marker size: weight), the pooled diamond (HKSJ CI) and its
    prediction interval, on the reporting scale; ``reference`` a dashed line, ``band`` a shaded
    range (both on the reporting scale); ``percent`` shows proportions as percentages."""
    frame = fit.summary_frame()
    studies = frame[frame["row"] == "study"]
    pooled = frame[frame["row"] == "pooled"].iloc[0]
    scale = 100 if percent else 1
    k = len(studies)
    fig, ax = plt.subplots(figsize=(7, 0.32 * k + 1.6))
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
        ax.legend(frameon=False, fontsize=8, loc="upper right")
    if reference is not None:
        ax.axvline(scale * reference, color="#888", lw=0.8, ls="--")
    if band is not None:
        ax.axvspan(scale * band[0], scale * band[1], color="#dde8f3", zorder=0)
    ax.set_yticks([k - i for i in range(k)] + [0], list(studies["label"]) + ["pooled (HKSJ)"])
    if fit.scale == "log":
        ax.set_xscale("log")
    ax.set_xlabel(scale_label)
    ax.set_ylim(-1.2, k + 0.8)
    fig.tight_layout()
    return fig
