"""The pooled consortium as a reader sees it: the primary estimates at a glance and a cohort
forest plot per primary estimate (for the consortium report, ``notebooks/consortium.ipynb``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..formatting import format_ci, format_interval
from ..meta.plots import plot_forest
from .analyses import ESTIMANDS
from .pool import KEY, Pooled, is_primary

#: Axis labels of the forest plots, by estimand.
AXIS = {"frequency": "Non-response, % of assessable patients (95% CI)",
        "risk_factors": "Odds ratio of non-response (95% CI)",
        "outcome_hr": "Hazard ratio of AIDS or death (95% CI)",
        "late_response": "Late response, cumulative incidence % (95% CI)"}
TERMS = {"cd4_per100": "per 100 cells/mm³ higher baseline CD4", "age10": "per 10 years older",
         "female": "women vs men", "proportion": "", "inr_vs_complete": ""}


def describe(key: tuple) -> str:
    """A reader's label of one pooled estimate."""
    estimand, definition, stratum, term = key
    what = ESTIMANDS[estimand]
    detail = TERMS.get(term, "" if estimand == "late_response" else term)
    parts = [what if estimand != "frequency" else f"non-response, {definition}"]
    if detail:
        parts.append(detail)
    if stratum != "overall":
        parts.append(stratum)
    return "; ".join(parts)


def _percent(estimand: str) -> bool:
    return estimand in ("frequency", "late_response")


def primary_table(pooled: Pooled) -> pd.DataFrame:
    """The primary pooled estimates: what, cohorts (sent / withheld), patients, the random-
    effects estimate with its 95% CI and prediction interval, I² and tau²."""
    rows = []
    for row in pooled.pooled.itertuples(index=False):
        key = tuple(getattr(row, k) for k in KEY)
        if not is_primary(key):
            continue
        percent = _percent(row.estimand)
        digits = 1 if percent else 2
        rows.append({
            "estimate of": describe(key),
            "cohorts": row.sites,
            "withheld": row.sites_withheld,
            "patients": row.patients,
            "pooled (95% CI)": format_ci(row.estimate, row.ci_low, row.ci_high, digits,
                                         percent=percent),
            "95% prediction interval": format_interval(row.pi_low, row.pi_high, percent)
            if np.isfinite(row.pi_low) else "fewer than 5 cohorts",
            "I² %": round(100 * row.i2, 1) if np.isfinite(row.i2) else np.nan,
            "tau²": round(row.tau2, 4) if np.isfinite(row.tau2) else np.nan})
    return pd.DataFrame(rows)


def forest_figures(pooled: Pooled) -> list[tuple[str, plt.Figure, str, str]]:
    """(name, figure, caption, alt text) of a cohort forest plot per primary estimate with at
    least two cohorts."""
    out = []
    for key, fit in pooled.fits.items():
        if not is_primary(key) or fit.k_ < 2:
            continue
        estimand = key[0]
        reference = 1.0 if fit.scale == "log" else None
        fig = plot_forest(fit, AXIS[estimand], reference=reference,
                          percent=_percent(estimand))
        name = "forest_" + "_".join(str(k) for k in key if k not in ("overall", "proportion"))
        name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
        out.append((name, fig, f"Cohorts pooled: {describe(key)}. Each cohort's estimate with "
                    "its 95% CI (marker size: random-effects weight), the pooled estimate "
                    "(diamond) and, from five cohorts, the 95% prediction interval (red).",
                    f"Forest plot of {fit.k_} cohorts for {describe(key)}."))
    return out
