"""A cohort (or a pooled consortium) in the published evidence: its estimates beside the
published studies of the evidence report, and where they fall in the meta-regression's
prediction interval for its own definition, region and baseline CD4.

* **Frequency**: for each of the cohort's definitions that the meta-regression of the evidence
  report describes (one CD4 rule, gain, level or relative, with a threshold and a month;
  :func:`~immune_recovery.evidence.questions.definition_meta_regression`), the proportion the
  published studies predict for a cohort with that definition, viral-load requirement, region
  and (when known) median baseline CD4, with the 95% prediction interval of a new cohort's
  true proportion (metafor's ``predict(..., newmods=)``), and whether the cohort's own
  estimate is below, within or above it. A definition outside the thresholds or months the
  published studies used is flagged as an extrapolation.
* **Forest plots**: the evidence report's pooled published frequency (suppressed cohorts) and
  hazard ratio of AIDS or death (non-responders vs complete responders), with the cohort's
  estimate drawn beside the studies, not pooled with them.

Only estimates that may leave the cohort are shown (:func:`~.bundle.disclose`): the same
rows its bundle would send.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..conventions import DAYS_PER_MONTH, Z95
from ..definitions import Definition, select_definitions
from ..evidence.questions import definition_meta_regression, pool_frequency, pool_outcomes
from ..formatting import format_ci, format_interval
from ..meta import SCALES
from ..meta.plots import plot_forest
from ..pinned import LANDMARK_DEFINITION, LEVEL_DEFINITION
from .analyses import OK
from .pool import Pooled

#: The meta-regression's rule families, by the package's CD4 rules.
FAMILIES = {"gain_lt": "gain", "gain_le": "gain", "level_lt": "level", "level_le": "level",
            "rel_gain_lt": "relative"}
#: Highest threshold the meta-regression takes (cells/mm³; as the evidence report).
MAX_THRESHOLD = 800
CONTEXT_COLUMNS = ["definition", "rule", "n", "estimate", "ci_low", "ci_high", "predicted",
                   "pred_ci_low", "pred_ci_high", "pi_low", "pi_high", "position", "note"]


@dataclass
class Context:
    """A cohort in the evidence: the frequency table and the forest plots (name, figure,
    caption, alt text)."""

    frequency: pd.DataFrame
    outcome: pd.DataFrame
    figures: list = field(default_factory=list)
    model: str = ""


def definition_features(definition: Definition) -> dict | None:
    """The meta-regression's description of a definition (rule family, threshold, month,
    viral-load requirement), or None when it has none (several CD4 rules, no threshold)."""
    if len(definition.criteria) != 1:
        return None
    criterion = definition.criteria[0]
    family = FAMILIES.get(criterion.rule)
    if family is None or criterion.threshold is None or criterion.threshold >= MAX_THRESHOLD:
        return None
    month = (definition.assessment_month if definition.assessment_month is not None
             else definition.target_days / DAYS_PER_MONTH)
    return {"family": family, "threshold": float(criterion.threshold), "month": float(month),
            "suppressed": definition.vl_rule != "none"}


def interval(row: pd.Series) -> tuple[float, float, float]:
    """(estimate, CI low, CI high) on the analysis scale: a pooled row's own interval (the
    modified HKSJ one) where it has one, else the Wald interval from its SE."""
    y = float(row["estimate"])
    low, high = row.get("y_ci_low", np.nan), row.get("y_ci_high", np.nan)
    if pd.notna(low) and pd.notna(high):
        return y, float(low), float(high)
    return y, y - Z95 * float(row["se"]), y + Z95 * float(row["se"])


def _design(features: dict, africa: float, baseline_cd4: float | None) -> dict:
    row = {"gain_rule": float(features["family"] == "gain"),
           "relative_rule": float(features["family"] == "relative"),
           "threshold_per100": features["threshold"] / 100,
           "month_per12": features["month"] / 12,
           "suppressed": float(features["suppressed"]), "africa": africa}
    if baseline_cd4 is not None:
        row["baseline_cd4_per100"] = baseline_cd4 / 100
    return row


def africa_share(region: str) -> float:
    """1 for a sub-Saharan African cohort (region text naming Africa), else 0."""
    return float("africa" in (region or "").lower())


def frequency_in_context(estimates: pd.DataFrame, definitions: list[Definition],
                         africa: float, baseline_cd4: float | None) -> tuple[pd.DataFrame,
                                                                             str]:
    """The cohort's frequency under each definition the meta-regression describes, beside
    the predicted proportion with its 95% CI and prediction interval (see the module
    docstring); returns the table (:data:`CONTEXT_COLUMNS`, proportions) and the model used."""
    known = baseline_cd4 is not None and np.isfinite(baseline_cd4)
    fit, data = definition_meta_regression(with_baseline=known)
    overall = estimates[(estimates["estimand"] == "frequency")
                        & (estimates["stratum"] == "overall")
                        & (estimates["status"] == OK)].set_index("definition")
    rows, X = [], []
    for d in definitions:
        features = definition_features(d)
        if features is None or d.id not in overall.index:
            continue
        y, y_low, y_high = interval(overall.loc[d.id])
        inside = (data["cd4_threshold"].min() <= features["threshold"]
                  <= data["cd4_threshold"].max()) and \
            (data["assess_month"].min() <= features["month"] <= data["assess_month"].max())
        rows.append({"definition": d.id, "rule": d.describe(), "n": overall.loc[d.id, "n"],
                     "y": y, "y_low": y_low, "y_high": y_high,
                     "note": "" if inside else "extrapolated: threshold or month outside "
                                               "the published studies' range"})
        X.append(_design(features, africa, baseline_cd4 if known else None))
    model = ("definition, viral-load requirement, region" +
             (" and median baseline CD4" if known else "") +
             f" ({fit.k_} published estimates; Knapp-Hartung)")
    if not rows:
        return pd.DataFrame(columns=CONTEXT_COLUMNS), model
    table = pd.DataFrame(rows)
    pred = fit.predict_frame(pd.DataFrame(X)[fit.design_columns_])
    back = SCALES["logit"]
    table["estimate"] = back(table["y"])
    table["ci_low"], table["ci_high"] = back(table["y_low"]), back(table["y_high"])
    table["predicted"] = pred["estimate"].to_numpy()
    table["pred_ci_low"], table["pred_ci_high"] = (pred["ci_low"].to_numpy(),
                                                   pred["ci_high"].to_numpy())
    table["pi_low"], table["pi_high"] = pred["pi_low"].to_numpy(), pred["pi_high"].to_numpy()
    table["position"] = np.select(
        [table["estimate"] < table["pi_low"], table["estimate"] > table["pi_high"]],
        ["below the prediction interval", "above the prediction interval"],
        "within the prediction interval")
    return table[CONTEXT_COLUMNS], model


def _one(estimates: pd.DataFrame, estimand: str, definition: str) -> pd.Series | None:
    rows = estimates[(estimates["estimand"] == estimand)
                     & (estimates["definition"] == definition)
                     & (estimates["stratum"] == "overall") & (estimates["status"] == OK)]
    return rows.iloc[0] if len(rows) else None


def outcome_in_context(estimates: pd.DataFrame, label: str
                       ) -> tuple[pd.DataFrame, plt.Figure | None]:
    """The cohort's hazard ratio of AIDS or death (non-responders vs complete responders)
    beside the evidence report's pooled published ratio: a table row and the forest plot."""
    question = pool_outcomes()
    pooled = question.fit.pooled_frame().iloc[0]
    row = _one(estimates, "outcome_hr", LANDMARK_DEFINITION)
    out = {"estimate of": "hazard ratio of AIDS or death, non-responders vs complete "
                          "responders", "published_studies": int(pooled["k"]),
           "published": pooled["estimate"], "published_ci_low": pooled["ci_low"],
           "published_ci_high": pooled["ci_high"], "pi_low": pooled["pi_low"],
           "pi_high": pooled["pi_high"]}
    if row is None:
        return pd.DataFrame([out | {"position": "not estimated in this cohort"}]), None
    hr, low, high = (float(np.exp(v)) for v in interval(row))
    within = not np.isfinite(pooled["pi_low"]) or pooled["pi_low"] <= hr <= pooled["pi_high"]
    out |= {"cohort": hr, "cohort_ci_low": low, "cohort_ci_high": high,
            "position": ("within" if within else "outside") + " the prediction interval"}
    fig = plot_forest(question.fit, "Hazard ratio of AIDS or death (95% CI)", reference=1.0,
                      extra=[(label, hr, low, high)])
    return pd.DataFrame([out]), fig


def frequency_forest(estimates: pd.DataFrame, label: str) -> plt.Figure | None:
    """The evidence report's forest plot of the published frequency in suppressed cohorts
    with the cohort's frequency under :data:`LEVEL_DEFINITION` beside it."""
    row = _one(estimates, "frequency", LEVEL_DEFINITION)
    if row is None:
        return None
    back = SCALES["logit"]
    p, low, high = (float(back(v)) for v in interval(row))
    return plot_forest(pool_frequency(suppressed_only=True).fit,
                       "Non-response, % (95% CI)", percent=True,
                       extra=[(f"{label} ({LEVEL_DEFINITION})", p, low, high)])


def in_context(estimates: pd.DataFrame, definitions: list[Definition], africa: float,
               baseline_cd4: float | None, label: str) -> Context:
    """Everything above for one cohort (or a pooled consortium: ``estimates`` with the pooled
    ``y`` as ``estimate``)."""
    frequency, model = frequency_in_context(estimates, definitions, africa, baseline_cd4)
    outcome, hr_figure = outcome_in_context(estimates, label)
    figures = []
    freq_figure = frequency_forest(estimates, label)
    if freq_figure is not None:
        figures.append(("context_frequency", freq_figure,
                        f"The published frequency of non-response in suppressed cohorts "
                        f"(evidence report; one estimate per study group, pooled by random "
                        f"effects) with {label}'s frequency under {LEVEL_DEFINITION} below "
                        "it (not pooled; the published definitions vary).",
                        "Forest plot of published non-response frequencies with the cohort's "
                        "estimate as a separate row."))
    if hr_figure is not None:
        figures.append(("context_outcome", hr_figure,
                        "The published hazard ratios of AIDS or death, non-responders vs "
                        f"complete responders (evidence report), with {label}'s landmark "
                        f"hazard ratio ({LANDMARK_DEFINITION}) below them (not pooled).",
                        "Forest plot of published hazard ratios with the cohort's estimate "
                        "as a separate row."))
    return Context(frequency, outcome, figures, model)


def consortium_context(pooled: Pooled, label: str) -> Context:
    """:func:`in_context` for a pooled consortium: its pooled estimates, the catalogue
    definitions its bundles share, the patient-weighted share of sub-Saharan African cohorts
    and the patient-weighted mean of the cohorts' median baseline CD4 (a cohort-level summary,
    not a median of patients)."""
    sites = pooled.sites
    weights = pd.to_numeric(sites["patients"], errors="coerce").fillna(0)
    africa = float(np.average(sites["region"].map(africa_share), weights=weights))
    medians = pd.to_numeric(sites["median_baseline_cd4"], errors="coerce")
    known = medians.notna() & (weights > 0)
    baseline = float(np.average(medians[known], weights=weights[known])) if known.any() \
        else None
    ids = set(pooled.pooled["definition"])
    definitions = [d for d in select_definitions() if d.id in ids]
    return in_context(pooled_as_estimates(pooled.pooled), definitions, africa, baseline, label)


def frequency_display(table: pd.DataFrame) -> pd.DataFrame:
    """The frequency-in-context table as a reader sees it: percentages with their intervals."""
    def pct(p, low=None, high=None):
        return format_ci(p, low, high, 1, percent=True)
    return pd.DataFrame({
        "definition": table["definition"], "rule": table["rule"],
        "patients": pd.to_numeric(table["n"]).round().astype("Int64"),
        "cohort % (95% CI)": [pct(*r) for r in table[["estimate", "ci_low", "ci_high"]]
                              .to_numpy()],
        "published studies predict % (95% CI)": [
            pct(*r) for r in table[["predicted", "pred_ci_low", "pred_ci_high"]].to_numpy()],
        "95% prediction interval": [format_interval(lo, hi, percent=True) for lo, hi in
                                    table[["pi_low", "pi_high"]].to_numpy()],
        "position": table["position"], "note": table["note"]})


def pooled_as_estimates(pooled: pd.DataFrame) -> pd.DataFrame:
    """A consortium's pooled rows in the shape of a cohort's estimates (``estimate`` and
    ``se`` on the analysis scale, ``n`` the patients), for :func:`in_context`."""
    out = pooled.rename(columns={"estimate": "reported"}).rename(
        columns={"y": "estimate", "patients": "n"})
    out["status"] = np.where(out["sites"] > 0, OK, "no site sent it")
    return out
