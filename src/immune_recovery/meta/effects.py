"""Effect sizes on their analysis scale, and the one-estimate-per-study selection.

Proportions are pooled on the logit scale (:func:`logit_proportion`): logit(x / n) with variance
1/x + 1/(n - x); when x = 0 or x = n, 0.5 is added to x and to n - x (the usual continuity
rule, R metafor's ``escalc(add=1/2, to="only0")``). Ratios are pooled on the log scale with the
SE read from their CI (:func:`log_ratio_from_ci`); an estimate printed with a P value but no
CI gets its SE from the P value (:func:`se_from_p`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..conventions import z_quantile

#: Analysis scales and the back-transformation to the reporting scale.
SCALES = {"logit": lambda x: 1 / (1 + np.exp(-x)), "log": np.exp, "identity": lambda x: x}
#: Continuity correction added to events and non-events when a proportion is 0 or 1.
CONTINUITY = 0.5


def logit_proportion(events, n, continuity: float = CONTINUITY
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(logit p, its variance) of ``events / n``; ``continuity`` is added to events and
    non-events where there are 0 or n events (see the module docstring)."""
    events, n = np.asarray(events, float), np.asarray(n, float)
    edge = (events == 0) | (events == n)
    x = np.where(edge, events + continuity, events)
    m = np.where(edge, n - events + continuity, n - events)
    return np.log(x / m), 1 / x + 1 / m


def log_ratio_from_ci(estimate, ci_low, ci_high, level: float = 0.95
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(log ratio, SE) from a ratio and its CI: SE = (ln upper - ln lower) / (2 z)."""
    z = z_quantile(level)
    return (np.log(np.asarray(estimate, float)),
            (np.log(np.asarray(ci_high, float)) - np.log(np.asarray(ci_low, float))) / (2 * z))


def se_from_p(estimate, p) -> np.ndarray:
    """SE of an estimate on its analysis scale (a log ratio, a mean difference) from its
    two-sided P value of a Wald test against 0: SE = |estimate| / z(1 - P/2) (Altman & Bland,
    BMJ 2011;343:d2090). A P printed as a bound ("< 0.001") enters as the bound, which gives the
    largest SE consistent with it (a conservative interval)."""
    z = stats.norm.isf(np.asarray(p, float) / 2)
    return np.abs(np.asarray(estimate, float)) / z


def one_per_study(rows: pd.DataFrame, study: str, order: Sequence[tuple[str, bool]]
                  ) -> pd.Series:
    """True for the one row per study that enters a pooled estimate: the first after sorting
    by ``order`` (``(column, ascending)`` pairs, e.g. closeness to the claim's wording, then
    the longest suppressed follow-up descending); ties left are broken by row order. The
    other rows of a study are shown, never pooled as independent."""
    columns = [c for c, _ in order]
    ranked = rows.assign(_row=np.arange(len(rows))).sort_values(
        [*columns, "_row"], ascending=[*[a for _, a in order], True], kind="stable",
        na_position="last")
    chosen = ranked.drop_duplicates(study, keep="first").index
    return pd.Series(rows.index.isin(chosen), index=rows.index, name="pooled")
