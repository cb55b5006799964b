"""Calibration of the simulator against published figures, computed by the package's own
analyses on a simulated cohort.

The targets (published value, source, tolerance) are data: ``data/reference/
simulation_calibration_targets.csv``. :func:`calibration_table` computes the simulated value of
each with its 95% CI and says whether it falls within the tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from lifelines import CoxPHFitter
from statsmodels.stats.proportion import proportion_confint

from ..baseline import patient_table
from ..classify import Classification, classify, prepare
from ..cohort import Cohort
from ..conventions import DAYS_PER_YEAR, MISSING_DAY, Z95
from ..definitions import load_catalogue
from ..outcomes import incidence, landmark_by_definition, rate_ratios
from ..paths import reference_dir

TARGETS_FILE = "simulation_calibration_targets.csv"


def load_targets() -> pd.DataFrame:
    return pd.read_csv(reference_dir() / TARGETS_FILE)


def _proportion(numerator: int, denominator: int) -> tuple[float, float, float]:
    low, high = proportion_confint(numerator, denominator, method="wilson")
    return 100 * numerator / denominator, 100 * low, 100 * high


def nonresponse_among_suppressed(result: Classification, definition_id: str,
                                 mask: np.ndarray | None = None) -> tuple[float, float, float]:
    """Percent immunologic non-responders among suppressed, assessable patients."""
    groups = result.groups(definition_id).to_numpy()
    if mask is not None:
        groups = groups[mask]
    inr = int(np.sum(groups == "immunologic_nonresponder"))
    cr = int(np.sum(groups == "complete_responder"))
    return _proportion(inr, inr + cr)


def gain_difference(result: Classification, patients: pd.DataFrame, definition_id: str,
                    exposed: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """Mean CD4 gain (cells/mm³) at the definition's assessment, exposed minus reference,
    among suppressed patients (Welch CI)."""
    res = result.results[definition_id]
    gain = res.assessed_cd4 - result.baseline_cd4
    ok = (res.suppressed == 1) & ~np.isnan(gain)
    a, b = gain[ok & exposed], gain[ok & reference]
    diff = a.mean() - b.mean()
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return diff, diff - Z95 * se, diff + Z95 * se


def age_odds_ratio(result: Classification, patients: pd.DataFrame,
                   definition_id: str) -> tuple[float, float, float]:
    """Odds ratio of immunologic non-response per 10 years of age (logistic regression)."""
    groups = result.groups(definition_id).to_numpy()
    keep = np.isin(groups, ["immunologic_nonresponder", "complete_responder"])
    data = pd.DataFrame({"inr": (groups[keep] == "immunologic_nonresponder").astype(int),
                         "age10": patients["age"].to_numpy()[keep] / 10})
    fit = smf.logit("inr ~ age10", data=data).fit(disp=False)
    low, high = np.exp(fit.conf_int().loc["age10"])
    return float(np.exp(fit.params["age10"])), float(low), float(high)


def time_to_gain(cohort: Cohort, result: Classification, gain: float = 50.0) -> pd.DataFrame:
    """Per patient with a baseline: years from T0 to the first count >= baseline + ``gain``
    (event), or to the last count (censored)."""
    prep = prepare(cohort)
    codes = prep.cd4.patient
    day = prep.t0[codes] + prep.cd4.rel_day
    base = result.baseline_cd4[codes]
    t0 = result.t0[codes]
    after = day > t0
    reached = after & (prep.cd4_values[:-1] >= base + gain)
    n = len(result.patients)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, codes[reached], day[reached])
    last = np.full(n, MISSING_DAY)
    np.maximum.at(last, codes[after], day[after])
    has = ~np.isnan(result.baseline_cd4) & (last > MISSING_DAY)
    event = first < np.iinfo(np.int64).max
    stop = np.where(event, first, last)
    return pd.DataFrame({"time_years": (stop - result.t0) / DAYS_PER_YEAR, "event": event.astype(int)},
                        index=result.patients)[has]


def hcv_hazard_ratio(cohort: Cohort, result: Classification, patients: pd.DataFrame
                     ) -> tuple[float, float, float]:
    """Hazard ratio of reaching a 50-cell CD4 gain, HCV vs not (Cox model)."""
    data = time_to_gain(cohort, result)
    data["hcv"] = patients.loc[data.index, "hcv"].astype(int)
    data = data[data["time_years"] > 0]
    fit = CoxPHFitter().fit(data, duration_col="time_years", event_col="event")
    row = fit.summary.loc["hcv"]
    return (float(row["exp(coef)"]), float(row["exp(coef) lower 95%"]),
            float(row["exp(coef) upper 95%"]))


def grabar_rate_ratios(cohort: Cohort, result: Classification, patients: pd.DataFrame,
                       definition_id: str = "grabar2000_gain_m6") -> pd.DataFrame:
    data = landmark_by_definition(cohort, patients, result, definition_id)
    return rate_ratios(incidence(data), reference="complete_responder")


def calibration_table(cohort: Cohort) -> pd.DataFrame:
    """Every calibration target with its simulated value, 95% CI and whether it is met."""
    catalogue = load_catalogue()
    result = classify(cohort, list(catalogue.values()))
    patients = patient_table(cohort)
    base = result.baseline_cd4
    zdv = patients["zdv"].to_numpy(dtype=bool)
    ddi_tdf = patients["ddi_tdf"].to_numpy(dtype=bool)
    tdf_only = patients["tdf"].to_numpy(dtype=bool) & ~ddi_tdf
    rr = grabar_rate_ratios(cohort, result, patients).set_index("group")
    computed = {
        "seed_gain_le100_m12": nonresponse_among_suppressed(result, "seed_gain_le100_m6_12"),
        "engsig_level_le200_m36_baseline_le200":
            nonresponse_among_suppressed(result, "engsig2014_level_le200_m36", base <= 200),
        "kelley_never_gt500_baseline_lt100":
            nonresponse_among_suppressed(result, "kelley2009_never_gt500", base < 100),
        "kelley_never_gt500_baseline_100_200":
            nonresponse_among_suppressed(result, "kelley2009_never_gt500",
                                         (base >= 100) & (base <= 200)),
        "kelley_never_gt500_baseline_ge300":
            nonresponse_among_suppressed(result, "kelley2009_never_gt500", base >= 300),
        "age_or_per_10y_gain_lt50_m8": age_odds_ratio(result, patients, "baker2008_gain_lt50_m8"),
        "hcv_hr_reaching_gain50": hcv_hazard_ratio(cohort, result, patients),
        "zdv_gain_difference_m12": gain_difference(
            result, patients, "seed_gain_le100_m6_12", zdv, ~zdv & ~ddi_tdf),
        "ddi_tdf_gain_difference_m12": gain_difference(
            result, patients, "seed_gain_le100_m6_12", ddi_tdf, tdf_only),
        "grabar_rr_immunologic_nonresponder":
            tuple(rr.loc["immunologic_nonresponder", ["rate_ratio", "ci_low", "ci_high"]]),
        "grabar_rr_complete_nonresponder":
            tuple(rr.loc["complete_nonresponder", ["rate_ratio", "ci_low", "ci_high"]]),
    }
    targets = load_targets()
    rows = []
    for target in targets.itertuples(index=False):
        value, low, high = computed[target.target]
        rows.append({**target._asdict(), "simulated": value, "sim_ci_low": low,
                     "sim_ci_high": high,
                     "met": bool(target.tolerance_low <= value <= target.tolerance_high)})
    return pd.DataFrame(rows)



def plot_calibration(table: pd.DataFrame) -> "plt.Figure":  # noqa: F821
    """One panel per kind of statistic: tolerance band (grey), published value (red x),
    simulated value with 95% CI (blue)."""
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(table["statistic"]))
    heights = [table["statistic"].eq(k).sum() for k in kinds]
    fig, axes = plt.subplots(len(kinds), 1, figsize=(7.5, 0.45 * sum(heights) + 1.2 * len(kinds)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        part = table[table["statistic"] == kind].iloc[::-1]
        y = np.arange(len(part))
        ax.barh(y, part["tolerance_high"] - part["tolerance_low"], left=part["tolerance_low"],
                color="#DDDDDD", height=0.6, label="tolerance")
        ax.plot(part["published_value"], y, "x", color="#BB5566", label="published")
        ax.errorbar(part["simulated"], y, xerr=[part["simulated"] - part["sim_ci_low"],
                    part["sim_ci_high"] - part["simulated"]], fmt="o", color="#4477AA",
                    capsize=2, label="simulated (95% CI)")
        ax.set_yticks(y, part["target"], fontsize=8)
        if kind == "ratio":
            ax.set_xscale("log")
        ax.set_xlabel({"percent": "%", "ratio": "ratio (log scale)",
                       "difference": "cells/mm³"}.get(kind, kind))
    axes[0, 0].legend(frameon=False, fontsize=8, loc="best")
    fig.tight_layout()
    return fig
