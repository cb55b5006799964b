"""The answer each report opens with: sentences computed from its own tables, as published
(under disclosure control a hidden value is never written out; the sentence says how many
were withheld). :meth:`~.notebook.Report.summary` shows them under the question."""

from __future__ import annotations

import pandas as pd

from .. import disclosure
from ..formatting import format_ci


def _published(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as it may be shown (disclosure control's markers in hidden cells)."""
    return disclosure.protect(df)


def _shown(value: object) -> bool:
    """A value left visible by disclosure control (a number, not a marker such as ``<10`` or
    ``[d]``, not missing)."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return bool(pd.notna(value))


def frequency_answer(freq: pd.DataFrame, min_assessable: int) -> str:
    """How often non-response occurs and how much it depends on the definition: the range of
    the overall frequency across the definitions under which at least ``min_assessable``
    patients could be judged (``frequency.frequency_table``)."""
    rows = freq[(freq["stratum"] == "overall") & (freq["n_assessable"] >= min_assessable)]
    shown = _published(rows)
    usable = [i for i in shown.index if all(_shown(shown.at[i, c]) for c in
                                           ("proportion", "ci_low", "ci_high"))]
    withheld = len(rows) - len(usable)
    if not usable:
        return (f"No definition could be judged in {min_assessable} or more patients"
                + (" whose result may be shown" if withheld else "") + ".")
    table = rows.loc[usable].sort_values("proportion")
    low, high = table.iloc[0], table.iloc[-1]
    text = (f"Across the {len(table)} definitions under which at least {min_assessable} "
            f"patients could be judged, non-response ranged from "
            f"{_percent(low)} under `{low['definition']}` to {_percent(high)} under "
            f"`{high['definition']}` (95% CIs); the median over definitions was "
            f"{100 * table['proportion'].median():.1f}%.")
    if withheld:
        text += f" {withheld} more definitions are withheld by disclosure control."
    return text


def _percent(row: pd.Series) -> str:
    return format_ci(row["proportion"], row["ci_low"], row["ci_high"], digits=1, percent=True)


def outcome_answer(cox: pd.DataFrame, definition: str, event_label: str) -> str:
    """Whether non-response matters clinically: the adjusted landmark hazard ratio of each
    non-responder group against the reference (``outcomes.combine`` table)."""
    rows = cox[(cox["model"] == "adjusted") & cox["term"].astype(str).str.startswith("status[")]
    if rows.empty:
        return "No adjusted landmark model of response status could be fitted."
    shown = _published(rows)
    parts = []
    for i, row in rows.iterrows():
        if not all(_shown(shown.at[i, c]) for c in ("estimate", "ci_low", "ci_high")):
            continue
        label = str(row["label"]).replace("Response group: ", "").replace("_", " ")
        parts.append(f"{label}: {format_ci(row['estimate'], row['ci_low'], row['ci_high'])}")
    if not parts:
        return ("The adjusted landmark model is withheld by disclosure control (too few "
                "patients or events).")
    return (f"Adjusted hazard ratio of {event_label[:1].lower() + event_label[1:]} after the "
            f"landmark of `{definition}` (95% CI): " + "; ".join(parts) + ".")
