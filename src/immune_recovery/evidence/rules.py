"""Verdict and certainty rules, each threshold a named parameter with its source.

**What decides.** Immunologic non-response is defined by virologic suppression on combination
ART, so the direct evidence is the published cohorts (and, for IL-2, the randomized trials).
A verdict rests on one pooled estimate per claim (:mod:`.questions`: one estimate per study,
random effects with REML, HKSJ interval and prediction interval), or, where the studies'
estimates share no scale, on a synthesis by direction of effect with a sign test (SWiM). It
compares that estimate's 95% CI with the claim's decision threshold (:func:`judge`):

* ``supported`` — the CI lies wholly on the claimed side of the threshold (inside a claimed
  range);
* ``contradicted`` — the CI lies wholly on the other side (outside the range);
* ``uncertain`` — the CI crosses the threshold;
* ``insufficient evidence`` — fewer than :data:`MIN_STUDIES` studies can be synthesized.

**Certainty** (GRADE-style, :func:`certainty`): ``high`` to start (prevalence and prognosis
from cohorts, interventions from randomized trials; the effect of an exposure estimated mostly
in cohorts and a direction-of-effect synthesis, which ignores magnitude, start at ``low``), one
level down for each of GRADE's five domains that applies, each with its reasons once: risk of
bias (:func:`risk_of_bias`: studies at high risk by the features the tables carry, weighted),
inconsistency, indirectness, imprecision, and publication or reporting bias
(:func:`publication_bias`; for a direction synthesis, directions read without an estimate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .decision import ClaimResult, Decision
from .questions import STALLED_AFTER_MONTHS, DirectionSynthesis, PooledQuestion

CERTAINTY = ("high", "moderate", "low", "very low")

#: A hazard ratio at or below this is a clinically meaningful benefit: a 25% reduction (ours:
#: the smallest effect in the trial-design report's range; not taken from ESPRIT's design).
MEANINGFUL_HR = 0.75
#: Fewest studies a pooled or direction-of-effect synthesis needs (ours).
MIN_STUDIES = 3
#: I^2 above which inconsistency is downgraded (Cochrane Handbook 10.10.2: 50-90% "may
#: represent substantial heterogeneity").
INCONSISTENCY_I2 = 0.5
#: "Stalled": at least this share of suppressed patients still below 200 cells/mm³ after
#: :data:`STALLED_AFTER_MONTHS` months or more is a share that matters clinically (ours).
MIN_STALLED_SHARE = 0.05
#: Risk of bias is downgraded when studies at high risk carry more than this share of the
#: weight (GRADE: "most information is from studies at high risk of bias", Guyatt et al., J
#: Clin Epidemiol 2011;64:407-415).
HIGH_RISK_WEIGHT = 0.5
#: Egger's test needs at least ten studies (Cochrane Handbook 13.3.5.4) and reads asymmetry
#: at p < 0.10 (Egger et al., BMJ 1997;315:629-634).
MIN_STUDIES_EGGER = 10
EGGER_ALPHA = 0.10
#: A direction-of-effect synthesis is downgraded for reporting bias when more than half of
#: its directions were read without an estimate and CI (abstracts name a factor more often
#: when it is significant).
MAX_DIRECTION_ONLY_SHARE = 0.5
#: ``adjusted`` of a randomized comparison (needs no adjustment).
RANDOMIZED = "randomized"
#: Measurement variability used in the regression-to-the-mean demonstration: the
#: within-subject CV of CD4 counts, cd4_variability.csv row CV01 (Hughes 1994: 25%).
RTM_CV = 0.25

__all__ = ["CERTAINTY", "INCONSISTENCY_I2", "MEANINGFUL_HR", "MIN_STALLED_SHARE", "MIN_STUDIES",
           "RTM_CV", "STALLED_AFTER_MONTHS", "certainty", "decide_direction", "decide_pooled",
           "judge", "pooled_downgrades", "studies_behind"]


def judge(low: float, high: float, *, above: float | None = None, below: float | None = None,
          inside: tuple[float, float] | None = None, contradicted_above: float | None = None
          ) -> str:
    """The verdict of a 95% CI against a claim: ``above`` (the claim: the quantity exceeds it),
    ``below`` (it is less than it) or ``inside`` a range (see the module docstring). A ``below``
    claim of benefit is contradicted only when the CI excludes a meaningful benefit, i.e. lies
    above ``contradicted_above`` (default: ``below`` itself)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "insufficient evidence"
    if above is not None:
        return "supported" if low > above else "contradicted" if high < above else "uncertain"
    if below is not None:
        beyond = below if contradicted_above is None else contradicted_above
        return "supported" if high < below else "contradicted" if low > beyond else "uncertain"
    lo, hi = inside
    if lo <= low and high <= hi:
        return "supported"
    return "contradicted" if high < lo or low > hi else "uncertain"


def certainty(start: str, downgrades: list[str]) -> str:
    """GRADE-style certainty: ``start`` lowered one level per downgrade (floor: very low)."""
    return CERTAINTY[min(CERTAINTY.index(start) + len(downgrades), len(CERTAINTY) - 1)]


def bias_flags(rows: pd.DataFrame) -> pd.Series:
    """Per pooled row, the features the reference tables carry that put its estimate at high
    risk of bias ("" where none): read only in a secondary copy (V2), and an unadjusted
    association from an observational study (``adjusted`` not "yes"; randomized comparisons
    need none)."""
    v2 = rows["verification"] == "V2"
    unadjusted = (~rows["adjusted"].isin(["yes", RANDOMIZED]) if "adjusted" in rows
                  else pd.Series(False, index=rows.index))
    return pd.Series([", ".join(f for f, on in (("secondary copy", a), ("unadjusted", b)) if on)
                      for a, b in zip(v2, unadjusted, strict=True)], index=rows.index)


def risk_of_bias(fit, rows: pd.DataFrame) -> str:
    """The risk-of-bias downgrade's reason, or "": studies at high risk (:func:`bias_flags`)
    carrying more than :data:`HIGH_RISK_WEIGHT` of the random-effects weight."""
    flags = bias_flags(rows)
    weights = dict(zip(fit.studies_["study"], fit.studies_["weight"], strict=True))
    flagged = rows.loc[flags != "", "study_id"]
    share = float(sum(weights.get(s, 0.0) for s in flagged))
    if share <= HIGH_RISK_WEIGHT:
        return ""
    named = "; ".join(f"{s}: {f}" for s, f in zip(rows["study_id"], flags, strict=True) if f)
    return f"studies at high risk carry {share:.0%} of the weight ({named})"


def publication_bias(fit) -> str:
    """The publication-bias downgrade's reason, or "": Egger's regression test at
    p < :data:`EGGER_ALPHA` where at least :data:`MIN_STUDIES_EGGER` studies compare groups
    (not for proportions, whose funnel plots mislead: Hunter et al., J Clin Epidemiol
    2014;67:897-903)."""
    if fit.scale == "logit" or fit.k_ < MIN_STUDIES_EGGER:
        return ""
    test = fit.regtest()
    return (f"Egger's test p = {test['p']:.2g} (funnel asymmetry; k = {fit.k_})"
            if test["p"] < EGGER_ALPHA else "")


def pooled_downgrades(fit, crosses, *, rows: pd.DataFrame, indirect: str = "") -> list[str]:
    """GRADE's five domains for a pooled estimate, each downgrade naming its reason once:
    risk of bias (:func:`risk_of_bias`), inconsistency (I^2, or a prediction interval crossing
    the threshold), indirectness, imprecision (CI crossing the threshold, or fewer than
    MIN_STUDIES studies) and publication bias (:func:`publication_bias`)."""
    p = fit.pooled_frame().iloc[0]
    out = []
    bias = risk_of_bias(fit, rows)
    if bias:
        out.append(f"risk of bias: {bias}")
    if fit.k_ > 1 and (p["i2"] > INCONSISTENCY_I2 or crosses(p["pi_low"], p["pi_high"])):
        why = [f"I² = {p['i2']:.0%}"] if p["i2"] > INCONSISTENCY_I2 else []
        if crosses(p["pi_low"], p["pi_high"]):
            why.append("the 95% prediction interval crosses the decision threshold")
        out.append("inconsistency: " + "; ".join(why))
    if indirect:
        out.append(f"indirectness: {indirect}")
    if crosses(p["ci_low"], p["ci_high"]) or fit.k_ < MIN_STUDIES:
        why = ["the 95% CI crosses the decision threshold"] if crosses(p["ci_low"],
                                                                        p["ci_high"]) else []
        if fit.k_ < MIN_STUDIES:
            why.append(f"only {fit.k_} stud{'y' if fit.k_ == 1 else 'ies'}")
        out.append("imprecision: " + "; ".join(why))
    published = publication_bias(fit)
    if published:
        out.append(f"publication bias: {published}")
    return out


def studies_behind(question: PooledQuestion) -> int:
    """The studies behind a pooled question's study groups: every eligible study in a group
    that was pooled (a collaboration and the cohorts inside it are one group, several
    studies)."""
    rows = question.rows
    groups = rows.loc[rows["pooled"], "pool_group"]
    return int(rows.loc[rows["eligible"] & rows["pool_group"].isin(groups), "study_id"].nunique())


def decide_pooled(result: ClaimResult, question: PooledQuestion, *,
                   threshold_text: str, crosses, verdict_of, start: str = "high",
                   indirect: str = "", measure: str) -> None:
    """Verdict and certainty from a pooled estimate."""
    fit = question.fit
    if fit is None or fit.k_ < MIN_STUDIES:
        k = 0 if fit is None else fit.k_
        result.verdict = "insufficient evidence"
        result.reason = (f"{k} stud{'y' if k == 1 else 'ies'} can be pooled "
                         f"(at least {MIN_STUDIES} needed)")
        return
    p = fit.pooled_frame().iloc[0]
    result.verdict = verdict_of(p["ci_low"], p["ci_high"])
    result.downgrades = pooled_downgrades(fit, crosses, rows=question.pooled_rows,
                                          indirect=indirect)
    result.certainty = certainty(start, result.downgrades)
    result.decision = Decision(kind="pooled", measure=measure, estimate=p["estimate"],
                               ci_low=p["ci_low"], ci_high=p["ci_high"], pi_low=p["pi_low"],
                               pi_high=p["pi_high"], k=int(fit.k_), i2=p["i2"], tau2=p["tau2"],
                               threshold=threshold_text, rule=question.rule,
                               model=str(p["model"]),
                               studies=studies_behind(question))


def decide_direction(result: ClaimResult, ds: DirectionSynthesis, *,
                      threshold_text: str, indirect: str = "", what: str,
                      direction_only_share: float = 0.0) -> None:
    """Verdict and certainty from a direction-of-effect synthesis (claim: more than half of
    the studies point the claimed way)."""
    if ds.k < MIN_STUDIES:
        result.verdict = "insufficient evidence"
        result.reason = (f"{ds.k} stud{'y' if ds.k == 1 else 'ies'} report a direction of "
                         f"effect for {what} (at least {MIN_STUDIES} needed)")
        return
    result.verdict = judge(ds.ci_low, ds.ci_high, above=0.5)
    downgrades = []
    if indirect:
        downgrades.append(f"indirectness: {indirect}")
    if direction_only_share > MAX_DIRECTION_ONLY_SHARE:
        downgrades.append(f"reporting bias: {direction_only_share:.0%} of the directions were "
                          "read without an estimate and CI, mostly from abstracts, which name "
                          "a factor more often when it is significant")
    if ds.ci_low <= 0.5 or ds.p_sign >= 0.05:
        downgrades.append(f"imprecision: {ds.k} studies; sign test p = {ds.p_sign:.2g}"
                          + ("; the 95% CI of the share pointing the claimed way includes "
                             "one half" if ds.ci_low <= 0.5 else ""))
    result.downgrades = downgrades
    result.certainty = certainty("low", downgrades)
    result.decision = Decision(kind="direction of effect", measure=f"share of studies: {what}",
                               estimate=ds.proportion, ci_low=ds.ci_low, ci_high=ds.ci_high,
                               k=ds.k, threshold=threshold_text, studies=ds.k,
                               model="exact sign test (binomial) on the directions, "
                                     "Clopper-Pearson CI",
                               rule=f"{ds.favour} of {ds.k} point the claimed way; sign test "
                                    f"p = {ds.p_sign:.3g}")
