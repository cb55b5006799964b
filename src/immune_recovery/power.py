"""Sample size and power for a trial of an immune-based therapy in immunologic non-responders.

Analytic formulas
-----------------
* CD4 endpoint, analysed by ANCOVA (follow-up CD4 adjusted for baseline): with outcome SD
  sigma (cells/mm³) and baseline-follow-up correlation rho, the residual SD is
  sigma * sqrt(1 - rho^2), and the patients per arm for a difference delta are
  n = 2 (z_{1-alpha/2} + z_{1-beta})^2 sigma^2 (1 - rho^2) / delta^2 (two-sample z
  approximation; statsmodels ``NormalIndPower`` solves it).
* Time-to-event endpoint (Schoenfeld D. Biometrics 1983;39:499-503): events
  d = (z_{1-alpha/2} + z_{1-beta})^2 / (p (1 - p) (ln HR)^2) for allocation fraction p; the
  patients needed are d divided by the probability of an event during the trial, for an
  exponential control event rate, uniform accrual over A years and F further years of
  follow-up (averaged over the two arms).

Simulation-based power
----------------------
Enrolees are drawn from a simulated cohort's immunologic non-responders (a chosen definition),
randomized 1:1, given a treatment effect on the CD4 count and/or the event hazard, analysed as
planned (ANCOVA t-test; Cox/log-rank score test), and the trial is repeated. Every replicate
has its own seed spawned from the run's seed (``SeedSequence(seed).spawn``), so results do not
depend on how replicates are split across workers (joblib processes). The Monte-Carlo SE of a
power estimate p from R replicates is sqrt(p (1 - p) / R).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from . import reference
from .baseline import patient_table
from .classify import GROUPS
from .conventions import MISSING_DAY
from .formatting import captioned
from .measurements import PatientSeries
from .outcomes import incidence, landmark_by_definition
from .parallel import run_tasks
from .plots import legend

SAMPLE_SIZE_COLUMNS = ["endpoint", "effect", "alpha", "power", "events_needed",
                       "patients_needed"]


def z(p: float) -> float:
    return float(stats.norm.ppf(p))


def cd4_patients_per_arm(delta: float, sd: float, rho: float = 0.0, alpha: float = 0.05,
                         power: float = 0.8) -> int:
    """Patients per arm to detect a CD4 difference ``delta`` (cells/mm³) by ANCOVA."""
    residual_sd = sd * math.sqrt(1 - rho ** 2)
    n = NormalIndPower().solve_power(effect_size=delta / residual_sd, alpha=alpha, power=power,
                                     ratio=1.0, alternative="two-sided")
    return int(math.ceil(n))


def cd4_patients_t(delta: float, sd: float, rho: float = 0.0, alpha: float = 0.05,
                   power: float = 0.8, allocation: float = 1.0) -> tuple[int, int]:
    """(control, treated) patients to detect a CD4 difference ``delta`` by ANCOVA, from the
    two-sample t-test (statsmodels ``TTestIndPower``) on the residual SD
    sd * sqrt(1 - rho^2); ``allocation`` = treated per control patient."""
    residual_sd = sd * math.sqrt(1 - rho ** 2)
    n = TTestIndPower().solve_power(effect_size=delta / residual_sd, alpha=alpha, power=power,
                                    ratio=allocation, alternative="two-sided")
    return int(math.ceil(n)), int(math.ceil(n * allocation))


def schoenfeld_events(hazard_ratio: float, alpha: float = 0.05, power: float = 0.8,
                      allocation: float = 0.5) -> int:
    """Events needed for a two-sided log-rank/Cox test of ``hazard_ratio`` (Schoenfeld 1983).

    >>> schoenfeld_events(0.75)
    380
    """
    d = (z(1 - alpha / 2) + z(power)) ** 2 / (allocation * (1 - allocation)
                                             * math.log(hazard_ratio) ** 2)
    return int(math.ceil(d))


def event_probability(rate: float, accrual_years: float, followup_years: float) -> float:
    """P(event before the end of the trial) for an exponential rate (per year), uniform accrual
    over ``accrual_years`` and ``followup_years`` more after accrual ends."""
    if accrual_years <= 0:
        return 1 - math.exp(-rate * followup_years)
    return 1 - (math.exp(-rate * followup_years) - math.exp(-rate * (accrual_years
                                                                     + followup_years))) \
        / (rate * accrual_years)


def tte_patients(hazard_ratio: float, control_rate: float, accrual_years: float,
                 followup_years: float, alpha: float = 0.05, power: float = 0.8) -> tuple[int, int]:
    """(events needed, patients needed in total) for a 1:1 time-to-event trial."""
    events = schoenfeld_events(hazard_ratio, alpha, power)
    p_event = (event_probability(control_rate, accrual_years, followup_years)
               + event_probability(control_rate * hazard_ratio, accrual_years,
                                   followup_years)) / 2
    return events, int(math.ceil(events / p_event))


def sample_size_table(cd4_deltas: list[float], cd4_sd: float, cd4_rho: float,
                      hazard_ratios: list[float], control_rate: float, accrual_years: float,
                      followup_years: float, alpha: float = 0.05, power: float = 0.8
                      ) -> pd.DataFrame:
    """``sample_size.csv``: one row per endpoint and effect."""
    rows = []
    for delta in cd4_deltas:
        n = cd4_patients_per_arm(delta, cd4_sd, cd4_rho, alpha, power)
        rows.append({"endpoint": "CD4 change (ANCOVA)", "effect": f"+{delta:g} cells/mm3",
                     "alpha": alpha, "power": power, "events_needed": np.nan,
                     "patients_needed": 2 * n})
    for hr in hazard_ratios:
        events, patients = tte_patients(hr, control_rate, accrual_years, followup_years,
                                        alpha, power)
        rows.append({"endpoint": "AIDS-defining event or death (Cox)", "effect": f"HR {hr:g}",
                     "alpha": alpha, "power": power, "events_needed": events,
                     "patients_needed": patients})
    return pd.DataFrame(rows, columns=SAMPLE_SIZE_COLUMNS)


def analytic_cd4_power(n_per_arm: int, delta: float, sd: float, rho: float,
                       alpha: float = 0.05) -> float:
    """Power of the ANCOVA t-test (noncentral t with 2n - 3 degrees of freedom)."""
    df = 2 * n_per_arm - 3
    ncp = delta / (sd * math.sqrt(1 - rho ** 2) * math.sqrt(2 / n_per_arm))
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(1 - stats.nct.cdf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def analytic_tte_power(events: float, hazard_ratio: float, alpha: float = 0.05) -> float:
    """Power of a 1:1 log-rank test with ``events`` events (Schoenfeld's approximation)."""
    zstat = math.sqrt(events / 4) * abs(math.log(hazard_ratio))
    return float(stats.norm.cdf(zstat - z(1 - alpha / 2)))


# --------------------------------------------------------------------------------------
# Simulation-based power
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolmentPool:
    """Immunologic non-responders available for enrolment, from a simulated cohort.

    ``baseline`` and ``followup`` are each enrolee's measured CD4 at enrolment and at the end
    of the CD4 follow-up (cells/mm³); ``event_rate`` the rate of the clinical endpoint after
    enrolment (per person-year) in the same patients.
    """

    baseline: np.ndarray
    followup: np.ndarray
    event_rate: float

    @property
    def sd(self) -> float:
        return float(np.std(self.followup, ddof=1))

    @property
    def rho(self) -> float:
        return float(np.corrcoef(self.baseline, self.followup)[0, 1])


def ancova_p_values(baseline: np.ndarray, followup: np.ndarray, treated: np.ndarray
                    ) -> np.ndarray:
    """Two-sided p-values of the treatment term of OLS ``followup ~ treated + baseline``,
    for many trials at once (arrays of shape replicates x patients)."""
    r, n = followup.shape
    x = np.stack([np.ones((r, n)), treated, baseline], axis=2)
    xtx = np.einsum("rni,rnj->rij", x, x)
    xty = np.einsum("rni,rn->ri", x, followup)
    inv = np.linalg.inv(xtx)
    beta = np.einsum("rij,rj->ri", inv, xty)
    resid = followup - np.einsum("rni,ri->rn", x, beta)
    sigma2 = (resid ** 2).sum(axis=1) / (n - 3)
    se = np.sqrt(sigma2 * inv[:, 1, 1])
    tstat = beta[:, 1] / se
    return 2 * stats.t.sf(np.abs(tstat), n - 3)


def _cd4_task(seed: np.random.SeedSequence, pool: EnrolmentPool, n_per_arm: int, delta: float,
              replicates: int, alpha: float) -> int:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, pool.baseline.size, (replicates, 2 * n_per_arm))
    treated = np.zeros((replicates, 2 * n_per_arm))
    treated[:, :n_per_arm] = 1.0
    followup = pool.followup[idx] + delta * treated
    p = ancova_p_values(pool.baseline[idx], followup, treated)
    return int((p < alpha).sum())


def _tte_task(seed: np.random.SeedSequence, control_rate: float, hazard_ratio: float,
              n_per_arm: int, accrual_years: float, followup_years: float, replicates: int,
              alpha: float) -> int:
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    treated = np.zeros((replicates, n), dtype=bool)
    treated[:, :n_per_arm] = True
    rate = np.where(treated, control_rate * hazard_ratio, control_rate)
    event_time = rng.exponential(1 / rate)
    entry = rng.uniform(0, accrual_years, (replicates, n))
    admin = accrual_years + followup_years - entry
    time = np.minimum(event_time, admin)
    event = event_time <= admin
    return int((logrank_p_values(time, event, treated) < alpha).sum())


def logrank_p_values(time: np.ndarray, event: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Two-sided log-rank p-values for many trials at once (replicates x patients)."""
    order = np.argsort(time, axis=1, kind="stable")  # continuous times: no ties
    e = np.take_along_axis(event, order, 1).astype(float)
    g = np.take_along_axis(treated, order, 1).astype(float)
    n = time.shape[1]
    at_risk = n - np.arange(n)[None, :]
    at_risk_treated = np.cumsum(g[:, ::-1], axis=1)[:, ::-1]
    expected = e * at_risk_treated / at_risk
    variance = e * (at_risk_treated / at_risk) * (1 - at_risk_treated / at_risk)
    observed = (e * g).sum(axis=1)
    zstat = (observed - expected.sum(axis=1)) / np.sqrt(np.maximum(variance.sum(axis=1), 1e-12))
    return 2 * stats.norm.sf(np.abs(zstat))


def simulated_power(task: str, grid: list[dict], seed: int, replicates: int,
                    n_workers: int = 1, chunk: int = 100, progress: bool = False,
                    backend: str = "joblib", scheduler: str | None = None,
                    **fixed) -> pd.DataFrame:
    """Power at every grid point by simulation, in parallel (joblib processes or Dask).

    ``task`` is ``"cd4"`` (keys of each grid point: ``n_per_arm``, ``delta``; fixed: ``pool``)
    or ``"tte"`` (``n_per_arm``, ``hazard_ratio``; fixed: ``control_rate``, ``accrual_years``,
    ``followup_years``). Columns: the grid keys, ``power``, ``mc_se``, ``replicates``.
    ``n_workers`` workers; ``backend="dask"`` or a ``scheduler`` address (or
    ``$DASK_SCHEDULER_ADDRESS``) runs the batches on Dask (see :mod:`immune_recovery.parallel`).
    Each batch has its own seed, so the result does not depend on backend or worker count.
    """
    alpha = fixed.pop("alpha", 0.05)
    function = {"cd4": _cd4_task, "tte": _tte_task}[task]
    streams = np.random.SeedSequence(seed).spawn(len(grid))
    jobs, batches_per_point = [], []
    for point, stream in zip(grid, streams, strict=True):
        sizes = [chunk] * (replicates // chunk) + ([replicates % chunk] if replicates % chunk
                                                   else [])
        batches_per_point.append(len(sizes))
        jobs += [{"seed": child, **fixed, **point, "replicates": size, "alpha": alpha}
                 for child, size in zip(stream.spawn(len(sizes)), sizes, strict=True)]
    results = run_tasks(function, jobs, n_workers=n_workers, backend=backend, scheduler=scheduler,
                        progress=progress, description=f"{task} power")
    rows, position = [], 0
    for point, n_batches in zip(grid, batches_per_point, strict=True):
        hits = sum(results[position:position + n_batches])
        position += n_batches
        p = hits / replicates
        rows.append({**point, "power": p, "mc_se": math.sqrt(p * (1 - p) / replicates),
                     "replicates": replicates})
    return pd.DataFrame(rows)


def enrolment_pool(cohort, result, definition_id: str, followup_days: int = 336,
                   window_days: int = 45, event: str = "ade_or_death") -> EnrolmentPool:
    """Immunologic non-responders of a classified (simulated) cohort, as trial enrolees.

    Enrolment is the day of the definition's assessed count (that count is the baseline); the
    follow-up count is the one closest to ``followup_days`` later (within ``window_days``).
    The event rate is that of ``event`` after enrolment among the same non-responders.
    """
    res = result.results[definition_id]
    inr = res.group == GROUPS.index("immunologic_nonresponder")
    cd4 = cohort.absolute_cd4()
    origin = np.where(inr, res.assessed_day, MISSING_DAY)
    series = PatientSeries.build(cd4["code"].to_numpy(), cd4["day"].to_numpy(), origin,
                                 len(inr))
    values = series.take(cd4["CD4_V"].to_numpy(dtype=float))
    row = series.closest(followup_days, window_days, window_days)
    keep = inr & (row >= 0)
    patients = patient_table(cohort)
    data = landmark_by_definition(cohort, patients, result, definition_id, event=event)
    rate_row = incidence(data).set_index("group").loc["immunologic_nonresponder"]
    return EnrolmentPool(baseline=res.assessed_cd4[keep], followup=values[row[keep]],
                         event_rate=float(rate_row["events"] / rate_row["person_years"]))


def pool_summary(pool: EnrolmentPool) -> pd.DataFrame:
    return pd.DataFrame([
        {"quantity": "immunologic non-responders enrolled", "value": pool.baseline.size},
        {"quantity": "mean CD4 at enrolment, cells/mm3", "value": float(pool.baseline.mean())},
        {"quantity": "mean CD4 change to follow-up, cells/mm3",
         "value": float((pool.followup - pool.baseline).mean())},
        {"quantity": "SD of follow-up CD4, cells/mm3", "value": pool.sd},
        {"quantity": "correlation of enrolment and follow-up CD4", "value": pool.rho},
        {"quantity": "AIDS-defining event or death, per 100 person-years",
         "value": 100 * pool.event_rate},
    ])


def with_analytic_cd4(table: pd.DataFrame, pool: EnrolmentPool, alpha: float = 0.05
                      ) -> pd.DataFrame:
    out = table.copy()
    out["analytic_power"] = [analytic_cd4_power(int(n), d, pool.sd, pool.rho, alpha)
                             for n, d in zip(out["n_per_arm"], out["delta"], strict=True)]
    return out


def with_analytic_tte(table: pd.DataFrame, control_rate: float, accrual_years: float,
                      followup_years: float, alpha: float = 0.05) -> pd.DataFrame:
    out = table.copy()
    expected = []
    for n, hr in zip(out["n_per_arm"], out["hazard_ratio"], strict=True):
        p = (event_probability(control_rate, accrual_years, followup_years)
             + event_probability(control_rate * hr, accrual_years, followup_years)) / 2
        expected.append(2 * n * p)
    out["expected_events"] = expected
    out["analytic_power"] = [analytic_tte_power(e, hr, alpha) for e, hr in
                             zip(expected, out["hazard_ratio"], strict=True)]
    return out


def plot_power(cd4: pd.DataFrame, tte: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for ax, table, title in ((axes[0], cd4, f"CD4 +{cd4['delta'].iloc[0]:g} cells/mm³"),
                             (axes[1], tte, f"HR {tte['hazard_ratio'].iloc[0]:g}")):
        ax.errorbar(table["n_per_arm"], table["power"], yerr=2 * table["mc_se"], fmt="o",
                    color="#4477AA", capsize=2, label="simulated")
        ax.plot(table["n_per_arm"], table["analytic_power"], color="#BB5566", label="analytic")
        ax.axhline(0.8, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlabel("Patients per arm")
        ax.set_title(title, loc="left")
    axes[0].set_ylabel("Power")
    axes[0].set_ylim(0, 1.02)
    legend(axes[0], frameon=False)
    fig.tight_layout()
    return fig


def design_comparison(sizes: pd.DataFrame) -> pd.DataFrame:
    """The clinical endpoint's hazard ratios (primary) and the two smallest CD4 effects
    (secondary), with patients needed, side by side."""
    cd4 = sizes["endpoint"].str.startswith("CD4")
    return captioned(pd.concat([sizes[~cd4], sizes[cd4].head(2)], ignore_index=True)[
        ["endpoint", "effect", "events_needed", "patients_needed"]],
        "Events and patients needed: the clinical endpoint beside the CD4 endpoints")


# --------------------------------------------------------------------------------------
# Published inputs: control-arm event rates, loss to follow-up, non-adherence
# --------------------------------------------------------------------------------------

#: Default loss to follow-up over the trial (proportion of patients) and non-adherence
#: (proportion of the treated arm not receiving the therapy; drop-in: controls receiving it).
#: Our assumptions: the reference tables hold no published ESPRIT/SILCAAT figure for either
#: (see data/reference/immune_therapy_trials.csv notes), so they are parameters to set.
DEFAULT_LOSS_TO_FOLLOWUP = 0.10
DEFAULT_NONADHERENCE = 0.20
DEFAULT_DROP_IN = 0.0

def adherence_inflation(nonadherence: float, drop_in: float = 0.0) -> float:
    """Sample-size multiplier for non-adherence (treated not treated) and drop-in (controls
    treated) in an intention-to-treat analysis, 1 / (1 - c - d)^2 (Lachin JM, Foulkes MA.
    Biometrics 1986;42:507-519)."""
    if nonadherence + drop_in >= 1:
        raise ValueError("non-adherence plus drop-in must be below 1")
    return 1.0 / (1.0 - nonadherence - drop_in) ** 2


def tte_design(hazard_ratio: float, control_rate: float, accrual_years: float,
               followup_years: float, alpha: float = 0.05, power: float = 0.8,
               allocation: float = 1.0, loss: float = DEFAULT_LOSS_TO_FOLLOWUP,
               nonadherence: float = DEFAULT_NONADHERENCE, drop_in: float = DEFAULT_DROP_IN
               ) -> dict:
    """Events and patients for a time-to-event trial with ``allocation`` treated per control
    patient (Schoenfeld with allocation fraction r / (1 + r)); the patients before and after
    inflation for non-adherence (:func:`adherence_inflation`) and loss to follow-up
    (divided by 1 - ``loss``)."""
    fraction = allocation / (1 + allocation)
    events = schoenfeld_events(hazard_ratio, alpha, power, fraction)
    p_event = ((1 - fraction) * event_probability(control_rate, accrual_years, followup_years)
               + fraction * event_probability(control_rate * hazard_ratio, accrual_years,
                                              followup_years))
    patients = events / p_event
    inflated = patients * adherence_inflation(nonadherence, drop_in) / (1 - loss)
    return {"events_needed": int(math.ceil(events * adherence_inflation(nonadherence, drop_in))),
            "patients_unadjusted": int(math.ceil(patients)),
            "patients_needed": int(math.ceil(inflated)),
            "p_event_control": event_probability(control_rate, accrual_years, followup_years)}


def published_design_table(rates: pd.DataFrame, hazard_ratios: list[float],
                           accrual_years: float, followup_years: float, alpha: float = 0.05,
                           power: float = 0.8, allocation: float = 1.0,
                           loss: float = DEFAULT_LOSS_TO_FOLLOWUP,
                           nonadherence: float = DEFAULT_NONADHERENCE,
                           drop_in: float = DEFAULT_DROP_IN,
                           observed: dict[float, str] | None = None) -> pd.DataFrame:
    """Sample sizes for each published control-arm rate (rows of
    :func:`~immune_recovery.reference.published_rates`; at its point estimate and at both CI
    limits of the rate where there is a CI: ``patients_if_rate_low`` / ``_high``) and hazard
    ratio; ``observed`` names hazard ratios that were observed in trials (``scenario``), the
    others are assumed."""
    rows = []
    observed = observed or {}
    for rate in rates.itertuples():
        for hr in [*hazard_ratios, *observed]:
            row = {"rate_id": rate.rate_id, "endpoint": rate.outcome,
                   "control_rate_per_100py": rate.rate_per_100py, "hazard_ratio": hr,
                   "scenario": observed.get(hr, "assumed"), "allocation": f"{allocation:g}:1"}
            row.update(tte_design(hr, rate.rate_per_100py / 100, accrual_years, followup_years,
                                  alpha, power, allocation, loss, nonadherence, drop_in))
            for limit, name in (("ci_low", "patients_if_rate_low"),
                                ("ci_high", "patients_if_rate_high")):
                value = getattr(rate, limit)
                row[name] = (
                    tte_design(hr, value / 100, accrual_years, followup_years, alpha, power,
                               allocation, loss, nonadherence, drop_in)["patients_needed"]
                    if value == value else np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def cd4_design_table(deltas: list[float], sd: float, rho: float, alpha: float = 0.05,
                     power: float = 0.8, allocation: float = 1.0,
                     loss: float = DEFAULT_LOSS_TO_FOLLOWUP,
                     nonadherence: float = DEFAULT_NONADHERENCE,
                     drop_in: float = DEFAULT_DROP_IN) -> pd.DataFrame:
    """t-based patients for each CD4 difference, with the allocation ratio and the same
    inflation for non-adherence and loss to follow-up; the z-approximation beside it."""
    rows = []
    for delta in deltas:
        control, treated = cd4_patients_t(delta, sd, rho, alpha, power, allocation)
        total = control + treated
        rows.append({"effect": f"+{delta:g} cells/mm3", "allocation": f"{allocation:g}:1",
                     "control": control, "treated": treated, "patients_unadjusted": total,
                     "patients_needed": int(math.ceil(total * adherence_inflation(
                         nonadherence, drop_in) / (1 - loss))),
                     "patients_z_approximation_1to1": 2 * cd4_patients_per_arm(
                         delta, sd, rho, alpha, power)})
    return pd.DataFrame(rows)


def observed_control_arms(rate_ids: list[str], design_rate_per_100py: float,
                          years: float) -> pd.DataFrame:
    """A check of the design's inputs against trials' observed control arms: each row of
    :func:`~immune_recovery.reference.published_rates` (ESPRIT, SILCAAT, SMART control arms) beside the design's control
    rate; where only events are published, without person-years, that is said."""
    table = reference.published_rates(rate_ids)
    table["design_rate_per_100py"] = design_rate_per_100py
    table["design_within_published_ci"] = np.where(
        table["ci_low"].notna(), (table["ci_low"] <= design_rate_per_100py)
        & (design_rate_per_100py <= table["ci_high"]), pd.NA)
    table["note"] = np.where(table["rate_per_100py"].isna(),
                             "no rate: person-years not published in the reference table",
                             "")
    table["design_years"] = years
    return table
