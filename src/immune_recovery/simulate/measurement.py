r"""The CD4 measurement-error model, fitted to the published within-person variability.

A measured count is the latent count times a log-normal error,

.. math::

    \log \mathrm{CD4}_\mathrm{measured} = \log \mathrm{CD4}_\mathrm{latent} + \eta,\qquad
    \eta \sim N\{0, s(c)^2\},\qquad s(c) = s_\mathrm{ref}\,(c / c_\mathrm{ref})^{\beta}

so the latent count is the median of its measurements and the coefficient of variation is
:math:`\sqrt{e^{s^2} - 1}`. Two rows of ``data/reference/cd4_variability.csv`` fix the
parameters:

* **scale** — ``CV11`` (Gordon et al., PLoS One 2015): within-patient CV of 16.6% of the
  absolute count in stable, virologically suppressed patients with a plateaued count, the only
  published figure in suppressed patients (the population the simulator represents); so
  :math:`s_\mathrm{ref} = \sqrt{\log(1 + 0.166^2)}`;
* **level dependence** — ``CV09`` (Hoover et al., JAIDS 1992): the 95% ranges of the true count
  given one measured count of 500 and of 200 (297-841 and 118-337). Their widths on the log
  scale, :math:`\log(\mathrm{high}/\mathrm{low}) / (2 z_{0.975})`, give
  :math:`\beta = \log(s_{500}/s_{200}) / \log(500/200)`, close to 0: the error is multiplicative,
  a constant CV across levels (where a constant SD on the square-root scale, the simulator's
  former model, gives a CV falling as :math:`1/\sqrt{c}`). Hoover's cohort was untreated; only
  the *ratio* of its two widths is used. Gordon does not publish the level of the plateaued
  subgroup: :math:`c_\mathrm{ref}` is Hoover's upper level, and with :math:`|\beta| < 0.01` the
  choice changes :math:`s` by under 2% anywhere between 50 and 1500 cells/mm³.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ..conventions import Z95
from ..reference import published_cv, published_true_ranges

#: Rows of ``cd4_variability.csv`` the model is fitted to.
CV_ROW = "CV11"
LEVEL_ROW = "CV09"


@dataclass(frozen=True)
class CD4ErrorModel:
    """Log-normal CD4 measurement error with a power-law level dependence (see module doc)."""

    log_sd_reference: float  #: SD of log(measured / latent) at ``reference_count``
    reference_count: float  #: cells/mm³
    level_exponent: float  #: beta
    cv: float = float("nan")  #: the published CV the scale reproduces (fraction)

    def log_sd(self, latent_count: np.ndarray) -> np.ndarray:
        """SD of the log error at each latent count (cells/mm³)."""
        level = np.clip(latent_count, 1.0, None) / self.reference_count
        return self.log_sd_reference * level ** self.level_exponent

    def measure(self, rng: np.random.Generator, latent_count: np.ndarray) -> np.ndarray:
        """Measured counts (unrounded, cells/mm³) for the given latent counts."""
        return latent_count * np.exp(self.log_sd(latent_count) * rng.standard_normal(
            latent_count.size))


@cache
def published_error_model(cv_row: str = CV_ROW, level_row: str = LEVEL_ROW) -> CD4ErrorModel:
    """The error model fitted to rows ``cv_row`` (scale) and ``level_row`` (level dependence)."""
    cv = published_cv(cv_row)
    ranges = published_true_ranges(level_row)
    (low_count, (a_lo, a_hi)), (high_count, (b_lo, b_hi)) = sorted(ranges.items())[:2]
    sd_low = np.log(a_hi / a_lo) / (2 * Z95)
    sd_high = np.log(b_hi / b_lo) / (2 * Z95)
    exponent = float(np.log(sd_high / sd_low) / np.log(high_count / low_count))
    return CD4ErrorModel(log_sd_reference=float(np.sqrt(np.log1p(cv ** 2))),
                         reference_count=high_count, level_exponent=exponent, cv=cv)
