"""Whether a regression model can be estimated on a cohort's data, and the row that says why
not.

A small site's logistic or Cox model is reported as estimable only when

* it has at least :data:`MIN_EVENTS_PER_PARAMETER` events (the rarer outcome of a logistic
  model) per estimated parameter (Vittinghoff E, McCulloch CE. Relaxing the rule of ten events
  per variable in logistic and Cox regression. Am J Epidemiol 2007;165:710-8: 5-9 events per
  variable give acceptable bias and coverage);
* the fit converged; and
* no coefficient is beyond :data:`SEPARATION_LOG_ESTIMATE` on the log scale nor its standard
  error beyond :data:`SEPARATION_SE` (a ratio past e^10, about 22,000, signals separation: a
  covariate that predicts the outcome perfectly, whose maximum-likelihood estimate is
  infinite).

Otherwise the model's table has one row per term with no estimate and a ``note`` giving the
reason (:func:`immune_recovery.results.not_estimable_table`), instead of a failed report or an
absurd estimate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .disclosure import count_text

MIN_EVENTS_PER_PARAMETER = 5
SEPARATION_LOG_ESTIMATE = 10.0
SEPARATION_SE = 100.0


def too_few_events(events: int, parameters: int, what: str = "events") -> str | None:
    """The reason a model with ``parameters`` cannot be estimated on ``events``, or None."""
    needed = MIN_EVENTS_PER_PARAMETER * max(parameters, 1)
    if events < needed:
        return (f"not estimable: {count_text(events)} {what} for {parameters} parameter(s), "
                f"fewer than {MIN_EVENTS_PER_PARAMETER} per parameter ({needed})")
    return None


def separated(log_estimates: Sequence[float], standard_errors: Sequence[float]
              ) -> str | None:
    """The reason when coefficients show separation (or did not settle), or None."""
    estimate = np.abs(np.asarray(log_estimates, dtype=float))
    se = np.asarray(standard_errors, dtype=float)
    if not (np.isfinite(estimate).all() and np.isfinite(se).all()) \
            or (estimate > SEPARATION_LOG_ESTIMATE).any() or (se > SEPARATION_SE).any():
        return ("not estimable: separation (a covariate predicts the outcome perfectly, so "
                "its ratio is infinite)")
    return None
