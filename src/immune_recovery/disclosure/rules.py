"""The disclosure rules: named parameters with their defaults and sources, the process-wide
setting, and the markers of suppressed values (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..exceptions import ImmuneRecoveryError

#: Default minimum cell size: ACRO ``safe_threshold`` (default.yaml), also DataSHIELD's
#: ``nfilter.tab`` order of magnitude.
DEFAULT_MIN_CELL = 10
#: Default minimum residual degrees of freedom of a published model: ACRO ``safe_dof_threshold``.
DEFAULT_MIN_DOF = 10

#: Markers of suppressed values (explained once per report by :func:`legend`).
SECONDARY = "[s]"
DERIVED = "[d]"
MODEL = "[m]"


class DisclosureError(ImmuneRecoveryError):
    """A table for a cohort report carries patient identifiers or dates."""


@dataclass(frozen=True)
class Rules:
    """The disclosure rules in force (``min_cell`` 0: control off)."""

    min_cell: int = 0
    min_dof: int = DEFAULT_MIN_DOF

    @property
    def on(self) -> bool:
        return self.min_cell > 0

    @property
    def primary(self) -> str:
        """The marker of a count below the minimum, e.g. ``<10``."""
        return f"<{self.min_cell}"

    def as_record(self) -> list[dict]:
        """The rules as the ``disclosure.json`` record states them."""
        return [
            {"rule": "min_cell", "value": self.min_cell, "default": DEFAULT_MIN_CELL,
             "source": "ACRO default.yaml safe_threshold",
             "what": "counts of 1 to min_cell - 1 shown as <min_cell"},
            {"rule": "derived_values", "value": self.min_cell, "default": DEFAULT_MIN_CELL,
             "source": "primary suppression applied to implied counts",
             "what": "proportions, percentages, rates, means and CIs that reveal a count "
                     "below the minimum shown as [d]"},
            {"rule": "secondary", "value": True, "default": True,
             "source": "statistical disclosure control practice; ACRO zeros_are_disclosive",
             "what": "other counts of a row with a suppressed cell, and the next smallest "
                     "cell of a partition with a lone suppressed cell, shown as [s]"},
            {"rule": "min_dof", "value": self.min_dof, "default": DEFAULT_MIN_DOF,
             "source": "ACRO default.yaml safe_dof_threshold",
             "what": "models with fewer residual degrees of freedom withheld ([m])"},
            {"rule": "figures", "value": self.min_cell, "default": DEFAULT_MIN_CELL,
             "source": "ACRO survival_safe_threshold (rounded survival function)",
             "what": "no bar, point or curve step for fewer than min_cell patients"},
            {"rule": "identifiers_dates_paths", "value": True, "default": True,
             "source": "HICDEP PATIENT ids and dates are personal data",
             "what": "no patient id, date from the data or absolute path published"},
        ]


_rules = Rules()


def check_min_cell(k: int) -> int:
    """``k`` if it is a valid minimum cell size: 0 (off) or at least 2."""
    if k != 0 and k < 2:
        raise ValueError(f"minimum cell size must be 0 (off) or at least 2, got {k}")
    return int(k)


def set_min_cell(k: int, min_dof: int = DEFAULT_MIN_DOF) -> None:
    """Turn disclosure control on (``k`` >= 2) or off (0)."""
    global _rules
    _rules = Rules(check_min_cell(k), int(min_dof))


def rules() -> Rules:
    """The rules in force."""
    return _rules


def min_cell() -> int:
    return _rules.min_cell


def below_min_cell(value, k: int):
    """Whether a count is a small cell for minimum cell ``k``: 1 to ``k - 1`` (a count of 0 is
    shown; ``k`` 0: never). Elementwise for arrays and Series (missing counts: False)."""
    if not k:
        return False if np.ndim(value) == 0 else np.zeros(np.shape(value), dtype=bool)
    return (value > 0) & (value < k)


def small(value) -> bool:
    """Whether a count is a small cell under the current setting."""
    return value == value and bool(below_min_cell(float(value), _rules.min_cell))


def lone_partner(hidden: Sequence[bool], sizes: Sequence[float],
                 eligible: Sequence[bool] | None = None) -> int | None:
    """Secondary suppression in a partition of a total: when exactly one part is hidden, the
    index of the smallest other part (of positive size, among ``eligible``) that must be
    hidden with it, so that the hidden part does not follow from the total by subtraction;
    None when nothing more needs hiding."""
    if sum(bool(h) for h in hidden) != 1:
        return None
    eligible = [True] * len(sizes) if eligible is None else eligible
    shown = [i for i, (h, s, e) in enumerate(zip(hidden, sizes, eligible))
             if not h and e and s > 0]
    return min(shown, key=lambda i: sizes[i]) if shown else None


def count_text(value) -> str:
    """A count as a sentence or an annotation shows it: ``"<10"`` for a small cell."""
    return _rules.primary if small(value) else f"{int(value)}"


def legend() -> str:
    """One paragraph that says what each marker means (shown once per report)."""
    k = _rules.min_cell
    return (f"**Disclosure control.** Computed on all patients; published with a minimum "
            f"cell of {k}. `<{k}`: a count of patients, events or rows below {k} (not "
            f"zero). "
            f"`{SECONDARY}`: a count hidden so that a small one cannot be worked out from "
            f"totals. `{DERIVED}`: a proportion, percentage, rate, mean or interval hidden "
            f"because it would reveal a count below {k}. `{MODEL}`: a model's estimates "
            f"withheld (fewer than {_rules.min_dof} residual degrees of freedom). Figures draw "
            f"no bar, point or curve step for fewer than {k} patients; individual patients "
            "are never drawn.")

