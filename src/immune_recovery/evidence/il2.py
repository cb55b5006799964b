"""The IL-2 questions: meta-analysis of the randomized trials' clinical effects.

Clinical inputs are the randomized IL-2 trials of the study-level table
``data/reference/immune_therapy_trials.csv`` (V and V2 rows, citations kept); CD4 results as
reported come from ``data/reference/il2_trials.csv`` and are shown, not pooled. Hazard ratios are
pooled on the log scale with the package's random-effects library
(:mod:`immune_recovery.meta`): REML with the Hartung-Knapp-Sidik-Jonkman interval and
a 95% prediction interval, with the Wald interval, the fixed effect, and DerSimonian-Laird and
Paule-Mandel as sensitivity rows; I^2 by Higgins & Thompson's convention.

Standard errors: SE(log HR) = (ln upper - ln lower) / (2 x 1.96) from a 95% CI; when a trial
reports only a P-value (e.g. ESPRIT and SILCAAT for death), SE = |ln HR| / z(P/2) (Altman DG,
Bland JM. BMJ 2011;343:d2090), marked ``se_source = "p-value"``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

from ..conventions import Z95
from ..formatting import captioned
from ..meta import MetaAnalysis, log_ratio_from_ci
from ..reference import load, poolable

#: Columns of ``meta_clinical.csv``.
META_COLUMNS = ["endpoint", "model", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                "i2", "tau2", "k", "flag"]
#: Clinical endpoints pooled, and how each trial's endpoint text begins.
ENDPOINTS = {
    "opportunistic disease or death": ("opportunistic disease or death",
                                       "opportunistic event or death"),
    "death": ("death from any cause",),
}
#: Designs that are not one randomized comparison (left out of the clinical pooling).
NOT_ONE_TRIAL = "subgroup|extended|letter|review|pooled"


def randomized_il2_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Rows of an ``immune_therapy_trials.csv`` table that are one randomized comparison of
    IL-2, read in the original or a secondary copy (V, V2)."""
    keep = (trials["intervention"].str.contains("IL-2", na=False)
            & trials["design"].str.contains("RCT", na=False)
            & ~trials["design"].str.contains(NOT_ONE_TRIAL, case=False, na=False)
            & poolable(trials))
    return trials[keep]


def load_clinical_trials() -> pd.DataFrame:
    """Randomized IL-2 trials' clinical results from the study-level table
    ``immune_therapy_trials.csv``: V and V2 rows only; reviews, letters, subgroup analyses,
    pooled analyses and extended follow-up left out (they are not one randomized comparison)."""
    out = randomized_il2_trials(load("immune_therapy_trials")).copy()
    for column in ("hr", "hr_ci_low", "hr_ci_high"):
        out[column] = pd.to_numeric(out[column], errors="coerce")
    return captioned(out.reset_index(drop=True), "Randomized IL-2 trials and their clinical "
                     "results (data/reference/immune_therapy_trials.csv)")


def _p_value(text: object) -> float | None:
    match = re.search(r"P\s*=\s*([0-9.]+)", str(text))
    return float(match.group(1)) if match else None


def hazard_ratio_inputs(trials: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """Randomized trials (:func:`load_clinical_trials`) reporting a hazard ratio for
    ``endpoint`` with a CI or a P-value (read from the row's note).

    Columns: trial, citation, on_art, hr, ci_low, ci_high, log_hr, se, se_source, verification.
    """
    wanted = trials["clinical_endpoint"].fillna("").str.startswith(ENDPOINTS[endpoint])
    rows = []
    for row in trials[wanted & trials["hr"].notna()].itertuples(index=False):
        log_hr = float(np.log(row.hr))
        p_value = _p_value(row.note)
        if pd.notna(row.hr_ci_low) and pd.notna(row.hr_ci_high):
            se = float(log_ratio_from_ci(row.hr, row.hr_ci_low, row.hr_ci_high)[1])
            source, low, high = "95% CI", float(row.hr_ci_low), float(row.hr_ci_high)
        elif p_value is not None:
            se = abs(log_hr) / stats.norm.ppf(1 - p_value / 2)
            source = "p-value"
            low, high = float(np.exp(log_hr - Z95 * se)), float(np.exp(log_hr + Z95 * se))
        else:
            continue
        rows.append({"trial": row.trial, "citation": row.source, "on_art": row.on_art,
                     "hr": row.hr, "ci_low": low, "ci_high": high, "log_hr": log_hr,
                     "se": float(se), "se_source": source, "verification": row.verification})
    return captioned(pd.DataFrame(rows), f"Hazard ratios of {endpoint} reported by the "
                     "randomized IL-2 trials, as pooled")


def pool(inputs: pd.DataFrame, endpoint: str, label: str = "") -> pd.DataFrame:
    """Pooled hazard ratios (``META_COLUMNS``) with the package's random-effects library
    (:class:`~immune_recovery.meta.models.MetaAnalysis`): REML with the HKSJ interval
    (primary) and with the Wald interval, the modified HKSJ interval (never narrower than the
    Wald one; with k = 2 the HKSJ interval is only as wide as the chance agreement of the two
    trials allows), the fixed-effect estimate, and DerSimonian-Laird and Paule-Mandel as
    sensitivity rows. With k <= 3, tau^2 is barely estimable (flag
    ``few_studies``); with k = 1 the trial is returned as itself."""
    rows = []
    endpoint_label = endpoint + (f" ({label})" if label else "")
    for method in ("REML", "DL", "PM"):
        fit = MetaAnalysis(method=method, scale="log").fit(
            inputs["log_hr"], se=inputs["se"], labels=inputs["trial"])
        table = fit.pooled_frame()
        if method != "REML":
            table = table[table["model"].str.contains("Wald")]
        rows.append(table)
        if fit.k_ == 1:
            break
        if method == "REML":
            rows.append(MetaAnalysis(scale="log", test="adhoc").fit(
                inputs["log_hr"], se=inputs["se"]).pooled_frame().iloc[[0]])
    out = pd.concat(rows, ignore_index=True).drop_duplicates("model")
    out.insert(0, "endpoint", endpoint_label)
    return out[META_COLUMNS].reset_index(drop=True)


#: The IL-2 clinical verdict rests on the common-effect model: with two trials tau^2 cannot be
#: estimated and the HKSJ interval depends on how closely they happen to agree (Cochrane
#: Handbook 10.10.4.1 on random effects with very few studies).
IL2_DECIDING_MODEL = "fixed effect (inverse variance)"
CLINICAL_ENDPOINT = "opportunistic disease or death"


def observed_clinical_effect(trials: pd.DataFrame | None = None) -> dict[float, str]:
    """The one observed effect of an immune-based therapy on clinical events: the IL-2 trials'
    pooled hazard ratio of opportunistic disease or death (:data:`IL2_DECIDING_MODEL`), as a
    design scenario ``{hazard ratio: label}``."""
    summary = clinical_summary(load_clinical_trials() if trials is None else trials)
    row = summary[(summary["endpoint"] == f"{CLINICAL_ENDPOINT} (trials on ART)")
                  & (summary["model"] == IL2_DECIDING_MODEL)].iloc[0]
    return {round(float(row["estimate"]), 2):
            f"observed: IL-2 trials on ART (k = {int(row['k'])}), {IL2_DECIDING_MODEL}, "
            f"95% CI {row['ci_low']:.2f}-{row['ci_high']:.2f}"}


def clinical_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """``meta_clinical.csv``: opportunistic disease or death (all trials, then trials on ART
    only) and death, each pooled three ways."""
    od = hazard_ratio_inputs(trials, "opportunistic disease or death")
    return pd.concat([
        pool(od, "opportunistic disease or death"),
        pool(od[od["on_art"] == "yes"], "opportunistic disease or death", "trials on ART"),
        pool(hazard_ratio_inputs(trials, "death"), "death"),
    ], ignore_index=True)


def cd4_effects(trials: pd.DataFrame) -> pd.DataFrame:
    """Every trial's CD4 result as reported, with the measure, and whether a difference with a
    standard error can be formed (mean +/- SE or a CI of the difference); its 95% CI is the
    reported one, else difference +/- 1.96 SE (cells/mm³, or percent where so measured)."""
    rows = []
    for row in trials[trials["cd4_measure"].notna()].itertuples(index=False):
        diff, se, how = row.cd4_difference, np.nan, "not comparable (no dispersion)"
        low = high = np.nan
        if pd.notna(row.cd4_diff_ci_low) and pd.notna(row.cd4_diff_ci_high):
            se = (row.cd4_diff_ci_high - row.cd4_diff_ci_low) / (2 * Z95)
            low, high = float(row.cd4_diff_ci_low), float(row.cd4_diff_ci_high)
            how = "difference with 95% CI"
        elif pd.notna(row.cd4_il2) and pd.notna(row.cd4_control):
            note = str(row.cd4_dispersion_note)
            arms = re.search(r"(SE|SD) ([0-9.]+) \(IL-2\) and ([0-9.]+) \(control\)", note)
            if arms:
                kind, a, b = arms.group(1), float(arms.group(2)), float(arms.group(3))
                n_il2, n_control = float(row.n_il2), float(row.n_control)
                if kind == "SD":
                    a, b = a / np.sqrt(n_il2), b / np.sqrt(n_control)
                diff = float(row.cd4_il2) - float(row.cd4_control)
                se, how = float(np.hypot(a, b)), f"difference of arm means, SE from arm {kind}s"
                low, high = diff - Z95 * se, diff + Z95 * se
        rows.append({"trial": row.trial, "measure": row.cd4_measure, "il2": row.cd4_il2,
                     "control": row.cd4_control, "difference": diff, "ci_low": low,
                     "ci_high": high, "se": se,
                     "how": how, "citation": row.source})
    return pd.DataFrame(rows)


def comparable_groups(cd4: pd.DataFrame) -> pd.DataFrame:
    """Trials sharing one CD4 measure and having a standard error: the only ones that could be
    pooled together. Each measure with fewer than two such trials is reported as not pooled."""
    usable = cd4[cd4["se"].notna()]
    counts = usable.groupby("measure").size().rename("trials_with_se").reset_index()
    counts["pooled"] = counts["trials_with_se"] >= 2
    return counts
