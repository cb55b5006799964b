"""Across definitions: the outcome model and the risk-factor model under every definition.

"Does non-response matter?" and "what predicts it?" should not hang on one definition. For
every applicable definition (enough patients in its denominator and enough non-responders;
thresholds are parameters), the same models are fitted:

* **outcome**: the landmark Cox model (end of the definition's assessment window) of
  non-responders against responders of that definition (immunologic non-responders against
  complete responders when a viral-load rule applies; CD4 non-responders against CD4
  responders otherwise), adjusted as the outcome report's model;
* **risk factors**: the logistic model of non-response (:class:`NonResponseModel`).

One row per definition and term, in the one result shape with a leading ``definition``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .classify import Classification, nonresponder_flags
from .cohort import Cohort
from .events import event_dates
from .outcomes import CoxModel, landmark_by_definition
from .plots import forest
from .results import empty_estimates
from .riskfactors import NonResponseModel, model_frame

#: Smallest denominator and smallest number of non-responders (and of events, for the outcome
#: model) for a definition to be modelled: the project's choice (about ten events per
#: parameter for the few terms of these models).
MIN_ASSESSABLE, MIN_EVENTS = 50, 10


def applicable(result: Classification, min_assessable: int = MIN_ASSESSABLE,
               min_events: int = MIN_EVENTS) -> list[str]:
    """Definitions with at least ``min_assessable`` patients in the denominator and
    ``min_events`` non-responders and responders each."""
    out = []
    for def_id in result.results:
        denominator, numerator = nonresponder_flags(result, def_id)
        n, k = int(denominator.sum()), int(numerator.sum())
        if n >= min_assessable and min_events <= k <= n - min_events:
            out.append(def_id)
    return out


def _status(result: Classification, def_id: str) -> tuple[pd.Series, str]:
    """Response status restricted to the two groups compared, and the reference group."""
    denominator, _ = nonresponder_flags(result, def_id)
    reference = ("complete_responder" if result.results[def_id].vl_rule_applied
                 else "cd4_responder")
    return result.groups(def_id).astype(object).where(denominator), reference


def outcome_across_definitions(cohort: Cohort, patients: pd.DataFrame, result: Classification,
                               definitions: list[str], event: str, adjust: list[str],
                               references: dict[str, str] | None = None,
                               min_events: int = MIN_EVENTS) -> pd.DataFrame:
    """Adjusted landmark hazard ratio of non-responders vs responders, per definition (the
    non-responder term only; definitions with fewer than ``min_events`` events, or whose
    model cannot estimate a finite CI, are left out). Columns: ``definition``, the one result shape, ``events``."""
    rows = []
    when = event_dates(cohort, patients, event)  # the same for every definition
    for def_id in definitions:
        status, reference = _status(result, def_id)
        data = landmark_by_definition(cohort, patients, result, def_id, event=event, when=when)
        data["status"] = data["PATIENT"].map(status).to_numpy()
        data = data[data["status"].notna()]
        if data["event"].sum() < min_events or data["status"].nunique() < 2:
            continue
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("ignore")
            summary = CoxModel(["status", *adjust], def_id,
                               {"status": reference, **(references or {})}).fit(data).summary
        row = summary[summary["term"].str.startswith("status[")]
        if np.isfinite(row[["ci_low", "ci_high"]].to_numpy()).all():  # else not estimable
            rows.append(row)
    if not rows:
        return empty_estimates(("definition",), ("events",))
    return pd.concat(rows, ignore_index=True).rename(columns={"model": "definition"})


def risk_factors_across_definitions(result: Classification, patients: pd.DataFrame,
                                    definitions: list[str], covariates: list[str],
                                    references: dict[str, str] | None = None
                                    ) -> pd.DataFrame:
    """Adjusted odds ratios of non-response, per definition and term."""
    rows = []
    for def_id in definitions:
        frame = model_frame(result, def_id, patients)
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("ignore")
            summary = NonResponseModel(covariates, references).fit(frame).summary
        rows.append(summary.assign(definition=def_id))
    if not rows:
        return empty_estimates(("definition",))
    out = pd.concat(rows, ignore_index=True)
    return out[["definition", *[c for c in out.columns if c != "definition"]]]


def plot_across(table: pd.DataFrame, xlabel: str, terms: list[str] | None = None):
    """Forest plot: one row per definition (and term when several)."""
    data = table if terms is None else table[table["term"].isin(terms)]
    several = data["term"].nunique() > 1
    data = data.assign(row_label=data["definition"] + (": " + data["label"] if several else ""))
    return forest(data, "estimate", "ci_low", "ci_high", label="row_label", xlabel=xlabel)
