"""Evaluators of the cohort claims (frequency, late response, stalling, outcomes, predictors),
each registered by its claim's id (:func:`~.registry.evaluates`); the therapy claims are in
:mod:`.therapy`.

Each evaluator reads only its claim's declared sources (:class:`~.sources.ClaimSources`),
adds evidence rows (role ``pooled``, ``study``, ``indirect`` or ``simulated``), decides through
the common rules (:mod:`.rules`) and keeps the syntheses it pooled for the report's figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..formatting import format_ci, format_interval
from ..intervals import wilson
from ..lateresponse import method_name
from ..meta import MIN_STUDIES_PREDICTION
from ..riskfactors import OLDHAM
from . import questions
from .decision import ClaimResult, Decision
from .questions import PooledQuestion
from .registry import PRE_HAART_NOTE, SIMULATED_NOTE, evaluates, number
from .rules import (
    MIN_STALLED_SHARE,
    MIN_STUDIES,
    RTM_CV,
    STALLED_AFTER_MONTHS,
    certainty,
    decide_direction,
    decide_pooled,
    judge,
)
from .sources import ClaimSources


def add_question(result: ClaimResult, question: PooledQuestion, source: str,
                  scale: str, quantity: str, label: str = "pooled") -> None:
    """The pooled estimate (HKSJ CI, with the prediction interval in the note), its studies
    with their weights, and the other estimates of those studies."""
    fit = question.fit
    if fit is None:
        return
    p = fit.pooled_frame().iloc[0]
    percent = scale == "proportion"
    pi = (f"95% prediction interval {format_interval(p['pi_low'], p['pi_high'], percent)}"
          if np.isfinite(p["pi_low"]) else
          f"no prediction interval (k < {MIN_STUDIES_PREDICTION})")
    result.add(role="pooled", data=f"{label} (k = {fit.k_})", quantity=quantity,
               estimate=p["estimate"], ci_low=p["ci_low"], ci_high=p["ci_high"], scale=scale,
               source=source, note=f"{p['model']}; I² = {p['i2']:.0%}, τ² = {p['tau2']:.3g}; {pi}")
    weights = dict(zip(fit.studies_["study"], fit.studies_["weight"], strict=True))
    rows = question.rows
    for row in rows[rows["verification"].isin(("V", "V2"))].itertuples(index=False):
        pooled = bool(row.pooled)
        result.add(role="study", data=row.study_id, quantity=getattr(row, "label", quantity),
                   estimate=row.estimate_value, ci_low=row.ci_low_value,
                   ci_high=row.ci_high_value, n=number(getattr(row, "n_analysed", np.nan)),
                   scale=scale, weight=weights.get(row.study_id, np.nan) if pooled else np.nan,
                   source=source, note=("pooled" if pooled else row.fate)
                   + f"; verification {row.verification}")


def _frequency_values(rows: pd.DataFrame) -> pd.DataFrame:
    """Each frequency row's own proportion with its Wilson CI, for display."""
    p, low, high = wilson(rows["events"].fillna(0).to_numpy(),
                          rows["n_analysed"].fillna(0).to_numpy())
    return rows.assign(estimate_value=p, ci_low_value=low, ci_high_value=high,
                       label=[f"{r.cd4_rule} {r.cd4_threshold:g} at month {r.assess_month:g}"
                              if pd.notna(r.cd4_threshold) and pd.notna(r.assess_month)
                              else f"{r.cd4_rule}" for r in rows.itertuples(index=False)])


def _ratio_values(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(estimate_value=rows["estimate"], ci_low_value=rows["ci_low"],
                       ci_high_value=rows["ci_high"],
                       label=rows["outcome"].str.replace("_", " ") + ", "
                       + rows["measure"].fillna("") + np.where(rows["adjusted"] == "yes",
                                                               " (adjusted)", " (crude)"))


def _indirect_frequency(result: ClaimResult, src: ClaimSources, definitions: tuple[str, ...]
                        ) -> None:
    for report, label, role, note in (
            ("frequency-cpcra002", "CPCRA 002", "indirect", PRE_HAART_NOTE),
            ("frequency-synthetic", "Simulated cohort", "simulated", SIMULATED_NOTE)):
        freq = src.table(f"{report}/frequency.csv")
        rows = freq[freq["definition"].isin(definitions) & (freq["stratum"] == "overall")]
        for row in rows.itertuples(index=False):
            result.add(role=role, data=f"{label} ({row.definition})",
                       quantity="non-responders at month 12", estimate=row.proportion,
                       ci_low=row.ci_low, ci_high=row.ci_high, n=row.n_assessable,
                       scale="proportion", source=f"{report}/frequency.csv", note=note)


# ---------------------------------------------------------------------------------------------
# One evidence function per claim
# ---------------------------------------------------------------------------------------------

FREQUENCY_SOURCE = "reference/inr_frequency.csv"
OUTCOMES_SOURCE = "reference/inr_outcomes.csv"
RISK_SOURCE = "reference/inr_risk_factors.csv"
LATE_SOURCE = "reference/late_response.csv"
HARMONIZATION_SOURCE = "reference/harmonization.csv"
#: The rows of late_response.csv whose group was selected on a poor *early response* (the
#: tables' README lists them; the others are baseline strata): a share crossing later, or
#: still below (whose complement is the share crossing).
EARLY_POOR_RESPONDER_ROWS = ("gilson2010_disc8_conc12", "nakanjako2008_so6_still_m12",
                             "nakanjako2008_so6_still_m24", "gilson2010ref16_disc_w48_cross_y2")
@evaluates("frequency_10_20")
def _frequency_10_20(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    table = src.table(FREQUENCY_SOURCE)
    question = questions.pool_frequency(table=table, matched=True)
    question.rows = _frequency_values(question.rows)
    add_question(result, question, FREQUENCY_SOURCE, "proportion",
                  "non-responders, claim-matched: suppressed, 6-12 months, gain or level rule")
    low, high = questions.CLAIM_FREQUENCY_RANGE
    decide_pooled(
        result, question, measure="pooled proportion of non-responders (claim-matched)",
        threshold_text=f"the claimed range {low:.0%}-{high:.0%} (the background's own)",
        crosses=lambda a, b: judge(a, b, inside=(low, high)) == "uncertain",
        verdict_of=lambda a, b: judge(a, b, inside=(low, high)))
    crude = questions.pool_frequency(table=table)
    sensitivity = questions.pool_frequency(suppressed_only=True, table=table)
    result.syntheses.update(frequency=question, frequency_all=crude,
                            frequency_suppressed=sensitivity)
    for label, synthesis in (("every cohort, any definition and month (a cross-definition "
                              "average)", crude),
                             ("suppressed cohorts, any definition and month", sensitivity)):
        s = synthesis.pooled_frame().iloc[0]
        result.add(role="pooled", data=f"{label} (k = {int(s['k'])})",
                   quantity="sensitivity: the estimand widened", estimate=s["estimate"],
                   ci_low=s["ci_low"], ci_high=s["ci_high"], scale="proportion",
                   source=FREQUENCY_SOURCE, note=f"{s['model']}; I² = {s['i2']:.0%}; does not "
                                                 "decide")
    regression, _ = questions.definition_meta_regression(table)
    for r in questions.claim_predictions(regression).itertuples(index=False):
        result.add(role="pooled", data=f"meta-regression prediction: {r.definition}",
                   quantity="predicted proportion at a claim definition (suppressed, outside "
                            "sub-Saharan Africa)", estimate=r.estimate, ci_low=r.ci_low,
                   ci_high=r.ci_high, scale="proportion", source=FREQUENCY_SOURCE,
                   note="Knapp-Hartung CI of the mean prediction; does not decide")
    external = table[table["study_id"].isin(questions.EXTERNAL_FREQUENCY)
                     & table["suppressed_population"].eq("yes")]
    for r in external.itertuples(index=False):
        result.add(role="study", data=r.study_id,
                   quantity=f"{r.cd4_rule} {r.cd4_threshold:g} at month {r.assess_month:g} "
                            "(pooled by another meta-analysis)",
                   estimate=r.pct_inr / 100, n=r.n_analysed, scale="proportion",
                   source=FREQUENCY_SOURCE, note="external comparison, never pooled with its "
                                                 f"own studies; verification {r.verification}")
    every = questions.pool_frequency_multilevel(table)
    c = every.pooled_frame().iloc[0]
    result.add(role="pooled", data=f"every estimate, multilevel (k = {every.k_} estimates of "
                                   f"{every.studies_} studies)",
               quantity="sensitivity: no tie-breaking rule, study/estimate random effects",
               estimate=c["estimate"], ci_low=c["ci_low"], ci_high=c["ci_high"],
               scale="proportion", source=FREQUENCY_SOURCE,
               note=f"{c['model']}; σ² between studies {c['sigma2_study']:.3g}, between "
                    f"definitions within a study {c['sigma2_estimate']:.3g}; does not decide")
    glmm = questions.pool_frequency_glmm(question)
    g = glmm.pooled_frame().iloc[0]
    result.add(role="pooled", data=f"binomial-normal model (k = {glmm.k_})",
               quantity="sensitivity: exact binomial likelihood, no continuity correction",
               estimate=g["estimate"], ci_low=g["ci_low"], ci_high=g["ci_high"],
               scale="proportion", source=FREQUENCY_SOURCE,
               note=f"{g['model']}; τ² = {g['tau2']:.3g}; does not decide")
    _indirect_frequency(result, src, ("seed_gain_le100_m6_12", "seed_level_le200_m6_12"))
    d = result.decision
    if d is not None:
        c = crude.pooled_frame().iloc[0]
        result.reason = (f"claim-matched (suppressed cohorts, 6-12 months, gain or level rule) "
                         f"pooled proportion {format_ci(d.estimate, d.ci_low, d.ci_high, 1, True)}"
                         f" from {d.k} study groups; 95% prediction interval "
                         f"{format_interval(d.pi_low, d.pi_high, True)}. The cross-definition "
                         f"average of every cohort ({format_ci(c['estimate'], c['ci_low'], c['ci_high'], 1, True)}, "
                         f"k = {int(c['k'])}) does not decide; the meta-regression predicts the "
                         "claim's example definitions apart")
    return result


def _late_rows(table: pd.DataFrame) -> list:
    """The last month of each threshold of a late-response table: the confirmed estimate, and
    where it is not estimable the one-count upper bound beside its note."""
    table = table.sort_values(["threshold", "month"], kind="stable")
    last = table[table["month"] == table.groupby("threshold")["month"].transform("max")]
    rows = []
    for _, part in last.groupby("threshold", sort=True):
        confirmed = part[part["method"].str.contains("confirmed")]
        rows += list(confirmed.itertuples(index=False))
        if confirmed["cumulative_incidence"].isna().all():
            rows += list(part[part["method"] == method_name(1)].itertuples(index=False))
    return rows


@evaluates("late_response")
def _late_response(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    for report, label, role, note in (
            ("trajectories-cpcra002", "CPCRA 002", "indirect", PRE_HAART_NOTE),
            ("trajectories-actg175", "ACTG 175", "indirect", PRE_HAART_NOTE),
            ("trajectories-synthetic", "Simulated cohort", "simulated", SIMULATED_NOTE)):
        table = src.table(f"{report}/late_response.csv")
        early = src.parameter(report, "early_definition")
        for row in _late_rows(table):
            upper = row.method == method_name(1)
            result.add(role=role, data=label,
                       quantity=(f"early non-responders ({early}) below {row.threshold:g} at "
                                 f"the assessment crossing CD4 > {row.threshold:g} by month "
                                 f"{row.month:g} ({row.method}; death or the trial "
                                 "endpoint competing)" + ("; an UPPER BOUND: one count above can be "
                                                 "noise" if upper else "")),
                       estimate=row.cumulative_incidence, ci_low=row.ci_low,
                       ci_high=row.ci_high, n=row.n_start, scale="proportion",
                       source=f"{report}/late_response.csv",
                       note=(f"{note}; n = {row.n_start} at risk at the assessment "
                             f"({row.already_above} of {row.early_nonresponders} early "
                             f"non-responders already above, {row.excluded_unconfirmed} not "
                             f"confirmed below; excluded); by then {row.crossings} crossed, "
                             f"{row.competing} had the competing event first, "
                             f"{row.censored} censored" + (f"; {row.note}" if row.note else "")))
    early = src.table(LATE_SOURCE).set_index("estimate_id").loc[list(EARLY_POOR_RESPONDER_ROWS)]
    shares = []
    for row_id, r in early.iterrows():
        crossing = r["measure"] == "proportion_crossing"
        share = r["estimate"] / 100 if crossing else 1 - r["estimate"] / 100
        shares.append(f"{share:.0%} by year {r['years_from_art_start']:g} ({r['study_id']})")
        result.add(role="study", data=r["study_id"],
                   quantity=f"{r['early_definition']}: later {r['later_threshold']}",
                   estimate=share, n=r["n_analysed"], scale="proportion", source=LATE_SOURCE,
                   note=("as printed" if crossing else "complement of the share still below "
                         "(DERIVED)") + "; the group's size is not printed (n is the cohort's), "
                         f"so no CI; verification {r['verification']}")
    result.reason = (f"{early['study_id'].nunique()} published groups of early poor responders "
                     f"report a later crossing ({'; '.join(shares)}), none with the size of the group followed, "
                     "so no CI and no pooled estimate can be formed; our trials are indirect "
                     "(among those confirmed below the threshold at the early assessment, a "
                     "crossing confirmed on two counts, death or the trial's composite "
                     "endpoint competing; where the counts cannot confirm, the one-count "
                     "figure is shown as an upper bound)")
    return result


def _first_estimate(question: PooledQuestion) -> str:
    """The pooled estimate of a question on proportions, formatted (or "none")."""
    if question.fit is None:
        return "none"
    p = question.fit.pooled_frame().iloc[0]
    return format_ci(p["estimate"], p["ci_low"], p["ci_high"], 1, True)


@evaluates("stalled")
def _stalled(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    table, plan = src.table(FREQUENCY_SOURCE), src.table(HARMONIZATION_SOURCE)
    question = questions.pool_stalled(table, plan)
    low = questions.pool_stalled(table, plan, "stalled_low_baseline")
    result.syntheses.update(stalled=question, stalled_low_baseline=low)
    question.rows, low.rows = _frequency_values(question.rows), _frequency_values(low.rows)
    add_question(result, question, FREQUENCY_SOURCE, "proportion",
                  f"still below 200 cells/mm³ after {STALLED_AFTER_MONTHS}+ months suppressed "
                  "(all suppressed patients)")
    add_question(result, low, FREQUENCY_SOURCE, "proportion",
                  f"still below 200 cells/mm³ after {STALLED_AFTER_MONTHS}+ months among "
                  "patients starting at or below 200", "another denominator, does not decide")
    decide_pooled(result, question, measure="pooled proportion still below 200",
                  threshold_text=f"{MIN_STALLED_SHARE:.0%} of patients (ours)",
                  crosses=lambda a, b: a <= MIN_STALLED_SHARE <= b,
                  verdict_of=lambda a, b: judge(a, b, above=MIN_STALLED_SHARE),
                  indirect="a level at one time is not a plateau (no slopes after year 3)")
    for report, label, role, note in (
            ("trajectories-cpcra002", "CPCRA 002", "indirect",
             PRE_HAART_NOTE + "; 18 months of follow-up"),
            ("trajectories-synthetic", "Simulated cohort", "simulated", SIMULATED_NOTE)):
        for row in src.table(f"{report}/stalled.csv").itertuples(index=False):
            result.add(role=role, data=label, quantity="early non-responders with a flat slope",
                       estimate=row.proportion, ci_low=row.ci_low, ci_high=row.ci_high,
                       n=row.patients_with_slope, scale="proportion",
                       source=f"{report}/stalled.csv", note=note)
    d = result.decision
    if d is not None:
        result.reason = (f"pooled {format_ci(d.estimate, d.ci_low, d.ci_high, 1, True)} "
                         f"of all suppressed patients remain below 200 cells/mm³ after three or "
                         f"more years ({d.k} cohorts, one denominator); among patients starting "
                         f"at or below 200 the one study group gives "
                         f"{_first_estimate(low)} (another denominator, shown apart)")
    return result


@evaluates("events_inr_vs_cr")
def _events_inr_vs_cr(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    table = src.table(OUTCOMES_SOURCE)
    question = questions.pool_outcomes(table=table)
    question.rows = _ratio_values(question.rows)
    add_question(result, question, OUTCOMES_SOURCE, "ratio",
                  "AIDS or death, immunologic non-responders vs complete responders")
    decide_pooled(result, question, measure="pooled ratio of AIDS or death",
                  threshold_text="1 (no difference)", crosses=lambda a, b: a <= 1 <= b,
                  verdict_of=lambda a, b: judge(a, b, above=1.0))
    death = questions.pool_outcomes(outcomes=("death",), table=table)
    result.syntheses.update(outcomes=question, death=death)
    d = death.pooled_frame().iloc[0]
    result.add(role="pooled", data=f"death only (k = {int(d['k'])})",
               quantity="sensitivity: death, non-responders vs complete responders",
               estimate=d["estimate"], ci_low=d["ci_low"], ci_high=d["ci_high"],
               source=OUTCOMES_SOURCE, note=f"{d['model']}; I² = {d['i2']:.0%}; does not decide")
    for report, label, term, role, note in (
            ("outcomes-cpcra002", "CPCRA 002", "status[cd4_nonresponder]", "indirect",
             PRE_HAART_NOTE + "; event: death"),
            ("outcomes-actg175", "ACTG 175", "status[cd4_nonresponder]", "indirect",
             ACTG175_ENDPOINT_NOTE + "; averaged over time (see the rows by period)"),
            ("outcomes-synthetic", "Simulated cohort", "status[immunologic_nonresponder]",
             "simulated", SIMULATED_NOTE)):
        cox = src.table(f"{report}/cox.csv")
        for r in cox[(cox["model"] == "adjusted") & (cox["term"] == term)].itertuples(index=False):
            result.add(role=role, data=label, quantity="adjusted HR, non-responders vs responders",
                       estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n,
                       source=f"{report}/cox.csv", note=note + f"; {r.events} events")
    _actg175_periods(result, src)
    d = result.decision
    if d is not None:
        result.reason = (f"pooled ratio {format_ci(d.estimate, d.ci_low, d.ci_high, 2)} "
                         f"from {d.k} cohorts (HR, IRR and OR on one log scale)")
    return result


#: ACTG 175's endpoint includes a decline of CD4 by half, partly non-response by definition.
ACTG175_ENDPOINT_NOTE = (PRE_HAART_NOTE + "; the endpoint includes a CD4 decline of at least "
                         "50% (partly non-response by definition)")


def _actg175_periods(result: ClaimResult, src: ClaimSources) -> None:
    """ACTG 175's hazard ratio by period (the averaged HR hides a falling effect) and the
    difference in restricted mean event-free time, as indirect rows."""
    split = src.table("outcomes-actg175/time_split.csv")
    for r in split[split["term"].str.startswith("status[")].itertuples(index=False):
        result.add(role="indirect", data="ACTG 175, by period", quantity=r.label,
                   estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n,
                   source="outcomes-actg175/time_split.csv",
                   note=ACTG175_ENDPOINT_NOTE + f"; time-split Cox model, {r.events} events")
    rmst = src.table("outcomes-actg175/rmst.csv")
    for r in rmst[rmst["difference_years"].notna()].itertuples(index=False):
        result.add(role="indirect", data="ACTG 175, restricted mean time",
                   quantity=f"{r.group}: difference in event-free years over "
                            f"{r.horizon_years:.1f} years", estimate=r.difference_years,
                   ci_low=r.ci_low, ci_high=r.ci_high, n=r.patients, scale="difference",
                   source="outcomes-actg175/rmst.csv",
                   note=ACTG175_ENDPOINT_NOTE + "; needs no proportional hazards")


@evaluates("events_inr_vs_cnr")
def _events_inr_vs_cnr(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    table = src.table(OUTCOMES_SOURCE)
    cnr = questions.pool_outcomes("CNR vs CR", table=table)
    cnr.rows = _ratio_values(cnr.rows)
    result.syntheses["complete_nonresponders"] = cnr
    add_question(result, cnr, OUTCOMES_SOURCE, "ratio",
                  "AIDS or death, complete non-responders vs complete responders",
                  label="pooled CNR vs CR")
    if cnr.fit is None or cnr.fit.k_ < MIN_STUDIES:
        result.reason = "fewer than three cohorts compare complete non-responders"
        return result
    # the two pools must not share a study group, or the indirect comparison counts it twice
    inr = questions.pool_outcomes("INR vs CR", table=table,
                                  exclude_groups=frozenset(cnr.pooled_rows["pool_group"]))
    a, b = inr.fit.primary, cnr.fit.primary
    diff = float(a["estimate"] - b["estimate"])
    se = float(np.hypot(a["se"], b["se"]))
    df = min(inr.fit.k_, cnr.fit.k_) - 1  # the HKSJ t uncertainty carried (conservative)
    quantile = stats.t.isf(0.025, df)
    low, high = np.exp(diff - quantile * se), np.exp(diff + quantile * se)
    result.add(role="pooled", data="INR vs CNR (indirect comparison)",
               quantity="ratio of the pooled ratios (INR vs CR) / (CNR vs CR)",
               estimate=float(np.exp(diff)), ci_low=low, ci_high=high, source=OUTCOMES_SOURCE,
               note=f"Bucher indirect comparison through the complete responders; SE = "
                    f"sqrt(SE1² + SE2²) of the HKSJ pooled log ratios, t with {df} df (the "
                    f"smaller pool's); the {inr.fit.k_} INR and {cnr.fit.k_} CNR study groups "
                    "do not overlap")
    result.verdict = judge(low, high, below=1.0)
    downgrades = ["indirectness: an indirect comparison across different cohorts"]
    imprecise = (["the 95% CI crosses 1"] if low <= 1 <= high else []) + (
        [f"only {cnr.fit.k_} cohorts compare complete non-responders"]
        if cnr.fit.k_ <= 3 else [])
    if imprecise:
        downgrades.append("imprecision: " + "; ".join(imprecise))
    result.downgrades = downgrades
    result.certainty = certainty("high", downgrades)
    result.decision = Decision(kind="pooled", measure="ratio INR/CNR of AIDS or death",
                               estimate=float(np.exp(diff)), ci_low=low, ci_high=high,
                               k=int(inr.fit.k_ + cnr.fit.k_), threshold="1 (equal rates)",
                               studies=int(inr.pooled_rows["study_id"].nunique()
                                           + cnr.pooled_rows["study_id"].nunique()),
                               model=f"Bucher indirect comparison of two REML-HKSJ pools, t "
                                     f"with {df} df",
                               rule="ratio of two pooled ratios against complete responders, "
                                    "no study group in both")
    result.reason = (f"non-responders' rate relative to complete non-responders "
                     f"{format_ci(np.exp(diff), low, high, 2)}")
    rr = src.table("outcomes-synthetic/rate_ratios.csv")
    for r in rr.itertuples(index=False):
        result.add(role="simulated", data=f"Simulated cohort, {r.group}",
                   quantity=f"rate ratio vs {r.reference}", estimate=r.rate_ratio,
                   ci_low=r.ci_low, ci_high=r.ci_high, source="outcomes-synthetic/rate_ratios.csv",
                   note=SIMULATED_NOTE)
    return result


def _risk_rows(result: ClaimResult, rows: pd.DataFrame,
               family_notes: dict[str, str] | None = None) -> None:
    """Every verified row of a risk factor, with its direction and why it was (not) used."""
    for r in rows[rows["verification"].isin(("V", "V2"))].itertuples(index=False):
        harmonized = ("no direction printed" if pd.isna(r.favours_claim) else
                      "points the claimed way" if r.favours_claim else "points the other way")
        fate = "used in the direction synthesis" if r.used else f"not used: {r.fate}"
        extra = (family_notes or {}).get(r.outcome_family)
        result.add(role="study", data=r.study_id,
                   quantity=f"{r.contrast} ({r.outcome_family} outcome): {harmonized}",
                   estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n_analysed,
                   source=RISK_SOURCE, scale="ratio",
                   note=fate + (f"; {extra}" if extra else "")
                   + f"; {r.measure or 'no measure'} as printed, not harmonized; "
                     f"population suppressed: {r.suppressed_population}; verification "
                     f"{r.verification}")


def direction_claim(src: ClaimSources, factor: str, what: str, level_based_only: bool,
                     family_notes: dict[str, str] | None = None, label: str = "",
                     decides: bool = True) -> ClaimResult:
    """The direction of effect of ``factor`` (one row per study group, sign test); with
    ``decides`` False it is a sensitivity synthesis: shown, and the claim decided elsewhere."""
    result = ClaimResult()
    question = questions.direction_of_effect(factor, level_based_only,
                                             table=src.table(RISK_SOURCE), question=label)
    result.syntheses[factor] = question
    ds, rows = question.synthesis, question.rows
    _risk_rows(result, rows, family_notes)
    partial = rows.loc[rows["used"], "suppressed_population"].eq("partial").mean() \
        if rows["used"].any() else 0.0
    used = rows[rows["used"]]
    if decides:
        decide_direction(result, ds, what=what,
                         threshold_text="half of the studies (a sign test against 1/2)",
                         direction_only_share=float(used["no_ci"].mean()) if len(used) else 0.0,
                         indirect=(f"{partial:.0%} of the studies were only partly suppressed"
                                   if partial > 0.5 else ""))
    if ds.k:
        result.add(role="pooled", data=f"direction of effect (k = {ds.k})"
                                       + ("" if decides else ", does not decide"),
                   quantity=f"share of studies in which {what}", estimate=ds.proportion,
                   ci_low=ds.ci_low, ci_high=ds.ci_high, scale="proportion", source=RISK_SOURCE,
                   note=f"{ds.favour} of {ds.k}; sign test p = {ds.p_sign:.3g}; SWiM "
                        "synthesis without meta-analysis (the estimates share no scale)")
        if decides and result.verdict != "insufficient evidence":
            result.reason = (f"{ds.favour} of {ds.k} studies (one row each) find that {what} "
                             f"(share {format_ci(ds.proportion, ds.ci_low, ds.ci_high, 0, True)}, "
                             f"sign test p = {ds.p_sign:.2g})")
    return result


@evaluates("predictor_low_baseline_cd4")
def _predictor_low_baseline_cd4(src: ClaimSources) -> ClaimResult:
    result = direction_claim(src, "baseline_cd4", "a lower baseline CD4 goes with a lower "
                              "follow-up level (level-based outcomes)", level_based_only=True,
                              family_notes={"gain": "gain-based: biased by regression to the "
                                                    "mean, not used for the verdict"},
                              label="low baseline CD4 (level-based, direction)")
    for report, label, term, role in (("risk-factors-actg175", "ACTG 175", "cd4_per100",
                                       "indirect"),
                                      ("risk-factors-cpcra002", "CPCRA 002", "cd4_per50",
                                       "indirect")):
        table = src.table(f"{report}/odds_ratios.csv")
        for r in table[table["term"] == term].itertuples(index=False):
            result.add(role=role, data=label, quantity=f"gain-based OR per higher baseline "
                       f"({r.label})", estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high,
                       n=r.n, source=f"{report}/odds_ratios.csv",
                       note=PRE_HAART_NOTE + "; a gain regressed on a noisy baseline: see the "
                            "regression-to-the-mean demonstration")
    demo = questions.regression_to_the_mean_demo(RTM_CV)
    result.syntheses["regression_to_the_mean"] = demo
    for r in demo.itertuples(index=False):
        result.add(role="simulated", data=f"no true effect, CV {RTM_CV:.0%}",
                   quantity=f"OR per 100 cells/mm³ higher measured baseline, {r.outcome}",
                   estimate=r.or_per100_higher_baseline, ci_low=r.ci_low, ci_high=r.ci_high,
                   n=r.n, source=RISK_SOURCE,
                   note="simulated with baseline having no effect on the true gain, entry "
                        "200-500 on the measured count: the gain-based OR moves off 1 by "
                        "regression to the mean alone")
    result.reason += (". Gain-based outcomes point the other way because a gain regressed on a "
                      "noisy baseline is biased (regression to the mean): with no true effect "
                      f"and a {RTM_CV:.0%} within-person CV, a simulated ACTG 175-like cohort "
                      "reproduces a gain-based OR well above 1 per 100 cells higher baseline"
                      + _regression_to_the_mean_rows(result, src))
    return result


def _regression_to_the_mean_rows(result: ClaimResult, src: ClaimSources) -> str:
    """Our trials' analyses free of regression to the mean (Oldham's correlation; the
    change-score slope corrected for measurement error) as indirect rows, and a sentence on
    ACTG 175's."""
    sentence = ""
    for report, label in (("risk-factors-actg175", "ACTG 175"),
                          ("risk-factors-cpcra002", "CPCRA 002")):
        table = src.table(f"{report}/regression_to_the_mean.csv")
        wanted = table["analysis"].eq(OLDHAM) | table["analysis"].str.startswith(
            "change-score slope corrected")
        for r in table[wanted].itertuples(index=False):
            result.add(role="indirect", data=label, quantity=r.analysis, estimate=r.estimate,
                       ci_low=r.ci_low, ci_high=r.ci_high, n=r.patients, scale="difference",
                       source=f"{report}/regression_to_the_mean.csv",
                       note=PRE_HAART_NOTE + f"; {r.note}")
        oldham = table[table["analysis"] == OLDHAM]
        if label == "ACTG 175" and len(oldham):
            o = oldham.iloc[0]
            sentence = (f". Free of regression to the mean, ACTG 175's gain still rises with the "
                        f"level (Oldham's r {format_ci(o['estimate'], o['ci_low'], o['ci_high'])}"
                        ", indirect: no viral loads)" if o["ci_low"] > 0 else
                        f". Free of regression to the mean, ACTG 175's Oldham r is "
                        f"{format_ci(o['estimate'], o['ci_low'], o['ci_high'])} (indirect)")
    return sentence
