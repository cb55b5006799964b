"""CD4 trajectories: mean curves, linear mixed models, plateaus, stalled responders (late
response: :mod:`immune_recovery.lateresponse`).

Time is years (or months) since T0; CD4 in cells/mm³, modelled on the square-root scale where
its variance is roughly constant. Mixed models are fitted with statsmodels ``MixedLM`` (its
likelihood vectorised over patients: :mod:`immune_recovery.mixedlm`) under several
optimisers; statsmodels can report convergence at a wrong optimum or fail to converge with
one optimiser and not another, so every fit is kept and the best converged one (highest
log-likelihood) is used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from patsy import build_design_matrices, dmatrix
from scipy import stats

from .cohort import Cohort
from .conventions import (
    BASELINE_WINDOW_DAYS,
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    FLAT_SLOPE_PER_YEAR,
    MIN_SHARE_AFTER_KNOT,
    Z95,
)
from .covariates import term_label, tidy_term
from .disclosure import figures as disclosed
from .exceptions import ConvergenceWarning
from .formatting import as_text, captioned
from .intervals import wilson
from .mixedlm import SufficientMixedLM
from .plots import PALETTE, legend
from .results import coefficients_table, estimates_table

OPTIMISERS = ("powell", "lbfgs", "bfgs", "cg")


def cd4_long(cohort: Cohort, patients: pd.DataFrame, columns: list[str] | None = None
             ) -> pd.DataFrame:
    """Absolute CD4 counts from 180 days before T0 onwards, one row per count.

    Columns: ``PATIENT``, ``years`` and ``months`` since T0 (counts before T0 at 0), ``cd4``
    (cells/mm³), ``sqrt_cd4``, then the requested ``columns`` of ``patients``.
    """
    cd4 = cohort.absolute_cd4()
    code = cd4["code"].to_numpy()
    days = (cd4["CD4_D"].to_numpy() - patients["t0"].to_numpy()[code]) / np.timedelta64(1, "D")
    keep = days >= -BASELINE_WINDOW_DAYS[0]
    out = pd.DataFrame({
        "PATIENT": patients.index.to_numpy()[code[keep]],
        "years": np.clip(days[keep], 0, None) / DAYS_PER_YEAR,
        "months": np.clip(days[keep], 0, None) / DAYS_PER_MONTH,
        "cd4": cd4["CD4_V"].to_numpy()[keep],
    })
    out["sqrt_cd4"] = np.sqrt(out["cd4"])
    for column in columns or []:
        out[column] = patients[column].to_numpy()[code[keep]]
    return out


def mean_trajectory(long: pd.DataFrame, by: str | None = None, bin_months: int = 6,
                    min_n: int = 10) -> pd.DataFrame:
    """Mean CD4 (cells/mm³) with a t-based 95% CI by visit month (rounded to ``bin_months``)
    and group. Columns: ``group``, ``month``, ``n``, ``mean``, ``ci_low``, ``ci_high``."""
    month = np.floor(long["months"].to_numpy() / bin_months + 0.5) * bin_months
    data = pd.DataFrame({"group": as_text(long[by]) if by else "all",
                         "month": month.astype(int), "cd4": long["cd4"].to_numpy()})
    agg = data.groupby(["group", "month"], observed=True)["cd4"].agg(["count", "mean", "std"])
    agg = agg[agg["count"] >= min_n].reset_index().rename(columns={"count": "n"})
    half = stats.t.ppf(0.975, agg["n"] - 1) * agg["std"] / np.sqrt(agg["n"])
    agg["ci_low"], agg["ci_high"] = agg["mean"] - half, agg["mean"] + half
    return agg[["group", "month", "n", "mean", "ci_low", "ci_high"]]


def plot_mean_trajectory(table: pd.DataFrame, title: str) -> plt.Figure:
    """Mean CD4 with its CI band by month, one line per group (points of fewer patients than
    the disclosure minimum left out)."""
    fig, ax = plt.subplots()
    table = disclosed.shown(table, "n")
    for i, (name, part) in enumerate(table.groupby("group", sort=True)):
        color = PALETTE[i % len(PALETTE)]
        ax.plot(part["month"], part["mean"], marker="o", markersize=3, color=color,
                label=str(name).replace("_", " "))
        ax.fill_between(part["month"], part["ci_low"], part["ci_high"], color=color, alpha=0.2)
    ax.set_xlabel("Months since ART start")
    ax.set_ylabel("Mean CD4, cells/mm³ (95% CI)")
    ax.set_title(title, loc="left")
    legend(ax, frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_individual(long: pd.DataFrame, n: int = 30, seed: int = 1,
                    by: str | None = None) -> plt.Figure:
    """A seeded random sample of individual trajectories (thin lines)."""
    patients = np.sort(long["PATIENT"].unique())
    chosen = np.random.default_rng(seed).choice(patients, size=min(n, patients.size),
                                                replace=False)
    fig, ax = plt.subplots()
    groups = sorted(set(as_text(long[by]))) if by else ["all"]
    for pid, part in long[long["PATIENT"].isin(chosen)].groupby("PATIENT", sort=True):
        color = PALETTE[groups.index(str(part[by].iloc[0])) % len(PALETTE)] if by else PALETTE[0]
        ax.plot(part["months"], part["cd4"], color=color, alpha=0.6, linewidth=0.9)
    if by:
        for i, g in enumerate(groups):
            ax.plot([], [], color=PALETTE[i % len(PALETTE)], label=g.replace("_", " "))
        legend(ax, frameon=False, fontsize=8)
    ax.set_xlabel("Months since ART start")
    ax.set_ylabel("CD4, cells/mm³")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# Linear mixed models
# --------------------------------------------------------------------------------------


@dataclass
class MixedModelFit:
    """A linear mixed model fitted under several optimisers; ``best`` is the converged fit
    with the highest log-likelihood."""

    formula: str
    re_formula: str
    fits: dict
    best_method: str

    @property
    def best(self):
        return self.fits[self.best_method]

    def optimisers(self) -> pd.DataFrame:
        """Each optimiser's convergence, log-likelihood and fixed effects."""
        rows = []
        for method, fit in self.fits.items():
            row = {"optimiser": method, "converged": bool(fit.converged),
                   "log_likelihood": float(fit.llf), "chosen": method == self.best_method}
            row.update({term_label(k): v for k, v in fit.fe_params.items()})
            rows.append(row)
        return captioned(pd.DataFrame(rows), "The mixed model under each optimiser: "
                         "convergence, log-likelihood and fixed effects")

    @property
    def n_(self) -> int:
        """Patients (groups) of the best fit."""
        return int(self.best.model.n_groups)

    def coefficients(self) -> pd.DataFrame:
        """Fixed effects of the best fit with SE, Wald 95% CI and p, by term (the results
        protocol, :class:`~immune_recovery.results.ModelResult`)."""
        fit = self.best
        fe, se = fit.fe_params.to_numpy(), fit.bse_fe.to_numpy()
        return coefficients_table([tidy_term(t) for t in fit.fe_params.index], fe, se,
                                  fe - Z95 * se, fe + Z95 * se,
                                  fit.pvalues.reindex(fit.fe_params.index))

    @property
    def summary(self) -> pd.DataFrame:
        """Fixed effects of the best fit in the one result shape (measure ``coefficient``,
        on the model's scale, Wald 95% CIs), with ``se``; ``n`` is the number of patients."""
        fit = self.best
        fe = fit.fe_params
        se = fit.bse_fe.to_numpy()
        p = fit.pvalues.reindex(fe.index).to_numpy()
        return estimates_table(
            term=[tidy_term(t) for t in fe.index], label=[term_label(t) for t in fe.index],
            measure="coefficient", estimate=fe.to_numpy(), ci_low=fe.to_numpy() - Z95 * se,
            ci_high=fe.to_numpy() + Z95 * se, p=p, n=int(fit.model.n_groups), se=se)

    def variance_components(self) -> pd.DataFrame:
        fit = self.best
        cov = fit.cov_re
        rows = [{"component": f"random {a} x {b}".replace("Group", "intercept"),
                 "value": float(cov.loc[a, b])} for i, a in enumerate(cov.index)
                for b in cov.columns[i:]]
        rows.append({"component": "residual variance", "value": float(fit.scale)})
        return captioned(pd.DataFrame(rows), "Variance components of the mixed model, on the "
                         "scale of its outcome")


def fit_mixed_model(data: pd.DataFrame, formula: str, re_formula: str = "~years",
                    group: str = "PATIENT", methods: tuple[str, ...] = OPTIMISERS,
                    reml: bool = True) -> MixedModelFit:
    """Fit ``formula`` with random effects ``re_formula`` per ``group`` under each optimiser.

    Raises :class:`~immune_recovery.exceptions.ConvergenceWarning` (as a warning) when no
    optimiser converged; the best non-converged fit is then returned for inspection.
    """
    model = SufficientMixedLM.from_formula(formula, data, groups=data[group],
                                           re_formula=re_formula)
    fits = {}
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # recorded per optimiser in fit.converged instead
            try:
                fits[method] = model.fit(method=[method], reml=reml)
            except (np.linalg.LinAlgError, ValueError):
                continue
    fits = {m: f for m, f in fits.items() if np.isfinite(f.llf)}
    converged = {m: f for m, f in fits.items() if f.converged}
    pool = converged or fits
    if not converged:
        warnings.warn(f"no optimiser converged for {formula}", ConvergenceWarning, stacklevel=2)
    best = max(pool, key=lambda m: pool[m].llf)
    return MixedModelFit(formula=formula, re_formula=re_formula, fits=fits, best_method=best)


def usable_knots(data: pd.DataFrame, knots: list[float] | tuple[float, ...],
                 min_share: float = MIN_SHARE_AFTER_KNOT) -> tuple[float, ...]:
    """The knots (years) after which at least ``min_share`` of the counts lie: a knot beyond
    the follow-up (a trial of two years and a knot at two years) would leave its slope
    without data."""
    years = data["years"].to_numpy()
    return tuple(k for k in knots if len(years) and (years > k).mean() >= min_share)


def knots_sentence(asked: list[float] | tuple[float, ...], used: tuple[float, ...]) -> str:
    """Which knots the spline model uses, and which it left out for lack of counts."""
    dropped = [k for k in asked if k not in used]
    text = ("Spline knots at " + ", ".join(f"{k:g}" for k in used) + " years"
            if used else "No spline knot (a straight line in time)")
    if dropped:
        text += (" (left out, too few counts after them: "
                 + ", ".join(f"{k:g}" for k in dropped) + " years)")
    return text + "."


def prediction_time(data: pd.DataFrame, at_years: float) -> float:
    """``at_years``, or the last count's time if the follow-up ends earlier: a level is
    predicted within the data, never extrapolated beyond them."""
    last = float(data["years"].max()) if len(data) else at_years
    return min(at_years, round(last, 2))


def prediction_time_sentence(asked: float, at: float) -> str:
    """Says when the level is predicted earlier than ``asked`` years, at ``at`` (the last
    count: :func:`prediction_time`); '' when it is predicted where asked."""
    return (f"The follow-up ends at {at:g} years: the level is predicted there, not at "
            f"{asked:g} years." if at < asked else "")


def add_piecewise_time(data: pd.DataFrame, knots: tuple[float, ...] = (0.5, 2.0)) -> pd.DataFrame:
    """Columns ``years_after_<k>`` = max(years - k, 0): a linear spline in time."""
    out = data.copy()
    for knot in knots:
        out[f"years_after_{knot:g}".replace(".", "_")] = np.clip(out["years"] - knot, 0, None)
    return out


def predicted_level(fit: MixedModelFit, data: pd.DataFrame, at_years: float,
                    group_column: str | None, groups: list[str],
                    knots: tuple[float, ...] = (0.5, 2.0)) -> pd.DataFrame:
    """Population-average CD4 (cells/mm³) at ``at_years`` per group from the fixed effects,
    with a 95% CI (computed on the square-root scale, then squared)."""
    fe = fit.best.fe_params
    cov = fit.best.cov_params().loc[fe.index, fe.index]
    rows = []
    for g in groups:
        point = {"years": at_years, **{f"years_after_{k:g}".replace(".", "_"):
                                       max(at_years - k, 0.0) for k in knots}}
        if group_column:
            point[group_column] = g
        frame = pd.DataFrame([point])
        design = _fixed_design(fit, data, frame)
        est = float(design @ fe.to_numpy())
        se = float(np.sqrt(design @ cov.to_numpy() @ design))
        rows.append({"group": g, "years": at_years, "sqrt_cd4": est,
                     "cd4": est ** 2, "ci_low": max(est - Z95 * se, 0) ** 2,
                     "ci_high": (est + Z95 * se) ** 2})
    return pd.DataFrame(rows)


def _fixed_design(fit: MixedModelFit, data: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Fixed-effects design row for new data, coded as in the fitting ``data``."""
    rhs = fit.formula.split("~", 1)[1]
    info = dmatrix(rhs, data, return_type="dataframe").design_info
    (matrix,) = build_design_matrices([info], frame, return_type="dataframe")
    columns = list(fit.best.fe_params.index)
    if list(matrix.columns) != columns:
        raise ValueError(f"design columns {list(matrix.columns)} differ from {columns}")
    return matrix.to_numpy()[0]


# --------------------------------------------------------------------------------------
# Stalled patients
# --------------------------------------------------------------------------------------


def patient_slopes(long: pd.DataFrame, after_years: float = 2.0, min_counts: int = 3
                   ) -> pd.DataFrame:
    """Per patient, the least-squares CD4 slope (cells/mm³ per year) over counts after
    ``after_years``, for patients with at least ``min_counts`` such counts (vectorized sums)."""
    data = long[long["years"] > after_years]
    g = data.groupby("PATIENT", sort=True)
    n = g.size()
    sums = g[["years", "cd4"]].sum()
    t2 = (data["years"] ** 2).groupby(data["PATIENT"]).sum()
    ty = (data["years"] * data["cd4"]).groupby(data["PATIENT"]).sum()
    denominator = n * t2 - sums["years"] ** 2
    slope = (n * ty - sums["years"] * sums["cd4"]) / denominator
    out = pd.DataFrame({"n_counts": n, "slope_per_year": slope})
    return out[(out["n_counts"] >= min_counts) & (denominator > 0)]


def stalled(slopes: pd.DataFrame, flat: float = FLAT_SLOPE_PER_YEAR) -> pd.DataFrame:
    """Proportion with |slope| below ``flat`` cells/mm³ per year (Wilson 95% CI)."""
    k = int((slopes["slope_per_year"].abs() < flat).sum())
    n = len(slopes)
    p, lo, hi = wilson(np.array([k]), np.array([n]))
    return pd.DataFrame([{"patients_with_slope": n, "flat_slope": k, "proportion": p[0],
                          "ci_low": lo[0], "ci_high": hi[0]}])


def true_classes_among(ids: pd.Index, truth: pd.DataFrame) -> pd.DataFrame:
    """Simulated cohorts: the latent recovery class of the given patients."""
    counts = truth.reindex(ids)["latent_class"].value_counts()
    out = counts.rename("patients").to_frame()
    out["percent"] = 100 * out["patients"] / out["patients"].sum()
    return out.rename_axis("latent_class").reset_index()


def sample_patients(long: pd.DataFrame, max_patients: int, seed: int = 1) -> pd.DataFrame:
    """All rows of a seeded random sample of at most ``max_patients`` patients."""
    ids = np.sort(long["PATIENT"].unique())
    if ids.size <= max_patients:
        return long
    chosen = np.random.default_rng(seed).choice(ids, size=max_patients, replace=False)
    return long[long["PATIENT"].isin(chosen)]


def spline_formula(knots: list[float], group: str | None = None) -> str:
    """``sqrt_cd4 ~ (years + years_after_k...) * C(group)`` for :func:`add_piecewise_time`."""
    time_terms = ["years"] + [f"years_after_{k:g}".replace(".", "_") for k in knots]
    body = " + ".join(time_terms)
    return f"sqrt_cd4 ~ ({body}) * C({group})" if group else f"sqrt_cd4 ~ {body}"
