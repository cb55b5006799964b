"""Disclosure control for what a researcher's own cohort publishes.

Statistics are computed on the true counts; this layer acts only on what is *published*: a
table as written to CSV or shown on the page (:func:`publish`), a number in a sentence
(:func:`count_text`), a figure's bars, curves and annotations (:mod:`.figures`). A checker
(:mod:`immune_recovery.reporting.outputcheck`) then reads every published file and fails the
build on a leak.

The rules, each a named parameter of :class:`Rules` with its default and source:

* **minimum cell** ``min_cell`` (default 10, ACRO ``safe_threshold``; ``--min-cell``): a count of
  1 to ``min_cell - 1`` is shown as ``<10`` (primary suppression);
* **values that reveal a count** (proportions, percentages, rates, means, cumulative
  incidences and their CIs): hidden (``[d]``) in a row whose count is suppressed, and wherever
  the value times its denominator, or the denominator minus that, gives 1 to ``min_cell - 1``;
* **secondary suppression** (``[s]``): in a row with a suppressed count every other count but
  the row's largest is hidden, and in a set of rows that partitions a total (the levels of one
  stratum, the categories of a Table 1 variable) a lone suppressed cell takes the next smallest
  with it, so that no suppressed cell follows from totals; a zero beside a suppressed count is
  hidden too (ACRO ``zeros_are_disclosive``);
* **degrees of freedom** ``min_dof`` (default 10, ACRO ``safe_dof_threshold``): a model with
  fewer residual degrees of freedom has its estimates withheld (``[m]``);
* **figures** never draw a bar, point or curve step for fewer than ``min_cell`` patients:
  histogram bars below the minimum are not drawn, curves stop where fewer are at risk and step
  only after at least ``min_cell`` patients left the risk set (ACRO's rounded survival
  function, ``survival_safe_threshold``);
* **identifiers and dates**: a table with a patient identifier or a date column is never
  published; plots of individual patients are not drawn.

ACRO (the output checker of UK trusted research environments, ``acro`` on PyPI) is the source of
the defaults. Its checks run while a table is computed through its own ``crosstab``/``pivot``
and model wrappers; the tables here come from lifelines, statsmodels and the package's own
estimators, so the same rules are applied to the finished tables instead.

Control is off (``min_cell`` 0) for the bundled public trials and the simulated cohorts, on for
``immune-recovery report``. The setting is process-wide (one report per kernel).
"""

from __future__ import annotations

from .rules import (
                    DEFAULT_MIN_CELL,
                    DEFAULT_MIN_DOF,
                    DERIVED,
                    MODEL,
                    SECONDARY,
                    DisclosureError,
                    Rules,
                    below_min_cell,
                    check_min_cell,
                    count_text,
                    legend,
                    lone_partner,
                    min_cell,
                    rules,
                    set_min_cell,
                    small,
)
from .tables import Layout, declare, protect, publish

__all__ = ["DEFAULT_MIN_CELL", "DEFAULT_MIN_DOF", "DERIVED", "DisclosureError", "Layout",
           "MODEL", "Rules", "SECONDARY", "below_min_cell", "check_min_cell", "count_text",
           "declare", "legend", "lone_partner", "min_cell", "protect", "publish", "rules",
           "set_min_cell", "small"]
