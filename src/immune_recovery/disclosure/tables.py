"""A table as it may be published: primary, derived and secondary suppression.

:func:`publish` takes a finished table (true counts, as the analysis computed it) and returns
the copy a reader may see, with the number of cells each rule suppressed. What a column holds
is read from its name and values (:class:`Layout`), or stated by the function that built the
table (:func:`declare`, kept in ``DataFrame.attrs`` so that ``round`` and ``copy`` keep it).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .rules import DERIVED, MODEL, SECONDARY, DisclosureError, lone_partner, rules

#: Column names that hold counts of patients, rows or events.
COUNT_COLUMN = re.compile(
    r"^(n|k|n_.*|.*_n|patients.*|.*patients|events.*|.*_events|rows.*|.*rows|count.*|.*count|"
    r"crossings|deaths|competing|censored|.*responders|already_above|excluded.*|used|read|flat_slope|"
    r"early_nonresponders|n_start|at_risk|n_at_risk|.*_needed|records|missing|drop_outs|"
    r"no_.*|zero_.*|.*_above_cutoff)$",  # the last three: reasons a patient was not assessable
    re.IGNORECASE)
#: Columns that identify a patient.
IDENTIFIER_COLUMN = re.compile(r"^(patient|patient_id|patients_list|example.*)$", re.IGNORECASE)
#: Numeric columns that are coordinates (axis values), not results: never suppressed.
COORDINATE_COLUMN = re.compile(
    r"^(threshold|month|months|year|years|horizon_years|time|day|days|knot|week|weeks|"
    r"published_.*|reported_.*)$", re.IGNORECASE)
#: Derived columns that are a share of a denominator (proportion or percent scale).
SHARE_COLUMN = re.compile(r"(proportion|percent|pct|share|cumulative_incidence|cuminc|"
                          r"survival|probability)", re.IGNORECASE)
PERCENT_COLUMN = re.compile(r"(percent|pct)", re.IGNORECASE)
#: Denominator columns, most specific first.
DENOMINATORS = ("n_assessable", "n_start", "at_risk", "n_at_risk", "patients_with_slope",
                "n_patients", "patients", "n", "total")
#: A cell that starts with a number: ``12.3``, ``18.2 (17.6-18.9)``, ``169.0 [88.0,275.0]``.
NUMBER_TEXT = re.compile(r"^\s*[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
#: A count with its percentage, as Table 1 writes it: ``5616 (28.1)`` or ``3 (1.2%)``.
COUNT_PERCENT = re.compile(r"^\s*(\d+)\s*\(\s*[\d.]+\s*%?\s*\)\s*$")


@dataclass
class Layout:
    """What each column of a table holds, for disclosure control.

    ``counts``: counts of patients, events or rows; ``count_percent``: text cells ``n (x%)``;
    ``derived``: numbers computed from patients (proportions, rates, means, estimates, CIs);
    ``labels``: everything else (shown as is). ``denominators`` maps a share column to the
    count it is a share of; ``partition`` names the label columns whose values group rows that
    split one total (a stratum's levels, a variable's categories; the part of a label before
    ``=`` is its group, and a row labelled ``overall`` is the total itself); ``dof`` is a
    model's residual degrees of freedom.
    """

    counts: list[str] = field(default_factory=list)
    count_percent: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    denominators: dict[str, str] = field(default_factory=dict)
    partition: list[str] | None = None
    dof: float | None = None

    @classmethod
    def of(cls, df: pd.DataFrame) -> "Layout":
        """The table's declared layout, completed from its columns' names and values."""
        declared = dict(df.attrs.get("disclosure", {}))
        layout = cls(partition=declared.get("partition"), dof=declared.get("dof"))
        forced = {role: set(declared.get(role, ())) for role in
                  ("counts", "count_percent", "derived", "labels")}
        for column in df.columns:
            role = next((r for r, cols in forced.items() if column in cols), None)
            getattr(layout, role or _role(column, df[column])).append(column)
        layout.denominators = {c: d for c, d in declared.get("denominators", {}).items()
                               if c in df and d in df}
        for column in layout.derived:
            if column not in layout.denominators and SHARE_COLUMN.search(str(column)):
                found = next((d for d in DENOMINATORS if d in layout.counts), None)
                if found:
                    layout.denominators[column] = found
        return layout


def declare(df: pd.DataFrame, **layout) -> pd.DataFrame:
    """``df`` with its disclosure layout stated (keys of :class:`Layout`); returns ``df``."""
    df.attrs["disclosure"] = {**df.attrs.get("disclosure", {}), **layout}
    return df


def _role(column, values: pd.Series) -> str:
    name = str(column)
    if pd.api.types.is_bool_dtype(values) or COORDINATE_COLUMN.match(name):
        return "labels"
    numeric = pd.api.types.is_numeric_dtype(values)
    if COUNT_COLUMN.match(name) and _integers(values):
        return "counts"
    if numeric:
        return "derived"
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    if len(text) and text.map(lambda v: bool(COUNT_PERCENT.match(v))).mean() > 0.5:
        return "count_percent"
    if len(text) and text.map(lambda v: bool(NUMBER_TEXT.match(v))).mean() > 0.5 \
            and not _labels_of_bands(text):
        return "derived"
    return "labels"


def _labels_of_bands(text: pd.Series) -> bool:
    """CD4 bands and similar category labels (``200-349``, ``>=350``) are labels."""
    return bool(text.map(lambda v: bool(re.match(r"^[<>]?=?\d+(-\d+)?$", v))).all()) and \
        text.map(lambda v: "-" in v or v[0] in "<>").any()


def _integers(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(numbers)) and bool(np.isfinite(numbers).all()) and \
        bool((numbers == numbers.round()).all()) and bool((numbers >= 0).all())


def refuse_identifiers(df: pd.DataFrame, name: str) -> None:
    """Stop if ``df`` carries a patient identifier or a date column."""
    leaking = [c for c in df.columns
               if IDENTIFIER_COLUMN.match(str(c))
               or pd.api.types.is_datetime64_any_dtype(df[c])]
    for index_name in df.index.names:
        if index_name and IDENTIFIER_COLUMN.match(str(index_name)):
            leaking.append(index_name)
    if leaking:
        raise DisclosureError(f"{name}: columns {', '.join(map(str, leaking))} identify "
                              "patients or hold their dates; a cohort report must not show them")


def number_of(value) -> float:
    """The leading number of a cell (``nan`` if it has none)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    match = NUMBER_TEXT.match(str(value)) if isinstance(value, str) else None
    return float(match.group(0)) if match else np.nan


def count_of(value) -> float:
    """A count cell's count: a number, an integer written as text, or the ``n`` of
    ``n (x%)``; ``nan`` for anything else (a median and its IQR in a Table 1 column)."""
    if isinstance(value, str):
        match = COUNT_PERCENT.match(value) or re.match(r"^\s*(\d+)\s*$", value)
        return float(match.group(1)) if match else np.nan
    return number_of(value)


def _implied_small(share: float, denominator: float, percent: bool, k: int) -> bool:
    """Whether a share of a denominator reveals a count (or its complement) of 1 to k - 1."""
    if not (share == share and denominator == denominator) or denominator <= 0:
        return False
    count = denominator * (share / 100 if percent else share)
    return any(0.5 <= c < k - 0.5 for c in (count, denominator - count))


def disclosive_cells(df: pd.DataFrame, layout: Layout, k: int
                     ) -> list[tuple[int, str, str, str]]:
    """The cells of ``df`` that show a count of 1 to ``k - 1`` (``small_count``) or a share
    that, times its denominator in the same row, gives one or leaves one
    (``implied_count``): ``(row position, column, rule, what)``. Publishing suppresses them
    (:func:`publish`); the output checker reports them in published files."""
    found = []
    for column in layout.counts + layout.count_percent:
        for i, value in enumerate(df[column]):
            count = count_of(value)
            if count == count and 0 < count < k:
                found.append((i, column, "small_count", str(value)))
    for column, denominator in layout.denominators.items():
        shares = df[column].map(number_of)
        percent = bool(PERCENT_COLUMN.search(str(column))) or \
            np.nanmax(np.abs(shares.to_numpy(dtype=float)), initial=0) > 1
        for i, (share, n) in enumerate(zip(shares, df[denominator].map(count_of),
                                           strict=True)):
            if _implied_small(share, n, percent, k):
                found.append((i, column, "implied_count", f"{share:g} of {n:g}"))
    return found


def publish(df: pd.DataFrame, name: str = "table") -> tuple[pd.DataFrame, Counter]:
    """The copy of ``df`` a reader may see, and how many cells each marker replaced
    (``df`` unchanged when control is off; never modified in place)."""
    r = rules()
    if not r.on:
        return df, Counter()
    refuse_identifiers(df, name)
    if not len(df):
        return df.copy(), Counter()
    layout = Layout.of(df)
    k = r.min_cell
    columns = list(df.columns)
    pos = {c: i for i, c in enumerate(columns)}
    count_cols = [pos[c] for c in layout.counts + layout.count_percent]
    derived_cols = [pos[c] for c in layout.derived]
    values = df.to_numpy(dtype=object)
    numbers = np.array([[count_of(v) if j in count_cols else number_of(v)
                         for j, v in enumerate(row)] for row in values], dtype=float)
    status = np.full(values.shape, "", dtype=object)
    for i, column, rule, _ in disclosive_cells(df, layout, k):
        status[i, pos[column]] = "p" if rule == "small_count" else "d"
    if layout.dof is not None and layout.dof < r.min_dof:
        status[:, derived_cols] = "m"
    groups = _partition_groups(df, layout.partition)
    changed = True
    while changed:
        changed = _row_rule(status, numbers, count_cols, derived_cols)
        changed |= _partition_rule(status, numbers, count_cols, groups)
    return _render(df, values, status, r.primary), Counter(
        {marker: int((status == code).sum()) for code, marker in
         (("p", r.primary), ("s", SECONDARY), ("d", DERIVED), ("m", MODEL))
         if (status == code).any()})


def _row_rule(status, numbers, count_cols, derived_cols) -> bool:
    """In a row with a suppressed cell: every derived value, and every count but the row's
    largest (zeros included), hidden."""
    changed = False
    for i in range(status.shape[0]):
        if not any(status[i, j] in ("p", "s", "d") for j in count_cols + derived_cols):
            continue
        for j in derived_cols:
            if status[i, j] == "" and numbers[i, j] == numbers[i, j]:
                status[i, j], changed = "d", True
        open_counts = [j for j in count_cols if status[i, j] == ""
                       and numbers[i, j] == numbers[i, j]]
        if not open_counts:
            continue
        largest = max(numbers[i, j] for j in count_cols if numbers[i, j] == numbers[i, j])
        for j in open_counts:
            if numbers[i, j] < largest:
                status[i, j], changed = "s", True
    return changed


def _partition_rule(status, numbers, count_cols, groups) -> bool:
    """In a group of rows that splits a total, a lone suppressed count takes the smallest
    other non-zero count of its column with it."""
    changed = False
    for rows in groups:
        for j in count_cols:
            partner = lone_partner([status[i, j] in ("p", "s") for i in rows],
                                   [numbers[i, j] for i in rows],
                                   [status[i, j] == "" for i in rows])
            if partner is not None:
                status[rows[partner], j], changed = "s", True
    return changed


def _partition_groups(df: pd.DataFrame, partition: list[str] | None) -> list[list[int]]:
    """Rows grouped by their partition key (a label's part before ``=``); ``overall`` rows
    are totals, not parts."""
    partition = [c for c in partition or [] if c in df]
    if not partition:
        return []
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(df[partition].astype(str).itertuples(index=False)):
        if "overall" not in row:
            groups.setdefault(tuple(v.split("=")[0] for v in row), []).append(i)
    return [rows for rows in groups.values() if len(rows) > 1]


def _render(df: pd.DataFrame, values, status, primary: str) -> pd.DataFrame:
    out = df.copy()
    marker = {"p": primary, "s": SECONDARY, "d": DERIVED, "m": MODEL}
    for j, column in enumerate(df.columns):
        hide = status[:, j] != ""
        if hide.any():
            shown = pd.Series([f"{v:.10g}" if isinstance(v, float) else v
                               for v in values[:, j]], index=df.index, dtype=object)
            shown[hide] = [marker[s] for s in status[hide, j]]
            out[column] = shown
    return out


def protect(df: pd.DataFrame, name: str = "table") -> pd.DataFrame:
    """``df`` as a cohort report may show it (see :func:`publish`)."""
    return publish(df, name)[0]
