"""Estimates against the simulator's truth (the ``simulation-check`` report)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..classify import Classification, nonresponder_flags
from ..conventions import Z95
from ..intervals import cohen_kappa, wilson


def nonresponse_vs_truth(result: Classification, truth: pd.DataFrame,
                         definition_id: str = "seed_gain_le100_m6_12",
                         true_column: str = "true_inr_gain_le100_m12") -> pd.DataFrame:
    """Measured classification against the latent (error-free) status.

    Among patients classified (complete responder or immunologic non-responder) who were truly
    suppressed at the assessment: percent non-responders measured and true, and how well the
    measured status recovers the true one (sensitivity, specificity, Cohen's kappa).
    """
    denominator, numerator = nonresponder_flags(result, definition_id)
    aligned = truth.reindex(result.patients)
    truly_suppressed = aligned["suppressed_m12"].to_numpy() == 1
    keep = denominator & truly_suppressed
    measured = numerator[keep]
    true = aligned[true_column].to_numpy()[keep] == 1
    n = int(keep.sum())
    both, only_m = int(np.sum(measured & true)), int(np.sum(measured & ~true))
    only_t, neither = int(np.sum(~measured & true)), int(np.sum(~measured & ~true))
    p_m, lo_m, hi_m = wilson(np.array([measured.sum()]), np.array([n]))
    p_t, lo_t, hi_t = wilson(np.array([true.sum()]), np.array([n]))
    rows = [
        ("patients classified and truly suppressed", n, np.nan, np.nan),
        ("non-responders, measured (%)", 100 * p_m[0], 100 * lo_m[0], 100 * hi_m[0]),
        ("non-responders, true latent status (%)", 100 * p_t[0], 100 * lo_t[0], 100 * hi_t[0]),
        ("sensitivity of the measured status (%)", 100 * both / max(both + only_t, 1),
         np.nan, np.nan),
        ("specificity of the measured status (%)", 100 * neither / max(neither + only_m, 1),
         np.nan, np.nan),
        ("Cohen's kappa, measured vs true", cohen_kappa(both, only_m, only_t, neither),
         np.nan, np.nan),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value", "ci_low", "ci_high"])


def baseline_vs_truth(patients: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Measured baseline CD4 against the latent baseline count (cells/mm³)."""
    latent = truth.reindex(patients.index)["latent_baseline_cd4"]
    diff = (patients["baseline_cd4"] - latent).dropna()
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    return pd.DataFrame([
        {"quantity": "patients with a baseline count", "value": len(diff),
         "ci_low": np.nan, "ci_high": np.nan},
        {"quantity": "mean measured minus latent baseline CD4", "value": diff.mean(),
         "ci_low": diff.mean() - Z95 * se, "ci_high": diff.mean() + Z95 * se},
        {"quantity": "median latent baseline CD4", "value": latent.median(),
         "ci_low": np.nan, "ci_high": np.nan},
        {"quantity": "median measured baseline CD4", "value": patients["baseline_cd4"].median(),
         "ci_low": np.nan, "ci_high": np.nan},
    ])


def latent_classes(truth: pd.DataFrame) -> pd.DataFrame:
    """How many patients the simulator made responders, late responders and stalled."""
    counts = truth["latent_class"].value_counts().rename("patients")
    out = counts.to_frame()
    out["percent"] = 100 * out["patients"] / out["patients"].sum()
    out["median_plateau_cd4"] = truth.groupby("latent_class")["plateau_cd4"].median()
    out["median_tau_years"] = truth.groupby("latent_class")["tau_years"].median()
    return out.rename_axis("latent_class").reset_index()


def true_effects_table(meta: dict) -> pd.DataFrame:
    return pd.DataFrame([{"effect": k, "true_value": v} for k, v in meta["true_effects"].items()])
