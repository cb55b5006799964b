"""Figures under disclosure control: no bar, point or curve step for fewer than the minimum.

* :func:`histogram` draws only the bars of at least ``min_cell`` patients;
* :func:`survival_steps` is a Kaplan-Meier curve that stops where fewer than ``min_cell`` are at
  risk and steps only once at least ``min_cell`` patients have left the risk set since its last
  step (ACRO's rounded survival function, ``survival_safe_threshold``);
* :func:`shown` keeps the rows of a plotted table whose count reaches the minimum and whose
  values survived :func:`~immune_recovery.disclosure.tables.publish`;
* :func:`protect_at_risk` writes the numbers at risk under a Kaplan-Meier plot as ``<10``.

With control off every function draws or returns everything.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .rules import count_text, rules
from .tables import publish

#: A number ending a line of an at-risk label (``<10`` and decimals do not count).
TRAILING_COUNT = re.compile(r"(?<![<\d.])(\d+)(\s*)$")


def histogram(ax, values, bins, **style) -> int:
    """Bars of ``values`` over ``bins`` on ``ax``, leaving out bars of 1 to ``min_cell - 1``;
    returns how many bars were left out."""
    values = np.asarray(values, dtype=float)
    counts, edges = np.histogram(values[np.isfinite(values)], bins=bins)
    k = rules().min_cell
    keep = ~((counts > 0) & (counts < k)) if k else np.ones(len(counts), bool)
    ax.bar(edges[:-1][keep], counts[keep], width=np.diff(edges)[keep], align="edge", **style)
    return int((~keep).sum())


def survival_steps(event_table: pd.DataFrame, survival: pd.Series
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Times and survival of a Kaplan-Meier curve as it may be drawn (lifelines'
    ``event_table`` and ``survival_function_``): with control on, truncated at the last time at
    least ``min_cell`` are at risk, and a step only after ``min_cell`` patients left."""
    times = survival.index.to_numpy(dtype=float)
    values = survival.to_numpy(dtype=float).ravel()
    k = rules().min_cell
    if not k:
        return times, values
    at_risk = event_table["at_risk"].reindex(survival.index).fillna(0).to_numpy()
    removed = event_table["removed"].reindex(survival.index).fillna(0).to_numpy()
    out_t, out_s, left = [times[0]], [values[0]], 0.0
    for t, s, n, r in zip(times[1:], values[1:], at_risk[1:], removed[1:], strict=True):
        if n < k:
            break
        left += r
        if left >= k:
            out_t.append(t)
            out_s.append(s)
            left = 0.0
    return np.asarray(out_t), np.asarray(out_s)


def shown(table: pd.DataFrame, count: str | None = None) -> pd.DataFrame:
    """The rows of ``table`` a figure may draw: numbers where published, ``nan`` where a
    value was suppressed; with ``count``, rows with fewer than ``min_cell`` dropped."""
    if not rules().on:
        return table
    published, _ = publish(table)
    out = table.copy()
    for column in table.columns:
        if pd.api.types.is_numeric_dtype(table[column]):
            out[column] = pd.to_numeric(published[column], errors="coerce")
    if count is not None:
        out = out[table[count] >= rules().min_cell]
    return out


def protect_at_risk(fig, main_ax) -> None:
    """Numbers at risk (the count at the end of each line of the tick labels of every axis
    but ``main_ax``) shown as ``<k`` below the minimum."""
    if not rules().on:
        return
    for axis in fig.axes:
        if axis is main_ax:
            continue
        labels = ["\n".join(TRAILING_COUNT.sub(
            lambda m: count_text(int(m.group(1))) + m.group(2), line)
            for line in label.get_text().split("\n"))
            for label in axis.get_xticklabels()]
        axis.set_xticks(axis.get_xticks(), labels)
