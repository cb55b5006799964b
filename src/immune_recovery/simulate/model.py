r"""The mechanistic model of a HAART cohort, vectorized over patients.

Time ``t`` is in years since ART start (T0). Every quantity below is drawn for all patients of
a chunk at once with numpy; there is no per-patient Python loop.

Baseline covariates
    Start year uniform on [``start_year_min``, ``start_year_max``]; age
    :math:`\sim N(38, 9.5)` truncated to [18, 80]; sex, injecting drug use (IDU), MSM;
    HCV more frequent with IDU; years since diagnosis :math:`d \sim \mathrm{Exp}(2.5)`;
    baseline :math:`b = \sqrt{\mathrm{CD4}_0} \sim N(13 - 0.35 (d - 2.5), 5.2)` truncated to
    [1, 35] (a right-skewed count with many below 200); baseline
    :math:`\log_{10}` RNA :math:`\sim N(4.7 - 0.04 (b - 13), 0.7)`; prior AIDS with
    :math:`\mathrm{logit}\,P = -1.6 - 0.22 (b - 13)`.

Regimens
    The initial NRTI backbone depends on the era (:data:`BACKBONES`): zidovudine (ZDV) +
    lamivudine, stavudine + lamivudine, abacavir + lamivudine, tenofovir (TDF) +
    emtricitabine, or didanosine (ddI) + TDF (2002-2004); a third agent by era. ZDV and ddI +
    TDF are switched for toxicity at constant rates; any regimen is switched when a virologic
    failure ends. TMP/SMX prophylaxis (``tblMED``, ATC J01EE01) runs from T0 while CD4 < 200
    (until three months after the latent count first reaches 200).

CD4 recovery (square-root scale)
    .. math::

        L(t) = b + G\,(1 - e^{-c(t)/\tau}) + o_\mathrm{ZDV}(t) + o_\mathrm{ddI+TDF}(t)
               + o_\mathrm{ZDV \times TMP/SMX}(t) - \delta\,v(t)

    with patient gain
    :math:`G = g_0 + g_b (b - 13) + g_a (\mathrm{age} - 40)/10 + g_h \mathrm{HCV}
    + g_r (\log_{10}\mathrm{RNA} - 4.7) + g_{A} \mathrm{AIDS} + g_d (d - 2.5) + u`,
    :math:`u \sim N(0, \sigma_G)`; time constant :math:`\tau` log-normal (median 0.32 y), or
    uniform on [2, 4] y for *late responders*; *stalled* patients (more frequent with low
    baseline CD4: :math:`\mathrm{logit}\,P = \mathrm{logit}(0.08) - 0.17 (b - 13)`) have
    :math:`G \sim U(-0.5, 1.5)`. :math:`v(t)` is the time spent viremic after suppression
    (or from T0 for primary failure) and :math:`c(t) = t - v(t)` the recovery clock.
    A regimen offset :math:`o` builds up as :math:`o(1 - e^{-t/\kappa})` while on the drug and
    decays as :math:`e^{-(t - z)/\kappa}` after the switch at :math:`z`. Measured
    :math:`\mathrm{CD4} = L(t)^2 e^{\eta}`, :math:`\eta \sim N(0, s^2)` with the log-normal
    error model of :mod:`.measurement` (CV 16.6%, fitted to ``cd4_variability.csv`` CV11,
    nearly level-independent per CV09).

Viral load
    Time to suppression :math:`\sim \mathrm{Gamma}(3, 1 + 0.3(\log_{10}\mathrm{RNA} - 4.7))`
    months; 7% primary failure (viremic until a switch at 6-18 months); after suppression one
    possible failure episode (rate 0.04/y, mean 8 months); blips (4% of suppressed results,
    60-400 copies/mL). Results below the assay limit (400 copies/mL before 2001, 50 after)
    are coded the HICDEP way: ``RNA_V = -limit``, ``RNA_L = limit`` (2%: ``-1``, limit
    unknown).

Visits and follow-up
    A baseline visit 0-30 days before T0, then every 91.3 days with jitter (SD 12 d), 12%
    missed (40% in the half-year before a loss to follow-up); CD4 at every visit, RNA at 90%.
    Follow-up ends at death, loss to follow-up (``DROP_D`` = last visit), 10 years, or the
    administrative end (2022-12-31). Loss to follow-up is informative: its hazard
    :math:`\exp\{l_0 + l_L (L(t) - 15) + l_V V(t)\}` rises at low CD4 and while viremic.

Clinical events (time-varying hazards, per year, on a monthly grid)
    .. math::

        h_\mathrm{ADE}(t) = \exp\{a_0 + a_L (L(t) - 15) + a_V V(t) + a_\mathrm{age}
        (\mathrm{age}(t) - 40)/10\}

        h_\mathrm{death}(t) = \exp\{d_0 + d_L (L(t) - 15) + d_V V(t) + d_\mathrm{age}
        (\mathrm{age}(t) - 40)/10 + d_\mathrm{ADE} 1[t > T_\mathrm{ADE}] + d_H \mathrm{HCV}\}

        h_\mathrm{SNAE}(t) = \exp\{s_0 + s_L (L(t) - 15) + s_V V(t) + s_\mathrm{age}
        (\mathrm{age}(t) - 40)/10 + s_H \mathrm{HCV}\}

    where :math:`V(t)` is 1 while viremic; death also rises after a serious non-AIDS event
    (:math:`d_\mathrm{SNAE}`). The first new AIDS-defining event goes to ``tblDIS`` (and
    ``tblBAS.AIDS_D`` when it is the first AIDS diagnosis), the first serious non-AIDS event to
    ``tblCEP`` (HICDEP codes AMI, STR, ESRD, CLD, NADM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import DAYS_PER_YEAR, from_days
from ..conventions import EPOCH as EPOCH_DAY
from .params import SimulationParams

MONTHS_PER_YEAR = 12.0

ATC = {
    "ZDV": "J05AF01", "ddI": "J05AF02", "d4T": "J05AF04", "3TC": "J05AF05", "ABC": "J05AF06",
    "TDF": "J05AF07", "FTC": "J05AF09", "EFV": "J05AG03", "NVP": "J05AG01",
    "LPV/r": "J05AR10", "ATV": "J05AE08", "RTV": "J05AE03", "DTG": "J05AJ03",
}
TMP_SMX_ATC = "J01EE01"

#: Initial backbones and their drugs.
BACKBONES = {
    "ZDV+3TC": ("ZDV", "3TC"),
    "d4T+3TC": ("d4T", "3TC"),
    "ABC+3TC": ("ABC", "3TC"),
    "TDF+FTC": ("TDF", "FTC"),
    "ddI+TDF": ("ddI", "TDF"),
}
BACKBONE_NAMES = tuple(BACKBONES)
THIRD_AGENTS = {"EFV": ("EFV",), "NVP": ("NVP",), "LPV/r": ("LPV/r",), "ATV/r": ("ATV", "RTV"),
                "DTG": ("DTG",)}
THIRD_NAMES = tuple(THIRD_AGENTS)
#: Second-line regimen after a switch (by whether the first backbone contained TDF).
SECOND_LINE = {False: ("TDF", "FTC", "LPV/r"), True: ("ABC", "3TC", "LPV/r")}

#: Serious non-AIDS events written to tblCEP (HICDEP CEP_ID codes).
SNAE_CODES = ("AMI", "STR", "ESRD", "CLD", "NADM")
AIDS_EVENT_CODES = ("PCP", "CANO", "KS", "MCP", "CMVR", "TOX", "NHG", "WAST", "CRCO", "LEU")

#: P(backbone) by era; the ZDV, ddI+TDF and TDF shares come from the parameters.
def backbone_probabilities(p: SimulationParams, year: np.ndarray) -> np.ndarray:
    early = year < 2002
    middle = (year >= 2002) & (year < 2005)
    probs = np.zeros((year.size, len(BACKBONE_NAMES)))
    zdv_early = p.zdv_prob_before_2005
    probs[early] = [zdv_early, 0.8 * (1 - zdv_early), 0.2 * (1 - zdv_early), 0.0, 0.0]
    rest = 1 - zdv_early - p.ddi_tdf_prob_2002_2005
    probs[middle] = [zdv_early, 0.3 * rest, 0.2 * rest, 0.5 * rest, p.ddi_tdf_prob_2002_2005]
    late = ~(early | middle)
    probs[late] = [p.zdv_prob_from_2005, 0.0, 1 - p.zdv_prob_from_2005 - p.tdf_prob_from_2005,
                   p.tdf_prob_from_2005, 0.0]
    return probs


def third_agent_probabilities(year: np.ndarray) -> np.ndarray:
    probs = np.zeros((year.size, len(THIRD_NAMES)))
    probs[year < 2005] = [0.5, 0.25, 0.25, 0.0, 0.0]
    probs[(year >= 2005) & (year < 2013)] = [0.5, 0.1, 0.15, 0.25, 0.0]
    probs[year >= 2013] = [0.35, 0.0, 0.05, 0.2, 0.4]
    return probs


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None] * cum[:, -1:]
    return (u > cum).sum(axis=1)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Patients:
    """Per-patient latent quantities of one chunk (arrays of length n); times in years."""

    n: int
    start_day: np.ndarray  #: T0 as days since 1970-01-01
    start_year: np.ndarray
    age: np.ndarray
    female: np.ndarray
    mode: np.ndarray
    hcv: np.ndarray
    years_dx: np.ndarray
    b: np.ndarray  #: baseline sqrt CD4
    log10_rna0: np.ndarray
    prior_aids: np.ndarray
    backbone: np.ndarray  #: index into BACKBONE_NAMES
    third: np.ndarray  #: index into THIRD_NAMES
    latent_class: np.ndarray  #: 0 responder, 1 late responder, 2 stalled
    gain: np.ndarray  #: G
    tau: np.ndarray
    suppression: np.ndarray  #: time to first suppression
    primary_failure: np.ndarray
    resuppress: np.ndarray  #: primary failures: end of the initial viremic period
    failure_start: np.ndarray  #: secondary failure episode (inf if none)
    failure_end: np.ndarray
    switch: np.ndarray  #: regimen switch time (inf if none)
    tmp_stop: np.ndarray  #: end of TMP/SMX (0 if never started)


def draw_patients(rng: np.random.Generator, n: int, p: SimulationParams) -> Patients:
    """Baseline covariates, regimen, latent recovery parameters and viral-load history."""
    year = rng.integers(p.start_year_min, p.start_year_max + 1, n)
    first_of_year = (np.array([f"{y}-01-01" for y in range(p.start_year_min,
                     p.start_year_max + 1)], dtype="datetime64[D]") - EPOCH_DAY).astype(np.int64)
    start_day = first_of_year[year - p.start_year_min] + rng.integers(0, 365, n)
    age = np.clip(rng.normal(p.age_mean_years, p.age_sd_years, n), 18, 80)
    female = rng.random(n) < p.female_prob
    idu = rng.random(n) < p.idu_prob
    msm = ~female & ~idu & (rng.random(n) < p.msm_prob_male)
    mode = np.where(idu, 2, np.where(msm, 1, 6))
    mode = np.where(rng.random(n) < 0.03, 99, mode)
    hcv = rng.random(n) < np.where(idu, p.hcv_prob_idu, p.hcv_prob_other)
    years_dx = rng.exponential(p.years_since_diagnosis_mean, n)
    b = np.clip(rng.normal(p.sqrt_cd4_mean + p.sqrt_cd4_per_year_diagnosed
                           * (years_dx - p.years_since_diagnosis_mean), p.sqrt_cd4_sd, n), 1, 35)
    log10_rna0 = np.clip(rng.normal(p.log10_rna_mean + p.log10_rna_per_sqrt_cd4 * (b - 13),
                                    p.log10_rna_sd, n), 2.7, 6.5)
    prior_aids = rng.random(n) < _expit(p.prior_aids_intercept
                                        + p.prior_aids_per_sqrt_cd4 * (b - 13))
    backbone = _categorical(rng, backbone_probabilities(p, year))
    third = _categorical(rng, third_agent_probabilities(year))

    u = rng.random(n)
    stalled = _expit(np.log(p.stalled_prob / (1 - p.stalled_prob))
                     + p.stalled_per_sqrt_baseline * (b - 13))
    latent_class = np.where(u < stalled, 2, np.where(u < stalled + p.late_responder_prob, 1, 0))
    gain = (p.gain_intercept + p.gain_per_sqrt_baseline * (b - 13)
            + p.gain_per_10y_age * (age - 40) / 10 + p.gain_hcv * hcv
            + p.gain_per_log10_rna * (log10_rna0 - p.log10_rna_mean)
            + p.gain_prior_aids * prior_aids
            + p.gain_per_year_diagnosed * (years_dx - p.years_since_diagnosis_mean)
            + rng.normal(0, p.gain_sd, n))
    gain = np.where(latent_class == 2, rng.uniform(p.stalled_gain_min, p.stalled_gain_max, n),
                    gain)
    tau = np.where(latent_class == 1, rng.uniform(p.late_tau_min_years, p.late_tau_max_years, n),
                   p.tau_median_years * np.exp(rng.normal(0, p.tau_sd_log, n)))

    scale = p.suppression_scale_months * np.clip(1 + 0.3 * (log10_rna0 - p.log10_rna_mean),
                                                 0.4, None)
    suppression = np.clip(rng.gamma(p.suppression_shape, scale), 0.5, None) / MONTHS_PER_YEAR
    primary_failure = rng.random(n) < p.primary_failure_prob
    resuppress = rng.uniform(p.primary_failure_resuppress_min_months,
                             p.primary_failure_resuppress_max_months, n) / MONTHS_PER_YEAR
    resuppress = np.where(primary_failure, resuppress, 0.0)
    suppression = np.where(primary_failure, resuppress + suppression, suppression)
    failure_start = suppression + rng.exponential(1 / p.virologic_failure_rate_per_year, n)
    failure_end = failure_start + rng.exponential(p.failure_duration_mean_months, n) / 12
    tox_rate = np.select([backbone == BACKBONE_NAMES.index("ZDV+3TC"),
                          backbone == BACKBONE_NAMES.index("ddI+TDF")],
                         [p.zdv_toxicity_switch_rate_per_year, p.ddi_tdf_switch_rate_per_year],
                         default=0.0)
    toxicity = np.where(tox_rate > 0, rng.exponential(1 / np.where(tox_rate > 0, tox_rate, 1)),
                        np.inf)
    # a switch happens at a visit after ART start, never on the start day itself
    switch = np.maximum(np.minimum(toxicity, np.where(primary_failure, resuppress, failure_end)),
                        0.1)
    return Patients(n=n, start_day=start_day, start_year=year, age=age, female=female,
                    mode=mode, hcv=hcv, years_dx=years_dx, b=b, log10_rna0=log10_rna0,
                    prior_aids=prior_aids, backbone=backbone, third=third,
                    latent_class=latent_class, gain=gain, tau=tau, suppression=suppression,
                    primary_failure=primary_failure, resuppress=resuppress,
                    failure_start=failure_start, failure_end=failure_end, switch=switch,
                    tmp_stop=np.zeros(n))


def _col(x: np.ndarray) -> np.ndarray:
    return x[:, None]


def viremic_time(pt: Patients, t: np.ndarray) -> np.ndarray:
    """v(t): years spent viremic that stop the recovery clock (t: n x k)."""
    primary = np.minimum(t, _col(pt.resuppress))
    secondary = np.clip(t - _col(pt.failure_start), 0, _col(pt.failure_end - pt.failure_start))
    return np.where(_col(pt.primary_failure), primary, secondary)


def is_viremic(pt: Patients, t: np.ndarray) -> np.ndarray:
    """V(t): RNA above the limit (before suppression or during a failure episode)."""
    return (t < _col(pt.suppression)) | ((t >= _col(pt.failure_start))
                                        & (t < _col(pt.failure_end)))


def _add_offset(level: np.ndarray, t: np.ndarray, on: np.ndarray, stop: np.ndarray,
                size: float, onset: float) -> None:
    """Add a regimen offset in place to the rows of patients ``on`` the drug: it builds up as
    ``size (1 - exp(-t/onset))`` until ``stop`` and decays as ``exp(-(t - stop)/onset)``."""
    rows = np.flatnonzero(on)
    if rows.size == 0:
        return
    ts, st = t[rows], _col(stop[rows])
    built = size * (1 - np.exp(-np.minimum(ts, st) / onset))
    level[rows] += built * np.exp(-np.clip(ts - st, 0, None) / onset)


@dataclass
class LatentParts:
    """What L(t) is made of before the TMP/SMX offset: computed once per time grid and shared
    by the TMP/SMX rule and the event hazards."""

    t: np.ndarray  #: times, floored at 0
    level: np.ndarray  #: b + recovery + ZDV and ddI+TDF offsets
    viremic_years: np.ndarray  #: v(t)


def latent_parts(pt: Patients, t: np.ndarray, p: SimulationParams) -> LatentParts:
    t = np.clip(t, 0, None)
    v = viremic_time(pt, t)
    clock = t - v
    level = _col(pt.b) + _col(pt.gain) * (1 - np.exp(-clock / _col(pt.tau)))
    zdv = pt.backbone == BACKBONE_NAMES.index("ZDV+3TC")
    ddi_tdf = pt.backbone == BACKBONE_NAMES.index("ddI+TDF")
    _add_offset(level, t, zdv, pt.switch, p.offset_zdv, p.offset_onset_years)
    _add_offset(level, t, ddi_tdf, pt.switch, p.offset_ddi_tdf, p.offset_onset_years)
    return LatentParts(t=t, level=level, viremic_years=v)


def latent_from_parts(pt: Patients, parts: LatentParts, p: SimulationParams,
                      with_tmp: bool = True) -> np.ndarray:
    level = parts.level
    if with_tmp:
        level = level.copy()
        zdv = pt.backbone == BACKBONE_NAMES.index("ZDV+3TC")
        _add_offset(level, parts.t, zdv & (pt.tmp_stop > 0), np.minimum(pt.switch, pt.tmp_stop),
                    p.offset_zdv_tmpsmx, p.offset_onset_years)
    level = level - p.decline_per_viremic_year * parts.viremic_years
    return np.clip(level, 0, None)


def latent_sqrt_cd4(pt: Patients, t: np.ndarray, p: SimulationParams,
                    with_tmp: bool = True) -> np.ndarray:
    """L(t) on the square-root scale (t: n x k years since T0), floored at 0."""
    return latent_from_parts(pt, latent_parts(pt, t, p), p, with_tmp)


def month_grid(p: SimulationParams) -> np.ndarray:
    months = int(np.ceil(p.max_followup_years * MONTHS_PER_YEAR))
    return (np.arange(months) + 0.5) / MONTHS_PER_YEAR


def grid_parts(pt: Patients, p: SimulationParams, grid: np.ndarray) -> LatentParts:
    return latent_parts(pt, np.broadcast_to(grid, (pt.n, grid.size)), p)


def set_tmp_smx(pt: Patients, p: SimulationParams, grid: np.ndarray,
                parts: LatentParts | None = None) -> None:
    """TMP/SMX from T0 while CD4 < 200: stops 3 months after the latent count reaches 200."""
    threshold = np.sqrt(200.0)
    starts = pt.b < threshold
    parts = parts or grid_parts(pt, p, grid)
    level = latent_from_parts(pt, parts, p, with_tmp=False)
    reached = level >= threshold
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), grid.size)
    stop = np.where(first < grid.size, grid[np.minimum(first, grid.size - 1)], np.inf) + 0.25
    pt.tmp_stop = np.where(starts, stop, 0.0)


def first_event_time(rng: np.random.Generator, hazard_per_year: np.ndarray,
                     step_years: float) -> np.ndarray:
    """Event time from a piecewise-constant hazard on a regular grid (inf if none)."""
    cumulative = np.cumsum(hazard_per_year * step_years, axis=1)
    target = rng.exponential(1.0, hazard_per_year.shape[0])
    crossed = cumulative >= target[:, None]
    hit = crossed.any(axis=1)
    idx = np.where(hit, crossed.argmax(axis=1), 0)
    rows = np.arange(hazard_per_year.shape[0])
    before = np.where(idx > 0, cumulative[rows, np.maximum(idx - 1, 0)], 0.0)
    rate = hazard_per_year[rows, idx]
    within = (target - before) / np.where(rate > 0, rate, np.inf)
    return np.where(hit, idx * step_years + within, np.inf)


@dataclass
class EventTimes:
    """First event times of one chunk, years since T0 (inf if none within the grid)."""

    ade: np.ndarray  #: new AIDS-defining event
    snae: np.ndarray  #: serious non-AIDS event
    death: np.ndarray
    ltfu: np.ndarray  #: loss to follow-up (informative: depends on L(t) and V(t))


def draw_events(rng: np.random.Generator, pt: Patients, p: SimulationParams,
                grid: np.ndarray, parts: LatentParts | None = None) -> EventTimes:
    """Times of the first new AIDS-defining event, serious non-AIDS event, death and loss to
    follow-up, from hazards on the monthly grid that depend on the latent CD4 and viremia."""
    t = np.broadcast_to(grid, (pt.n, grid.size))
    level = latent_from_parts(pt, parts or grid_parts(pt, p, grid), p) - 15
    viremic = is_viremic(pt, t)
    age10 = (_col(pt.age) + t - 40) / 10
    step = 1 / MONTHS_PER_YEAR
    ade = first_event_time(rng, np.exp(p.ade_log_rate + p.ade_per_sqrt_cd4 * level
                                       + p.ade_viremic * viremic + p.ade_per_10y_age * age10),
                           step)
    snae = first_event_time(rng, np.exp(p.snae_log_rate + p.snae_per_sqrt_cd4 * level
                                        + p.snae_viremic * viremic + p.snae_per_10y_age * age10
                                        + p.snae_hcv * _col(pt.hcv)), step)
    death = first_event_time(rng, np.exp(
        p.death_log_rate + p.death_per_sqrt_cd4 * level + p.death_viremic * viremic
        + p.death_per_10y_age * age10 + p.death_after_ade * (t > _col(ade))
        + p.death_after_snae * (t > _col(snae)) + p.death_hcv * _col(pt.hcv)), step)
    ltfu = first_event_time(rng, np.exp(p.ltfu_log_rate + p.ltfu_per_sqrt_cd4 * level
                                        + p.ltfu_viremic * viremic), step)
    return EventTimes(ade=ade, snae=snae, death=death, ltfu=ltfu)


@dataclass
class LatentCohort:
    """What a chunk's patients are before anything is measured: covariates and latent
    parameters, the monthly grid with its latent parts, and the true event times."""

    pt: Patients
    grid: np.ndarray
    parts: LatentParts
    events: EventTimes


def draw_latent(rng: np.random.Generator, n: int, p: SimulationParams) -> LatentCohort:
    """Draw ``n`` patients and their true event times (the first draws of every chunk, in
    the simulator's order: the same stream gives the same patients wherever it is used)."""
    pt = draw_patients(rng, n, p)
    grid = month_grid(p)
    parts = grid_parts(pt, p, grid)
    set_tmp_smx(pt, p, grid, parts)
    return LatentCohort(pt=pt, grid=grid, parts=parts, events=draw_events(rng, pt, p, grid, parts))


def admin_years(pt: Patients, p: SimulationParams) -> np.ndarray:
    """Years from each patient's T0 to the administrative end of the study."""
    admin = (np.datetime64(p.admin_end, "D") - EPOCH_DAY).astype(np.int64)
    return (admin - pt.start_day) / DAYS_PER_YEAR


def to_dates(days: np.ndarray) -> np.ndarray:
    """Integer days since 1970-01-01 to ``datetime64[ns]``."""
    return from_days(days)


def truth_columns(pt: Patients, p: SimulationParams, events: EventTimes,
                  end: np.ndarray) -> dict[str, np.ndarray]:
    """Per-patient latent values and true non-response status (the columns of ``truth.csv``
    after ``PATIENT``)."""
    marks = np.array([6, 12, 24, 36]) / MONTHS_PER_YEAR
    latent = latent_sqrt_cd4(pt, np.broadcast_to(marks, (pt.n, marks.size)), p) ** 2
    suppressed = ~is_viremic(pt, np.broadcast_to(marks, (pt.n, marks.size)))
    baseline = pt.b ** 2
    gain12 = latent[:, 1] - baseline
    return {
        "latent_class": np.array(["responder", "late_responder", "stalled"],
                                 dtype=object)[pt.latent_class],
        "age": pt.age.round(3),
        "female": pt.female.astype(int),
        "hcv": pt.hcv.astype(int),
        "prior_aids": pt.prior_aids.astype(int),
        "years_since_diagnosis": pt.years_dx.round(4),
        "log10_rna0": pt.log10_rna0.round(4),
        "backbone": np.array(BACKBONE_NAMES, dtype=object)[pt.backbone],
        "third_agent": np.array(THIRD_NAMES, dtype=object)[pt.third],
        "latent_baseline_cd4": baseline.round(2),
        "gain_sqrt": pt.gain.round(4),
        "tau_years": pt.tau.round(4),
        "plateau_cd4": ((pt.b + pt.gain).clip(0) ** 2).round(2),
        "suppression_years": pt.suppression.round(4),
        "primary_failure": pt.primary_failure.astype(int),
        "failure_start_years": pt.failure_start.round(4),
        "failure_end_years": pt.failure_end.round(4),
        "switch_years": pt.switch.round(4),
        "tmp_smx_stop_years": pt.tmp_stop.round(4),
        "latent_cd4_m6": latent[:, 0].round(2),
        "latent_cd4_m12": latent[:, 1].round(2),
        "latent_cd4_m24": latent[:, 2].round(2),
        "latent_cd4_m36": latent[:, 3].round(2),
        "suppressed_m6": suppressed[:, 0].astype(int),
        "suppressed_m12": suppressed[:, 1].astype(int),
        "true_gain_m12": gain12.round(2),
        "true_inr_gain_le100_m12": (suppressed[:, 1] & (gain12 <= 100)).astype(int),
        "ade_years": events.ade.round(4),
        "snae_years": events.snae.round(4),
        "death_years": events.death.round(4),
        "ltfu_years": events.ltfu.round(4),
        "followup_years": end.round(4),
    }
