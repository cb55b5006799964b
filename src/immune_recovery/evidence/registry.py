"""The registry of evaluators: one per claim, registered by the claim's id (:func:`evaluates`),
and the notes every evaluator gives our own (indirect or simulated) rows."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .decision import ClaimResult
from .sources import ClaimSources

#: Why each kind of our data is not direct evidence.
SIMULATED_NOTE = ("simulated cohort calibrated to the published figures: a test bench, never "
                  "decides")
PRE_HAART_NOTE = ("1990s nucleoside therapy without viral loads: non-response cannot be "
                  "restricted to suppressed patients (indirect)")

Evaluator = Callable[[ClaimSources], ClaimResult]
#: The evaluator of each claim id.
EVALUATORS: dict[str, Evaluator] = {}


def evaluates(claim_id: str) -> Callable[[Evaluator], Evaluator]:
    """Register the decorated function as the evaluator of ``claim_id``."""
    def register(function: Evaluator) -> Evaluator:
        if claim_id in EVALUATORS:
            raise ValueError(f"claim {claim_id!r} has two evaluators")
        EVALUATORS[claim_id] = function
        return function
    return register


def number(value: object) -> float:
    out = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return float(out) if pd.notna(out) else np.nan
