"""Confidence intervals and agreement statistics used across the analyses.

* :func:`wilson` — Wilson score interval of a proportion (statsmodels
  ``proportion_confint(method="wilson")``);
* :func:`exact_poisson_ci` — exact (Garwood) interval of a Poisson rate;
* :func:`rate_ratio_ci` — Wald interval of a ratio of two Poisson rates on the log scale;
* :func:`cohen_kappa` — Cohen's kappa of a 2x2 agreement table.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from .conventions import z_quantile


def wilson(numerator, denominator, alpha: float = 0.05
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(proportion, lower, upper) of ``numerator / denominator``; NaN where the denominator
    is 0."""
    numerator = np.asarray(numerator)
    denominator = np.asarray(denominator)
    safe = np.maximum(denominator, 1)
    low, high = proportion_confint(numerator, safe, alpha=alpha, method="wilson")
    empty = denominator == 0
    proportion = np.where(empty, np.nan, numerator / safe)
    return proportion, np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def exact_poisson_ci(events, exposure, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) confidence limits of a Poisson rate ``events / exposure``:
    chi-square quantiles / 2 (Garwood 1936)."""
    events = np.asarray(events, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    low = np.where(events > 0, stats.chi2.ppf(alpha / 2, 2 * events) / 2, 0.0)
    high = stats.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2
    return low / exposure, high / exposure


def rate_ratio_ci(events, exposure, ref_events, ref_exposure, alpha: float = 0.05
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ratio, lower, upper) of the rate ``events/exposure`` against the reference rate:
    Wald interval on the log scale, SE = sqrt(1/d1 + 1/d0); no interval when either count
    is 0."""
    events, exposure = np.asarray(events, float), np.asarray(exposure, float)
    ref_events, ref_exposure = np.asarray(ref_events, float), np.asarray(ref_exposure, float)
    ratio = (events / exposure) / (ref_events / ref_exposure)
    z = z_quantile(1 - alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(1 / events + 1 / ref_events)
    defined = (events > 0) & (ref_events > 0)
    low = np.where(defined, ratio * np.exp(-z * np.where(defined, se, 0)), np.nan)
    high = np.where(defined, ratio * np.exp(z * np.where(defined, se, 0)), np.nan)
    return ratio, low, high


def cohen_kappa(both: int, only_first: int, only_second: int, neither: int) -> float:
    """Cohen's kappa of a 2x2 agreement table (observed vs chance agreement)."""
    n = both + only_first + only_second + neither
    observed = (both + neither) / n
    first_yes, second_yes = (both + only_first) / n, (both + only_second) / n
    chance = first_yes * second_yes + (1 - first_yes) * (1 - second_yes)
    return float("nan") if chance == 1 else (observed - chance) / (1 - chance)
