"""Known truth for a consortium: two-stage pooling of bundles against one-stage and naive
pooling of the individual data (the benchmark of ``reports/simulation-pooling``).

Design (:data:`BENCHMARK_SITES`): eight heterogeneous cohorts of 3,000 down to 50 patients,
with different eras, baseline CD4, visit schedules and loss to follow-up, the same biology.
Each replicate simulates every site (seeds spawned from the study's seed, the replicate and
the site) and estimates each estimand (:data:`TARGETS`) three ways:

``two-stage``
    what ``immune-recovery pool`` does: each site's pinned analyses, what the site may send
    (:func:`~immune_recovery.consortium.bundle.disclose`, minimum cell 10), pooled by random
    effects (REML, modified HKSJ; :func:`~immune_recovery.consortium.pool.pool_bundles`);
``one-stage``
    the individual data of all sites in one model with the site as a stratum: logistic
    regression with site indicators (odds ratios), a Cox model stratified by site (hazard
    ratio); none for the frequency and the late-response incidence (the package has no
    one-stage model of a proportion across sites);
``naive``
    the individual data of all sites analysed as if they were one cohort (site ignored).

**Truth.** The estimand is the average cohort: for each site design the value its own
estimator targets (the same analysis of one large cohort of that design,
:data:`TRUTH_PATIENTS` patients), averaged over the designs with equal weight: what a random-
effects pooling estimates. Naive pooling weights cohorts by size (and mixes their baselines),
so it answers another question; its distance from this truth is reported as its bias.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import staleness
from ..baseline import patient_table
from ..classify import classify
from ..cohort import Cohort
from ..consortium.analyses import RISK_FACTORS, site_analyses
from ..consortium.bundle import assemble
from ..consortium.pool import pool_bundles
from ..consortium.sites import SiteDesign, simulate_site
from ..conventions import Z95
from ..covariates import analysis_frame
from ..definitions import load_catalogue
from ..exceptions import ParameterError
from ..outcomes import CoxModel, inr_vs_complete_landmark
from ..parallel import run_tasks
from ..paths import resolve
from ..pinned import LANDMARK_DEFINITION, LEVEL_DEFINITION
from ..plots import PALETTE, legend
from ..reporting.spec import load_spec
from ..riskfactors import NonResponseModel, model_frame
from ..timing import Stopwatch
from .coverage import COVERAGE_BAND, product_key, read_product, write_product
from .estimands import replicate_seed

#: The benchmark's consortium (our choices): sizes down to 50 patients; the small cohorts are
#: those with lower baseline CD4 and sparser visits, as in the background's settings.
BENCHMARK_SITES = (
    SiteDesign("a", "Europe", 3000, {"start_year_min": 1998, "start_year_max": 2008}),
    SiteDesign("b", "Europe", 2000, {"start_year_min": 2006, "start_year_max": 2018,
                                     "sqrt_cd4_mean": 14.5}),
    SiteDesign("c", "North America", 1500, {"visit_interval_days": 121.75,
                                            "ltfu_log_rate": -2.6}),
    SiteDesign("d", "North America", 1000, {"start_year_min": 2002, "start_year_max": 2014}),
    SiteDesign("e", "Sub-Saharan Africa", 600, {"sqrt_cd4_mean": 11.0,
                                                "visit_interval_days": 182.6,
                                                "ltfu_log_rate": -2.2}),
    SiteDesign("f", "Sub-Saharan Africa", 300, {"sqrt_cd4_mean": 11.5,
                                                "visit_interval_days": 182.6,
                                                "ltfu_log_rate": -2.4}),
    SiteDesign("g", "Asia", 120, {"sqrt_cd4_mean": 11.0, "age_mean_years": 34.0}),
    SiteDesign("h", "Asia", 50, {"sqrt_cd4_mean": 10.5, "age_mean_years": 34.0}),
)
#: Patients of the large cohort of each design whose analysis is that design's truth.
TRUTH_PATIENTS = 40_000
#: The estimands: (estimand, definition, stratum, term) of the pinned analyses, with labels.
TARGETS = {
    ("frequency", LEVEL_DEFINITION, "overall", "proportion"):
        f"Non-response ({LEVEL_DEFINITION}), logit",
    ("risk_factors", LEVEL_DEFINITION, "overall", "cd4_per100"):
        "Log OR of non-response per 100 cells/mm³ baseline CD4",
    ("risk_factors", LEVEL_DEFINITION, "overall", "age10"):
        "Log OR of non-response per 10 years of age",
    ("outcome_hr", LANDMARK_DEFINITION, "overall", "inr_vs_complete"):
        "Log HR of AIDS or death, non-responders vs complete responders",
    ("late_response", LEVEL_DEFINITION, "overall", "above 200 by month 36"):
        "Late response (CD4 > 200 by month 36, confirmed), logit",
}
#: Short labels of the targets, for the figure.
SHORT = {"frequency:proportion": "Frequency (logit)", "risk_factors:cd4_per100": "Log OR, CD4",
         "risk_factors:age10": "Log OR, age", "outcome_hr:inr_vs_complete": "Log HR, INR",
         "late_response:above 200 by month 36": "Late response (logit)"}
METHODS = ("two-stage", "one-stage", "naive")
REPLICATE_COLUMNS = ["replicate", "target", "method", "estimate", "se", "ci_low", "ci_high",
                     "sites"]
PRODUCT_FILES = ("replicates.csv", "truth.csv", "settings.json")
KEY = ["estimand", "definition", "stratum", "term"]


def _definitions() -> list:
    catalogue = load_catalogue()
    return [catalogue[LEVEL_DEFINITION], catalogue[LANDMARK_DEFINITION]]


def _target_rows(estimates: pd.DataFrame) -> pd.DataFrame:
    rows = estimates.set_index(KEY)
    return rows.loc[[k for k in TARGETS if k in rows.index]]


def _target_id(key: tuple) -> str:
    return f"{key[0]}:{key[3]}"


def _stack(sites: dict[str, dict[str, pd.DataFrame]]) -> Cohort:
    names = next(iter(sites.values())).keys()
    tables = {n: pd.concat([s[n] for s in sites.values()], ignore_index=True) for n in names}
    return Cohort.from_tables(tables, name="stacked")


def _one_stage(cohort: Cohort) -> list[dict]:
    """Logistic regression with site indicators and a Cox model stratified by site on the
    individual data of all sites."""
    result = classify(cohort, _definitions())
    frame = analysis_frame(patient_table(cohort))
    frame["site"] = frame.index.str.rsplit("-", n=1).str[0]
    rows = []
    model = NonResponseModel([*RISK_FACTORS, "site"]).fit(
        model_frame(result, LEVEL_DEFINITION, frame))
    coefficients = model.coefficients()
    for key in TARGETS:
        if key[0] == "risk_factors" and key[3] in coefficients.index:
            c = coefficients.loc[key[3]]
            rows.append(_row(key, c["coef"], c["se"], "one-stage"))
    data = inr_vs_complete_landmark(cohort, frame, result, LANDMARK_DEFINITION)
    cox = CoxModel(["inr"], model="one-stage", strata=["site"]).fit(data)
    c = cox.coefficients().loc["inr"]
    key = next(k for k in TARGETS if k[0] == "outcome_hr")
    rows.append(_row(key, c["coef"], c["se"], "one-stage"))
    return rows


def _row(key: tuple, estimate: float, se: float, method: str, sites: int | None = None,
         low: float | None = None, high: float | None = None) -> dict:
    low = estimate - Z95 * se if low is None else low
    high = estimate + Z95 * se if high is None else high
    return {"target": _target_id(key), "method": method, "estimate": estimate, "se": se,
            "ci_low": low, "ci_high": high, "sites": sites}


def replicate(index: int, seed: int, sites: tuple[SiteDesign, ...] = BENCHMARK_SITES
              ) -> pd.DataFrame:
    """One replicate consortium, every target by every method (:data:`REPLICATE_COLUMNS`)."""
    own = replicate_seed(seed, index)
    tables = {d.name: simulate_site(d, own, i) for i, d in enumerate(sites)}
    definitions = _definitions()
    bundles = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for design in sites:
            cohort = Cohort.from_tables(tables[design.name], name=design.name)
            estimates, covariance, covariates = site_analyses(cohort, definitions)
            bundles.append(assemble(design.name, design.region, definitions, estimates,
                                    covariance, covariates, pd.DataFrame(), "2023-06-30"))
        pooled = pool_bundles(bundles).pooled.set_index(KEY)
        stacked = _stack(tables)
        naive = _target_rows(site_analyses(stacked, definitions)[0])
        rows = [*_one_stage(stacked)]
    for key in TARGETS:
        p = pooled.loc[key]
        if p["sites"] > 0:
            rows.append(_row(key, p["y"], p["se"], "two-stage", int(p["sites"]),
                             p["y_ci_low"], p["y_ci_high"]))
        if key in naive.index and naive.loc[key, "status"] == "ok":
            rows.append(_row(key, naive.loc[key, "estimate"], naive.loc[key, "se"], "naive"))
    out = pd.DataFrame(rows).reindex(columns=REPLICATE_COLUMNS[1:])
    out.insert(0, "replicate", index)
    return out


def design_truth(design: SiteDesign, seed: int, index: int, patients: int = TRUTH_PATIENTS
                 ) -> pd.DataFrame:
    """Each target's value in one design: its estimator on a large cohort of the design."""
    large = SiteDesign(design.name, design.region, patients, design.changes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cohort = Cohort.from_tables(simulate_site(large, seed, index), name=design.name)
        rows = _target_rows(site_analyses(cohort, _definitions())[0])
    return pd.DataFrame({"target": [_target_id(k) for k in rows.index],
                         "site": design.name, "value": rows["estimate"].to_numpy()})


def truth(seed: int, sites: tuple[SiteDesign, ...] = BENCHMARK_SITES,
          patients: int = TRUTH_PATIENTS, n_workers: int = 1) -> pd.DataFrame:
    """The truth of each target: the equal-weight mean over designs of
    :func:`design_truth` (with each design's value, for the report)."""
    tasks = [{"design": d, "seed": seed, "index": i, "patients": patients}
             for i, d in enumerate(sites)]
    per_site = pd.concat(run_tasks(design_truth, tasks, n_workers), ignore_index=True)
    wide = per_site.pivot(index="target", columns="site", values="value")[[d.name for d in
                                                                            sites]]
    wide.insert(0, "truth", wide.mean(axis=1))
    labels = {_target_id(k): v for k, v in TARGETS.items()}
    wide.insert(0, "label", [labels[t] for t in wide.index])
    return wide.reindex([_target_id(k) for k in TARGETS]).rename_axis("target").reset_index()


def summarise(replicates: pd.DataFrame, truth_table: pd.DataFrame) -> pd.DataFrame:
    """Per target and method: replicates, mean estimate, bias (Monte Carlo SE), empirical and
    mean model SE, coverage of the 95% CI (Monte Carlo SE), mean sites used (two-stage)."""
    data = replicates.merge(truth_table[["target", "label", "truth"]], on="target")
    data["covered"] = (data["ci_low"] <= data["truth"]) & (data["truth"] <= data["ci_high"])
    g = data.groupby(["target", "method"], sort=False)
    out = pd.DataFrame({
        "label": g["label"].first(), "truth": g["truth"].first(), "replicates": g.size(),
        "mean_estimate": g["estimate"].mean(), "empirical_se": g["estimate"].std(ddof=1),
        "mean_model_se": g["se"].mean(), "coverage": 100 * g["covered"].mean(),
        "mean_sites": g["sites"].mean()})
    out["bias"] = out["mean_estimate"] - out["truth"]
    out["bias_mcse"] = out["empirical_se"] / np.sqrt(out["replicates"])
    out["coverage_mcse"] = np.sqrt(out["coverage"] * (100 - out["coverage"])
                                   / out["replicates"])
    order = {t: i for i, t in enumerate(_target_id(k) for k in TARGETS)}
    out = out.reset_index()
    out["_o"] = out["target"].map(order) * 10 + out["method"].map(
        {m: i for i, m in enumerate(METHODS)})
    out["short"] = out["target"].map(SHORT)
    columns = ["target", "label", "short", "method", "truth", "replicates", "mean_sites",
               "mean_estimate", "bias", "bias_mcse", "empirical_se", "mean_model_se",
               "coverage", "coverage_mcse"]
    return out.sort_values("_o")[columns].reset_index(drop=True)


def build_product(out: str | Path, replicates: int, seed: int, n_workers: int = 1,
                  progress: bool = False, if_stale: bool = False,
                  truth_patients: int = TRUTH_PATIENTS) -> dict:
    """Run the benchmark and write :data:`PRODUCT_FILES` into ``out`` (nothing is done with
    ``if_stale`` when the product was built from these settings and this package source)."""
    out = resolve(out)
    settings = {"replicates": replicates, "seed": seed, "truth_patients": truth_patients,
                "sites": [[d.name, d.region, d.patients] for d in BENCHMARK_SITES]}
    key = product_key(settings)
    if if_stale and staleness.is_current(out / "settings.json", key,
                                         [out / f for f in PRODUCT_FILES]):
        return settings
    watch = Stopwatch()
    runs = pd.concat(run_tasks(replicate, [{"index": i, "seed": seed} for i in
                                           range(replicates)], n_workers, progress=progress,
                               description="consortia"), ignore_index=True)
    truth_table = truth(seed + 1, patients=truth_patients, n_workers=n_workers)
    return write_product(out, {"replicates.csv": runs, "truth.csv": truth_table}, key,
                         {**settings, "seconds": round(watch.seconds), "workers": n_workers})


def settings_from_spec(params_file: str | Path) -> tuple[int, int, int, Path]:
    """(replicates, seed, truth patients, product folder) from the report's parameter file."""
    p = load_spec(Path(params_file)).effective_parameters
    missing = [k for k in ("replicates", "seed", "product") if k not in p]
    if missing:
        raise ParameterError(f"{params_file}: parameters lack {', '.join(missing)}")
    return (int(p["replicates"]), int(p["seed"]),
            int(p.get("truth_patients", TRUTH_PATIENTS)), resolve(p["product"]))


def settings_table(settings: dict) -> pd.DataFrame:
    """The settings a product was built with, as a two-column table (the key left out)."""
    shown = {k: v for k, v in settings.items() if k != "key"}
    return pd.DataFrame({"setting": list(shown), "value": [str(v) for v in shown.values()]})


def load_product(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Replicates, truth and settings of a benchmark product folder."""
    folder, settings = read_product(folder, PRODUCT_FILES, "pooling benchmark",
                                    "pooling-product")
    return (pd.read_csv(folder / "replicates.csv"), pd.read_csv(folder / "truth.csv"),
            settings)


def plot_summary(summary: pd.DataFrame) -> plt.Figure:
    """Coverage of the 95% CI (with a 95% Monte Carlo interval; grey band 93-97%) and bias
    in units of the empirical SE, per target and method."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.45 * len(summary) + 1.4),
                                      sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(summary))[::-1]
    colours = {m: PALETTE[i] for i, m in enumerate(METHODS)}
    for method in METHODS:
        rows = summary["method"] == method
        cover = summary.loc[rows, "coverage"].to_numpy()
        half = Z95 * summary.loc[rows, "coverage_mcse"].to_numpy()
        err = [cover - np.clip(cover - half, 0, 100), np.clip(cover + half, 0, 100) - cover]
        left.errorbar(cover, y[rows.to_numpy()], xerr=err, fmt="o", color=colours[method],
                      label=method)
        right.barh(y[rows.to_numpy()], summary.loc[rows, "bias"] /
                   summary.loc[rows, "empirical_se"], color=colours[method])
    left.axvspan(*COVERAGE_BAND, color="#e6e6e6", zorder=0)
    left.axvline(95, color="#888", lw=0.8)
    left.set_xlabel("Coverage of the 95% CI (%)")
    left.set_yticks(y, [f"{s} ({m})" for s, m in zip(summary["short"], summary["method"],
                                                      strict=True)])
    legend(left, frameon=False, fontsize=8)
    right.axvline(0, color="#888", lw=0.8)
    right.set_xlabel("Bias / empirical SE")
    fig.tight_layout()
    return fig


def limit_sentences(summary: pd.DataFrame) -> list[str]:
    """One sentence per target: which methods' coverage is within 93-97%, and how many of the
    cohorts the two-stage pooling could use (the others withheld a small count or could not
    estimate)."""
    out = []
    for target, rows in summary.groupby("target", sort=False):
        rows = rows.set_index("method")
        inside = [m for m in rows.index if COVERAGE_BAND[0] <= rows.loc[m, "coverage"]
                  <= COVERAGE_BAND[1]]
        outside = [f"{m} {rows.loc[m, 'coverage']:.1f}% (bias {rows.loc[m, 'bias']:+.3f})"
                   for m in rows.index if m not in inside]
        text = f"{rows['label'].iloc[0]}: "
        text += (f"coverage within 93-97% for {', '.join(inside)}" if inside
                 else "no method's coverage within 93-97%")
        text += f"; outside 93-97%: {', '.join(outside)}" if outside else ""
        if "two-stage" in rows.index:
            text += (f". Two-stage pooling used {rows.loc['two-stage', 'mean_sites']:.1f} of "
                     f"{len(BENCHMARK_SITES)} cohorts on average.")
        out.append(text)
    return out
