"""The answer each report opens with: sentences computed from its own tables, as published
(under disclosure control a hidden value is never written out; the sentence says how many
were withheld). :meth:`~.notebook.Report.summary` shows them under the question."""

from __future__ import annotations

import math

import pandas as pd

from .. import disclosure
from ..conventions import FLAT_SLOPE_PER_YEAR
from ..definitions import readable_name
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
    usable = _visible(shown, ("proportion", "ci_low", "ci_high"))
    withheld = len(rows) - len(usable)
    if not usable:
        return (f"No definition could be judged in {min_assessable} or more patients"
                + (" whose result may be shown" if withheld else "") + ".")
    table = rows.loc[usable].sort_values("proportion")
    low, high = table.iloc[0], table.iloc[-1]
    text = (f"Across the {len(table)} definitions under which at least {min_assessable} "
            f"patients could be judged, non-response ranged from "
            f"{_percent(low)} under {_definition_text(low['definition'])} to "
            f"{_percent(high)} under {_definition_text(high['definition'])} (95% CIs); the "
            f"median over definitions was {100 * table['proportion'].median():.1f}%.")
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
    return (f"Adjusted hazard ratio of {_sentence_case(event_label)} after the "
            f"landmark of {_definition_text(definition)} (95% CI): " + "; ".join(parts) + ".")


def trial_answer(cox: pd.DataFrame, event_label: str) -> str:
    """A data set without response status (no landmark analysis): the hazard ratios of the
    models it has, such as a trial's primary analysis (``outcomes.combine`` table)."""
    shown = _published(cox)
    rows = cox.loc[_visible(shown, ("estimate", "ci_low", "ci_high"))]
    if rows.empty:
        return "No model of the event could be fitted or shown."
    return ("No response status can be formed in this data set, so there is no landmark "
            f"analysis. Hazard ratio of {_sentence_case(event_label)} (95% CI) "
            "in the models it allows: " + "; ".join(
                f"{row['label']}: {format_ci(row['estimate'], row['ci_low'], row['ci_high'])} "
                f"({row['model']})" for _, row in rows.iterrows()) + ".")


def _sentence_case(label: str) -> str:
    """``label`` inside a sentence: its first letter lower-cased unless it starts an acronym
    ("New AIDS event" → "new AIDS event", "AIDS-defining event" unchanged)."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _visible(shown: pd.DataFrame, columns: tuple[str, ...]) -> list:
    """Index labels of the rows whose ``columns`` are all left visible."""
    return [i for i in shown.index if all(_shown(shown.at[i, c]) for c in columns)]


def _definition_text(definition_id: str) -> str:
    name = readable_name(definition_id)
    return f"{name} (`{definition_id}`)" if name else f"`{definition_id}`"


def risk_factor_answer(odds: pd.DataFrame, definition_id: str) -> str:
    """What predicts non-response: the adjusted odds ratios whose 95% CI excludes 1, strongest
    first, and the factors with no clear association (``NonResponseModel.summary``)."""
    shown = _published(odds)
    usable = odds.loc[_visible(shown, ("estimate", "ci_low", "ci_high"))]
    if usable.empty:
        return ("The adjusted model of non-response is withheld by disclosure control or "
                "could not be fitted.")
    clear = usable[(usable["ci_low"] > 1) | (usable["ci_high"] < 1)]
    clear = clear.reindex(clear["estimate"].map(lambda v: -abs(math.log(v))).sort_values()
                          .index)
    n = shown["n"].iloc[0] if "n" in shown and len(shown) else None
    text = (f"Under {_definition_text(definition_id)}"
            + (f", in {n} patients" if n is not None and _shown(n) else "") + ", ")
    if clear.empty:
        text += "no factor's adjusted odds ratio had a 95% CI excluding 1."
    else:
        text += ("non-response was associated with (adjusted OR, 95% CI) " + "; ".join(
            f"{row['label']}: {format_ci(row['estimate'], row['ci_low'], row['ci_high'])}"
            for _, row in clear.iterrows()) + ".")
    rest = usable.drop(clear.index)
    if len(rest):
        text += (" No clear association (CI including 1): "
                 + ", ".join(str(v) for v in rest["label"]) + ".")
    withheld = len(odds) - len(usable)
    if withheld:
        text += f" {withheld} estimates are withheld by disclosure control."
    return text


def trajectory_answer(late: pd.DataFrame, plateau: pd.DataFrame, stalled: pd.DataFrame,
                      definition_id: str, stalled_after_years: float) -> str:
    """Whether late responders exist and where counts plateau: the cumulative incidence of a
    confirmed crossing of each threshold among early non-responders at the last month
    estimated (competing events accounted for), the predicted CD4 by response group, and the
    share whose counts stalled (``lateresponse.late_response``, ``trajectories.predicted_level``
    and ``trajectories.stalled`` tables)."""
    paragraphs = []
    for kind, label in (("confirmed", "a confirmed CD4 count"),
                        ("one count", "a single CD4 count (upper bound)")):
        rows = late[late["method"].astype(str).str.contains(kind, regex=False)]
        # each threshold at the last month estimated: a hidden value is withheld, never
        # replaced by an earlier month's
        last = rows[rows["cumulative_incidence"].notna()].sort_values("month") \
            .groupby("threshold", sort=True).tail(1).sort_values("threshold")
        if len(last):
            paragraphs.append(_late_sentence(last, _published(last), label, definition_id))
            break
        notes = [str(n) for n in rows.get("note", pd.Series(dtype=str)).dropna() if str(n)]
        paragraphs.append(f"The cumulative incidence of {label} above the thresholds could "
                          "not be estimated" + (f" ({notes[0]})." if notes else "."))
    levels = _published(plateau)
    shown_levels = plateau.loc[_visible(levels, ("cd4", "ci_low", "ci_high"))]
    if len(shown_levels):
        paragraphs.append(
            f"Predicted CD4 count at {shown_levels['years'].iloc[0]:g} years on ART by response "
            "group (cells/mm³, 95% CI): " + "; ".join(
                f"{str(row['group']).replace('_', ' ')} "
                f"{format_ci(row['cd4'], row['ci_low'], row['ci_high'], digits=0)}"
                for _, row in shown_levels.iterrows()) + ".")
    flat = _published(stalled)
    if len(flat) and len(_visible(flat, ("proportion", "ci_low", "ci_high"))):
        row = stalled.iloc[0]
        paragraphs.append(
            f"Counts stalled (slope under {FLAT_SLOPE_PER_YEAR:g} cells/mm³ a year after "
            f"{stalled_after_years:g} years) in "
            + format_ci(row["proportion"], row["ci_low"], row["ci_high"], digits=1, percent=True)
            + " of the early non-responders with a slope.")
    return "\n\n".join(paragraphs)


def _late_sentence(last: pd.DataFrame, shown: pd.DataFrame, label: str,
                   definition_id: str) -> str:
    early = shown["early_nonresponders"].iloc[0]
    visible = set(_visible(shown, ("cumulative_incidence",))) & \
        {i for i in shown.index if not any(isinstance(shown.at[i, c], str)
                                           for c in ("ci_low", "ci_high"))}
    return (f"Late response: among {early if _shown(early) else 'the'} early non-responders "
            f"under {_definition_text(definition_id)}, the cumulative incidence of {label} "
            "above each threshold (Aalen-Johansen, competing events accounted for, 95% CI) "
            "was " + "; ".join(
                f"above {row['threshold']:g} by month {row['month']:g}: "
                + (format_ci(row["cumulative_incidence"], row["ci_low"], row["ci_high"],
                             digits=1, percent=True) if i in visible
                   else "withheld by disclosure control")
                for i, row in last.iterrows()) + ".")


def quality_answer(reconciliation: pd.DataFrame, checks: pd.DataFrame) -> str:
    """Whether the export can be analysed as it is: rows read, used, excluded and flagged,
    whether every table reconciles, and the rules that excluded most rows
    (``ledger.reconciliation`` and ``quality.check_table`` tables; a total that a hidden cell
    would reveal is not written)."""
    shown = _published(reconciliation)
    counts = {"rows_read": "read", "rows_used": "used", "rows_excluded": "excluded",
              "rows_flagged": "flagged for review"}
    parts = [f"{int(reconciliation[c].sum())} {label}" if len(_visible(shown, (c,))) ==
             len(shown) else f"{label}: withheld by disclosure control"
             for c, label in counts.items()]
    broken = reconciliation.loc[~reconciliation["reconciles"].astype(bool), "table"].tolist()
    text = (f"Rows of the {len(reconciliation)} tables: " + ", ".join(parts) + ". "
            + ("Every table reconciles (rows read = used + excluded)." if not broken else
               f"Tables that do not reconcile: {', '.join(broken)}."))
    rules = _published(checks[["rule", "description", "severity", "rows"]])
    errors = rules.loc[_visible(rules, ("rows",))]
    errors = errors[errors["severity"] == "error"]
    errors = errors.assign(rows=errors["rows"].astype(float))
    errors = errors[errors["rows"] > 0].sort_values("rows", ascending=False, kind="stable")
    if len(errors):
        text += (" Rules that excluded rows, most first: " + "; ".join(
            f"{row['rule']} ({row['description']}): {int(row['rows'])}"
            for _, row in errors.head(3).iterrows()) + ".")
    return text


def overview_answer(followup: pd.DataFrame) -> str:
    """Who is in the cohort: patients, person-years, median follow-up and events overall
    (``overview.followup_summary`` table)."""
    shown = _published(followup)
    overall = shown[shown["group"].astype(str) == "overall"]
    if overall.empty:
        return "No overall follow-up summary may be shown."
    row = overall.iloc[0]
    parts = [f"{row[c]} {label}" for c, label in (
        ("patients", "patients"), ("person_years", "person-years of follow-up"),
        ("median_followup_months", "months of median follow-up")) if _shown(row[c])]
    # a zero may mean the export does not record the event: only recorded events are named
    events = [f"{row[c]} {label}" for c, label in (("deaths", "deaths"),
                                                   ("aids_events", "AIDS-defining events"),
                                                   ("endpoint_events", "primary-endpoint events"))
              if c in row and _shown(row[c]) and float(row[c]) > 0]
    text = "The cohort holds " + ", ".join(parts) + "."
    if events:
        text += " Events recorded: " + ", ".join(events) + "."
    return text


def il2_answer(meta: pd.DataFrame) -> str:
    """Whether IL-2 helped: the pooled hazard ratio of each clinical endpoint over the
    randomized trials, random effects (REML) with the Hartung-Knapp interval
    (``il2.clinical_summary`` table)."""
    model = meta["model"].astype(str)
    primary = meta[model.str.contains("REML") & model.str.endswith("), HKSJ CI")]
    if primary.empty:
        return "No clinical endpoint of the IL-2 trials could be pooled."
    parts = [f"{row['endpoint']}: {format_ci(row['estimate'], row['ci_low'], row['ci_high'])}"
             f" ({int(row['k'])} trials)" for _, row in primary.iterrows()]
    text = ("Hazard ratio of IL-2 against control (below 1 favours IL-2), pooled over the "
            "randomized trials (random effects, REML, Hartung-Knapp 95% CI): "
            + "; ".join(parts) + ".")
    if (primary["flag"].astype(str) == "few_studies").any():
        text += (" So few trials leave the between-trial variance poorly estimated; the "
                 "Hartung-Knapp interval is wide for that reason.")
    return text


def trial_design_answer(sizes: pd.DataFrame) -> str:
    """How large the next trial must be: patients (and events) needed for each effect of the
    clinical and the CD4 endpoint (``power.sample_size_table``)."""
    parts = []
    for endpoint, rows in sizes.groupby("endpoint", sort=False):
        cells = [f"{row['effect']}: {int(row['patients_needed'])} patients"
                 + (f" ({int(row['events_needed'])} events)"
                    if pd.notna(row["events_needed"]) else "")
                 for _, row in rows.iterrows() if pd.notna(row["patients_needed"])]
        if cells:
            parts.append(f"{endpoint}: " + ", ".join(cells))
    alpha, power = sizes["alpha"].iloc[0], sizes["power"].iloc[0]
    return (f"Patients needed in total (two-sided α {alpha:g}, power {100 * power:g}%) — "
            + "; ".join(parts) + ".")


def in_context_answer(frequency: pd.DataFrame, outcome: pd.DataFrame) -> str:
    """Where the cohort falls among the published cohorts: how many of its frequencies lie
    within, below or above the meta-regression's prediction interval for their definition,
    and its outcome hazard ratio beside the pooled published one
    (``consortium.context.in_context`` tables)."""
    positions = frequency["position"].dropna().astype(str)
    positions = positions[positions.str.contains("prediction interval")]
    counts = positions.value_counts()
    text = (f"Of the {len(positions)} definitions with a published prediction, the cohort's "
            "non-response frequency fell " + ", ".join(
                f"{place} for {counts[place]}" for place in counts.index) + "."
            if len(positions) else "No frequency of the cohort could be set against a "
            "published prediction.")
    needed = ("cohort", "cohort_ci_low", "cohort_ci_high", "published", "published_ci_low",
              "published_ci_high", "published_studies", "position")
    if not set(needed) <= set(outcome.columns):
        return text + " The cohort's outcome hazard ratio could not be set beside the " \
            "published studies."
    shown = _published(outcome)
    rows = outcome.loc[_visible(shown, needed[:3])]
    for _, row in rows.iterrows():
        text += (f" The cohort's {row['estimate of']} was "
                 f"{format_ci(row['cohort'], row['cohort_ci_low'], row['cohort_ci_high'])}, "
                 "against " + format_ci(row["published"], row["published_ci_low"],
                                        row["published_ci_high"])
                 + f" pooled over {int(row['published_studies'])} published studies "
                 f"({row['position']}).")
    return text



def consortium_answer(primary: pd.DataFrame) -> str:
    """What the consortium's cohorts say together: each primary estimate pooled over the
    cohorts' bundles, with its prediction interval (``consortium.present.primary_table``)."""
    shown = _published(primary)
    parts = [f"{row['estimate of']}: {row['pooled (95% CI)']} over {row['cohorts']} cohorts "
             f"(95% prediction interval {row['95% prediction interval']})"
             for _, row in shown.iterrows()
             if _shown(row["cohorts"]) and str(row["pooled (95% CI)"]).strip()]
    if not parts:
        return "No estimate could be pooled over the cohorts' bundles."
    return ("Pooled over the cohorts (random effects, REML, Hartung-Knapp 95% CI): "
            + "; ".join(parts) + ".")
