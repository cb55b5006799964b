"""One shape for every table of model estimates, and one results protocol for the models.

Every model and table of estimates in the package returns the columns
:data:`RESULT_COLUMNS` — ``term, label, measure, estimate, ci_low, ci_high, p, n`` — followed
by model-specific extras (e.g. ``model`` and ``events`` for Cox models, ``se`` for mixed
models). ``term`` is the design column (:func:`immune_recovery.covariates.design_matrix`
names a categorical level ``var[level]``), ``label`` how a reader would write it, ``measure``
what ``estimate`` is (:data:`MEASURES`), ``n`` the number of patients the model used. The
table states its residual degrees of freedom (``n`` minus the terms) for disclosure control
(:mod:`immune_recovery.disclosure`).

Every cohort model (:class:`ModelResult`: the logistic model of non-response, the Cox models,
the linear mixed models) gives ``summary``, that table on the reporting scale (OR, HR or the
coefficient), and ``coefficients()``, each term on the model's own scale (log OR, log HR,
slope) with its standard error, CI and p (:data:`COEFFICIENT_COLUMNS`), so that a caller such
as the coverage study never reaches into the fitting library's internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from .disclosure import declare

RESULT_COLUMNS = ["term", "label", "measure", "estimate", "ci_low", "ci_high", "p", "n"]

#: The values of ``measure`` and what they mean.
MEASURES = {
    "OR": "odds ratio (exp of a logistic-regression coefficient)",
    "HR": "hazard ratio (exp of a Cox-model coefficient)",
    "coefficient": "regression coefficient on the model's own scale",
}


def estimates_table(*, term: Sequence[str], label: Sequence[str], measure: str,
                    estimate, ci_low, ci_high, p, n: int, leading: dict | None = None,
                    **extras) -> pd.DataFrame:
    """A table of estimates in the one shape: ``leading`` columns (e.g. the model name)
    first, then :data:`RESULT_COLUMNS`, then ``extras``."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    columns = {**(leading or {}),
               "term": list(term), "label": list(label), "measure": measure,
               "estimate": np.asarray(estimate, dtype=float),
               "ci_low": np.asarray(ci_low, dtype=float),
               "ci_high": np.asarray(ci_high, dtype=float),
               "p": np.asarray(p, dtype=float), "n": n, **extras}
    # residual degrees of freedom, for disclosure control's ACRO rule on models
    return declare(pd.DataFrame(columns), dof=int(n) - len(columns["term"]))


def not_estimable_table(reason: str, **shape) -> pd.DataFrame:
    """The one shape for a model that could not be estimated: one row per term (``shape``:
    the keywords of :func:`estimates_table` but the estimates), no estimate, and the reason
    in ``note`` (see :mod:`immune_recovery.estimable`)."""
    out = estimates_table(estimate=np.nan, ci_low=np.nan, ci_high=np.nan, p=np.nan, **shape)
    out["note"] = reason
    return out


#: Columns of :meth:`ModelResult.coefficients` (indexed by ``term``).
COEFFICIENT_COLUMNS = ["coef", "se", "coef_ci_low", "coef_ci_high", "p"]


class ModelResult(Protocol):
    """The results protocol of the cohort models (see the module docstring)."""

    n_: int

    @property
    def summary(self) -> pd.DataFrame: ...

    def coefficients(self) -> pd.DataFrame: ...


def coefficients_table(term: Sequence[str], coef, se, ci_low, ci_high, p) -> pd.DataFrame:
    """Coefficients on the model's own scale, indexed by ``term``
    (:data:`COEFFICIENT_COLUMNS`)."""
    return pd.DataFrame({"coef": np.asarray(coef, float), "se": np.asarray(se, float),
                         "coef_ci_low": np.asarray(ci_low, float),
                         "coef_ci_high": np.asarray(ci_high, float),
                         "p": np.asarray(p, float)},
                        index=pd.Index(list(term), name="term"))


def empty_estimates(leading: Sequence[str] = (), extras: Sequence[str] = ()) -> pd.DataFrame:
    """An empty table with the one shape's columns."""
    return pd.DataFrame(columns=[*leading, *RESULT_COLUMNS, *extras])
