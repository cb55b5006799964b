"""Parameters of the simulated HAART cohort (every one documented; units in the names).

Defaults are calibrated to the literature in ``data/reference/`` (see
``data/reference/simulation_calibration.csv`` for each target, its source and the value the
simulator reaches). Square-root CD4 (``sqrt(cells/mm³)``) is the scale of the recovery model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..exceptions import ParameterError
from .measurement import CD4ErrorModel, published_error_model


def _error(name: str):
    """Default of a CD4 error parameter: the model fitted to ``cd4_variability.csv``."""
    return field(default_factory=lambda: getattr(published_error_model(), name))


@dataclass(frozen=True)
class SimulationParams:
    # --- calendar and follow-up -----------------------------------------------------------
    start_year_min: int = 1998
    start_year_max: int = 2018
    admin_end: str = "2022-12-31"  #: administrative end of follow-up (ISO date)
    max_followup_years: float = 10.0
    visit_interval_days: float = 91.3  #: about every 3 months
    visit_jitter_sd_days: float = 12.0
    missed_visit_prob: float = 0.12
    #: visits missed in the last ``pre_dropout_years`` before a loss to follow-up (our choice:
    #: attendance thins out before patients are lost)
    missed_visit_prob_before_dropout: float = 0.40
    pre_dropout_years: float = 0.5
    rna_missing_prob: float = 0.10  #: visits with CD4 but no viral load
    # loss to follow-up, informative: hazard per year
    #   exp(ltfu_log_rate + ltfu_per_sqrt_cd4 (L(t) - 15) + ltfu_viremic V(t))
    # (our choices: about 5% a year at sqrt CD4 15 while suppressed, more at low CD4 and while
    # viremic; no reference table publishes these associations)
    ltfu_log_rate: float = -3.0
    ltfu_per_sqrt_cd4: float = -0.05
    ltfu_viremic: float = 1.0

    # --- baseline covariates ---------------------------------------------------------------
    age_mean_years: float = 38.0
    age_sd_years: float = 9.5
    female_prob: float = 0.28
    idu_prob: float = 0.12
    msm_prob_male: float = 0.55
    hcv_prob_idu: float = 0.65
    hcv_prob_other: float = 0.05
    years_since_diagnosis_mean: float = 2.5
    sqrt_cd4_mean: float = 13.0  #: baseline sqrt CD4 (right-skewed count; median about 170)
    sqrt_cd4_sd: float = 5.2
    sqrt_cd4_per_year_diagnosed: float = -0.35
    log10_rna_mean: float = 4.7
    log10_rna_sd: float = 0.7
    log10_rna_per_sqrt_cd4: float = -0.04
    prior_aids_intercept: float = -1.6  #: logit P(prior AIDS) at sqrt CD4 = 13
    prior_aids_per_sqrt_cd4: float = -0.22

    # --- regimens (probabilities of the initial backbone by era) ---------------------------
    zdv_prob_before_2005: float = 0.55
    zdv_prob_from_2005: float = 0.20
    ddi_tdf_prob_2002_2005: float = 0.12
    tdf_prob_from_2005: float = 0.65
    zdv_toxicity_switch_rate_per_year: float = 0.12
    ddi_tdf_switch_rate_per_year: float = 0.25

    # --- CD4 recovery: sqrt CD4(t) = b + G (1 - exp(-c(t)/tau)) + offsets(t) - delta v(t) --
    gain_intercept: float = 13.6  #: G at reference covariates (sqrt units)
    gain_per_sqrt_baseline: float = -0.4  #: per sqrt unit of baseline CD4 above 13
    gain_per_10y_age: float = -2.4
    gain_hcv: float = -4.5
    gain_per_log10_rna: float = 0.7
    gain_prior_aids: float = -0.8
    gain_per_year_diagnosed: float = -0.20
    gain_sd: float = 2.8  #: between-patient SD of G
    tau_median_years: float = 0.32
    tau_sd_log: float = 0.35
    late_responder_prob: float = 0.10
    late_tau_min_years: float = 2.0
    late_tau_max_years: float = 4.0
    stalled_prob: float = 0.08  #: at baseline sqrt CD4 = 13
    stalled_per_sqrt_baseline: float = -0.17  #: logit change per sqrt unit of baseline CD4
    stalled_gain_min: float = -0.5
    stalled_gain_max: float = 1.5
    offset_zdv: float = -1.4  #: while on zidovudine (about -47 cells near 300)
    offset_ddi_tdf: float = -3.5  #: while on didanosine + tenofovir
    offset_zdv_tmpsmx: float = -0.5  #: extra while on zidovudine and TMP/SMX together
    offset_onset_years: float = 0.25  #: time constant of regimen effects on and off
    decline_per_viremic_year: float = 1.5  #: delta: sqrt-CD4 loss per year of viremia
    # CD4 measurement error: log-normal, SD s(c) = cd4_error_log_sd (c / reference)^exponent
    # fitted to cd4_variability.csv rows CV11 (scale) and CV09 (level): see .measurement
    cd4_error_log_sd: float = _error("log_sd_reference")
    cd4_error_reference_count: float = _error("reference_count")
    cd4_error_level_exponent: float = _error("level_exponent")

    # --- viral load ----------------------------------------------------------------------------
    suppression_shape: float = 3.0  #: gamma shape of time to suppression (months)
    suppression_scale_months: float = 1.0
    primary_failure_prob: float = 0.07
    primary_failure_resuppress_min_months: float = 6.0
    primary_failure_resuppress_max_months: float = 18.0
    virologic_failure_rate_per_year: float = 0.04
    failure_duration_mean_months: float = 8.0
    blip_prob: float = 0.04
    failure_log10_rna_mean: float = 3.8
    failure_log10_rna_sd: float = 0.6
    assay_limit_before_2001: float = 400.0
    assay_limit_from_2001: float = 50.0
    limit_unknown_prob: float = 0.02  #: below-limit results coded -1

    # --- clinical events: hazards per year, log-linear in current sqrt CD4 and viremia ------
    ade_log_rate: float = -4.0  #: log hazard at sqrt CD4 = 15, suppressed, age 40
    ade_per_sqrt_cd4: float = -0.08
    ade_viremic: float = 2.2
    ade_per_10y_age: float = 0.1
    death_log_rate: float = -5.0
    death_per_sqrt_cd4: float = -0.07
    death_viremic: float = 1.6
    death_per_10y_age: float = 0.3
    death_after_ade: float = 1.0
    death_after_snae: float = 0.7
    death_hcv: float = 0.3
    snae_log_rate: float = -4.8  #: serious non-AIDS events, log hazard at sqrt CD4 15, age 40
    snae_per_sqrt_cd4: float = -0.07
    snae_viremic: float = 0.3
    snae_per_10y_age: float = 0.5
    snae_hcv: float = 0.4

    extra: dict[str, Any] = field(default_factory=dict)

    def cd4_error(self) -> CD4ErrorModel:
        """The CD4 measurement-error model these parameters describe."""
        return CD4ErrorModel(self.cd4_error_log_sd, self.cd4_error_reference_count,
                             self.cd4_error_level_exponent)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, **overrides: Any) -> SimulationParams:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ParameterError(f"unknown simulation parameter(s): {', '.join(unknown)}")
        return replace(self, **overrides)
