"""Calibration of the simulator against published figures, computed by the package's own
analyses on a simulated cohort.

The targets are data: ``data/reference/simulation_calibration_targets.csv`` (published value
and interval, or the ``table:row`` of ``event_rates.csv`` / ``cd4_variability.csv`` holding
them; a tolerance where nothing but a value was published, with who set it).
:func:`calibration_table` computes the simulated value of each with its 95% CI and applies the
pass rule that fits what was published (:data:`PASS_RULES`): both CIs where a CI exists, the
tolerance otherwise, the IQR for the within-patient CV.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from lifelines import CoxPHFitter
from statsmodels.stats.proportion import proportion_confint

from ..baseline import patient_table, rna_copies
from ..classify import Classification, classify, prepare
from ..cohort import Cohort
from ..conventions import DAYS_PER_YEAR, MISSING_DAY, Z95, to_days
from ..definitions import load_catalogue
from ..outcomes import incidence, landmark_by_definition, rate_ratios, time_varying_data
from ..plots import legend
from ..rates import rates_by_current_cd4, rates_by_relative_cd4
from ..reference import load, published_figure

TARGETS = "simulation_calibration_targets"


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
    reached = after & (prep.cd4_values >= base + gain)
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


#: How the simulated rate of each event-rate target is computed: (event, stratum, suppressed
#: person-time only). A stratum is (low, high) of the current count in cells/mm³, or
#: ("relative", below) for a time-updated status against 120% of the baseline (Lapadula 2013).
RATE_SPECS: dict[str, tuple[str, tuple, bool]] = {
    "ade_rate_cd4_200_349_suppressed": ("ade", (200, 350), True),
    "ade_rate_cd4_ge1000_suppressed": ("ade", (1000, np.inf), True),
    "ade_rate_cd4_lt200_all": ("ade", (0, 200), False),
    "ade_rate_cd4_200_350_all": ("ade", (200, 350), False),
    "ade_rate_cd4_gt350_all": ("ade", (350, np.inf), False),
    "snae_rate_cd4_lt200_all": ("snae", (0, 200), False),
    "snae_rate_cd4_200_350_all": ("snae", (200, 350), False),
    "snae_rate_cd4_gt350_all": ("snae", (350, np.inf), False),
    "death_rate_cd4_ge350_suppressed": ("death", (350, np.inf), True),
    "death_rate_suppressed": ("death", (0, np.inf), True),
    "clinical_rate_inr_time_updated": ("clinical", ("relative", True), True),
    "clinical_rate_cr_time_updated": ("clinical", ("relative", False), True),
}
#: Lapadula 2013's time-updated non-response: current CD4 below this multiple of baseline.
RELATIVE_RECOVERY = 1.2
#: A viral load at or above this (copies/mL) makes person-time viremic in the rate targets
#: (the FIRST and SMART/ESPRIT suppression threshold; Lapadula used 80, COHERE 50).
RATE_VIREMIA_CUTOFF = 400.0
#: Statistics compared on the log scale.
LOG_SCALE = ("ratio", "rate")

PASS_RULES = {
    "ci": "compatible: |difference| < z95 x sqrt(SE_sim^2 + SE_pub^2), SEs from both 95% CIs "
          "(log scale for ratios and rates)",
    "tolerance": "simulated 95% CI overlaps the tolerance",
    "iqr": "simulated median inside the published IQR (a spread, not a CI)",
}


def simulated_rates(cohort: Cohort, patients: pd.DataFrame,
                    viremia_cutoff: float = RATE_VIREMIA_CUTOFF) -> dict[str, tuple]:
    """(rate, CI low, CI high) per 100 person-years for every :data:`RATE_SPECS` target."""
    data = {event: time_varying_data(cohort, patients, event, viremia_cutoff)
            for event in dict.fromkeys(spec[0] for spec in RATE_SPECS.values())}
    out = {}
    for target, (event, stratum, suppressed) in RATE_SPECS.items():
        if stratum[0] == "relative":
            table = rates_by_relative_cd4(data[event], patients["baseline_cd4"],
                                          RELATIVE_RECOVERY, suppressed).set_index("stratum")
            row = table.loc["below" if stratum[1] else "at_or_above"]
        else:
            row = rates_by_current_cd4(data[event], {target: stratum}, suppressed).iloc[0]
        out[target] = (float(row["rate_per_100py"]), float(row["ci_low"]),
                       float(row["ci_high"]))
    return out


def within_patient_cv(cohort: Cohort, result: Classification, from_years: float = 3.0,
                      min_counts: int = 10, min_span_years: float = 2.0,
                      max_slope_fraction: float = 0.05) -> tuple[float, float, float]:
    """Median within-patient CV (%) of absolute CD4 counts in stable suppressed patients with
    a plateaued count, as Gordon 2015 (``cd4_variability.csv`` CV11) measured it: counts from
    ``from_years`` after T0 in patients with no RNA at or above :data:`RATE_VIREMIA_CUTOFF`
    from then on, at least ``min_counts`` counts over more than ``min_span_years``, and a
    least-squares slope under ``max_slope_fraction`` of the mean per year. CI of the median by
    binomial order statistics."""
    n = len(result.patients)
    t0 = result.t0
    cd4 = cohort.absolute_cd4()
    code = cd4["code"].to_numpy()
    years = (to_days(cd4["CD4_D"]) - t0[code]) / DAYS_PER_YEAR
    late = years >= from_years
    viremic = np.zeros(n, dtype=bool)
    if not cohort.rna.empty:
        rcode = cohort.codes("tblLAB_RNA")
        ryears = (to_days(cohort.rna["RNA_D"]) - t0[rcode]) / DAYS_PER_YEAR
        bad = (ryears >= from_years) & (rna_copies(cohort.rna["RNA_V"]).fillna(0).to_numpy()
                                       >= RATE_VIREMIA_CUTOFF)
        viremic[rcode[bad]] = True
    c, y, v = code[late], years[late], cd4["CD4_V"].to_numpy(dtype=float)[late]
    k = np.bincount(c, minlength=n).astype(float)
    sums = {name: np.bincount(c, weights=w, minlength=n) for name, w in
            (("y", y), ("v", v), ("yy", y * y), ("vv", v * v), ("yv", y * v))}
    span = np.zeros(n)
    if c.size:
        low, high = np.full(n, np.inf), np.full(n, -np.inf)
        np.minimum.at(low, c, y)
        np.maximum.at(high, c, y)
        span = np.where(k > 0, high - low, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums["v"] / k
        var = (sums["vv"] - k * mean ** 2) / (k - 1)
        sxx = sums["yy"] - sums["y"] ** 2 / k
        slope = (sums["yv"] - sums["y"] * sums["v"] / k) / sxx
        cv = 100 * np.sqrt(np.clip(var, 0, None)) / mean
    keep = ((k >= min_counts) & (span > min_span_years) & ~viremic & (mean > 0)
            & (np.abs(slope) < max_slope_fraction * mean))
    values = np.sort(cv[keep])
    m = values.size
    half = Z95 * np.sqrt(m) / 2
    lo = values[max(int(np.floor(m / 2 - half)), 0)]
    hi = values[min(int(np.ceil(m / 2 + half)), m - 1)]
    return float(np.median(values)), float(lo), float(hi)


def _resolved_targets() -> pd.DataFrame:
    """The targets with every ``reference_row`` filled from its reference table and the
    tolerance of factor-based rows computed."""
    targets = load(TARGETS)
    for index, ref in targets["reference_row"].items():
        if isinstance(ref, str) and ref:
            for column, value in published_figure(ref).items():
                if column != "source" or targets.at[index, "source"] == "see the reference row":
                    targets.at[index, column] = value
    factor = targets["tolerance_factor"]
    has = factor.notna()
    targets.loc[has, "tolerance_low"] = targets.loc[has, "published_value"] / factor[has]
    targets.loc[has, "tolerance_high"] = targets.loc[has, "published_value"] * factor[has]
    return targets


def _passes(target: pd.Series, value: float, low: float, high: float) -> tuple[str, bool]:
    """The pass rule that applies to a target and whether the simulated value meets it."""
    interval = target["published_interval"] if isinstance(target["published_interval"], str) \
        else ""
    if interval == "IQR":
        return "iqr", bool(target["published_ci_low"] <= value <= target["published_ci_high"])
    if interval.startswith("95% CI"):
        f = np.log if target["statistic"] in LOG_SCALE else (lambda x: x)
        se_pub = (f(target["published_ci_high"]) - f(target["published_ci_low"])) / (2 * Z95)
        se_sim = (f(high) - f(low)) / (2 * Z95)
        z = (f(value) - f(target["published_value"])) / np.hypot(se_pub, se_sim)
        return "ci", bool(abs(z) < Z95)
    return "tolerance", bool(high >= target["tolerance_low"] and low <= target["tolerance_high"])


def calibration_table(cohort: Cohort) -> pd.DataFrame:
    """Every calibration target with its published value and interval, the simulated value
    and 95% CI, the pass rule that applies (:data:`PASS_RULES`) and whether it is met."""
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
        "cd4_cv_suppressed_plateau": within_patient_cv(cohort, result),
        **simulated_rates(cohort, patients),
    }
    rows = []
    for _, target in _resolved_targets().iterrows():
        value, low, high = computed[target["target"]]
        rule, met = _passes(target, value, low, high)
        rows.append({**target.to_dict(), "simulated": value, "sim_ci_low": low,
                     "sim_ci_high": high, "pass_rule": rule, "met": met})
    return pd.DataFrame(rows)


def met_sentence(table: pd.DataFrame) -> str:
    """How many targets are met, naming those that are not."""
    unmet = table.loc[~table["met"], "target"].tolist()
    return (f"{int(table['met'].sum())} of {len(table)} targets met"
            + (f"; not met: {', '.join(unmet)}" if unmet else ""))


def pass_rules_table() -> pd.DataFrame:
    return pd.DataFrame([{"pass_rule": k, "meaning": v} for k, v in PASS_RULES.items()])


def plot_calibration(table: pd.DataFrame) -> "plt.Figure":  # noqa: F821
    """One panel per kind of statistic: the published interval (dark grey: 95% CI or IQR) or
    the tolerance where none was published (light grey), the published value (red x) and the
    simulated value with its 95% CI (blue; hollow where the target is not met)."""
    kinds = list(dict.fromkeys(table["statistic"]))
    heights = [table["statistic"].eq(k).sum() for k in kinds]
    fig, axes = plt.subplots(len(kinds), 1, figsize=(7.5, 0.4 * sum(heights) + 1.2 * len(kinds)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        part = table[table["statistic"] == kind].iloc[::-1]
        y = np.arange(len(part))
        published = part["published_ci_low"].notna().to_numpy()
        low = np.where(published, part["published_ci_low"], part["tolerance_low"])
        high = np.where(published, part["published_ci_high"], part["tolerance_high"])
        ax.barh(y, high - low, left=low, height=0.6,
                color=np.where(published, "#AAAAAA", "#DDDDDD"))
        ax.plot(part["published_value"], y, "x", color="#BB5566", label="published")
        met = part["met"].to_numpy(dtype=bool)
        for mask, face, label in ((met, "#4477AA", "simulated (95% CI)"),
                                  (~met, "white", "simulated, not met")):
            if mask.any():
                sub = part[mask]
                ax.errorbar(sub["simulated"], y[mask],
                            xerr=[sub["simulated"] - sub["sim_ci_low"],
                                  sub["sim_ci_high"] - sub["simulated"]], fmt="o",
                            color="#4477AA", mfc=face, capsize=2, label=label)
        ax.set_yticks(y, part["target"], fontsize=7)
        if kind in LOG_SCALE:
            ax.set_xscale("log")
        ax.set_xlabel({"percent": "%", "ratio": "ratio (log scale)", "difference": "cells/mm³",
                       "rate": "per 100 person-years (log scale)"}.get(kind, kind))
    legend(axes[0, 0], frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def control_rate_check(cohort: Cohort, target: str = "clinical_rate_inr_time_updated"
                       ) -> pd.DataFrame:
    """One target's simulated rate against its published rate and CI (the trial-design
    report's check that the simulated control rate matches a published one)."""
    patients = patient_table(cohort)
    value, low, high = simulated_rates(cohort, patients)[target]
    row = _resolved_targets().set_index("target").loc[target]
    rule, met = _passes(row, value, low, high)
    return pd.DataFrame([{
        "target": target, "reference_row": row["reference_row"],
        "published_rate_per_100py": row["published_value"],
        "published_ci_low": row["published_ci_low"], "published_ci_high": row["published_ci_high"],
        "simulated_rate_per_100py": value, "sim_ci_low": low, "sim_ci_high": high,
        "pass_rule": PASS_RULES[rule], "matches": met}])
