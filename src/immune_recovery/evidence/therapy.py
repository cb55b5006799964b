"""Evaluators of the therapy claims: intensification, and IL-2's CD4 and clinical effects."""

from __future__ import annotations

from ..formatting import format_ci
from .decision import ClaimResult, Decision
from .factors import decide_harmonized
from .il2 import IL2_DECIDING_MODEL, randomized_il2_trials
from .registry import evaluates, number
from .rules import MEANINGFUL_HR, certainty, judge
from .sources import ClaimSources

THERAPY_SOURCE = "reference/immune_therapy_trials.csv"
#: GRADE's starting certainty for randomized trials.
TRIALS_START = "high"


@evaluates("intensification")
def _intensification(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    # a claim of no benefit: supported when the CI excludes a gain that matters, contradicted
    # when it excludes no gain (harmonized.MEANINGFUL_CD4_GAIN)
    decide_harmonized(result, src, "intensification", start=TRIALS_START,
                      indirect="small pilot trials of different drugs")
    return result


@evaluates("il2_raises_cd4")
def _il2_raises_cd4(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    decide_harmonized(result, src, "il2_cd4", start=TRIALS_START,
                      indirect="no pooled trial enrolled immunologic non-responders; CD4 "
                               "differences at different times and as areas under the curve "
                               "share one scale")
    effects = src.table("il2-evidence/cd4_effects.csv")
    for r in effects[effects["ci_low"].notna()].itertuples(index=False):
        result.add(role="study", data=r.trial, quantity=f"IL-2 minus control: {r.measure}",
                   estimate=number(r.difference), ci_low=number(r.ci_low),
                   ci_high=number(r.ci_high), scale="difference",
                   source="il2-evidence/cd4_effects.csv",
                   note="CI computed by the il2-evidence report from the older IL-2 table; "
                        "shown, not pooled")
    return result


@evaluates("il2_most_promising")
def _il2_most_promising(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    meta = src.table("il2-evidence/meta_clinical.csv")
    rows = meta[meta["endpoint"] == "opportunistic disease or death (trials on ART)"]
    for r in rows.itertuples(index=False):
        primary = r.model == IL2_DECIDING_MODEL
        result.add(role="pooled" if primary else "study",
                   data=f"ESPRIT + SILCAAT, {r.model} (k = {r.k})",
                   quantity="HR of opportunistic disease or death, IL-2 vs control",
                   estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high,
                   source="il2-evidence/meta_clinical.csv",
                   note=("decides: with two trials tau² cannot be estimated, so the common "
                         "effect is the defensible model" if primary
                         else "sensitivity, does not decide")
                   + f"; I² = {r.i2:.0%}")
    table = src.table(THERAPY_SOURCE)
    trials = randomized_il2_trials(table)
    cochrane = table[table["trial"].str.startswith("Cochrane 2017")
                     & table["clinical_endpoint"].str.contains("mortality|opportunistic",
                                                              na=False)]
    for r in cochrane.itertuples(index=False):
        result.add(role="study", data=r.trial, quantity=f"{r.clinical_endpoint}, IL-2 vs "
                   "control", estimate=number(r.hr), ci_low=number(r.hr_ci_low),
                   ci_high=number(r.hr_ci_high), source=THERAPY_SOURCE,
                   note=f"external comparison: {r.design}, not pooled with its own trials; "
                        f"verification {r.verification}")
    for r in trials[trials["restricted_to_inr"] == "yes"].itertuples(index=False):
        result.add(role="study", data=r.trial, quantity="the randomized IL-2 trial restricted "
                   "to immunologic non-responders", scale="text", source=THERAPY_SOURCE,
                   note=f"{r.design}; clinical endpoint: {r.clinical_endpoint}; CD4 "
                        f"difference as printed: {r.cd4_difference}; verification "
                        f"{r.verification}")
    for r in trials[trials["hr"].notna()].itertuples(index=False):
        result.add(role="study", data=r.trial, quantity=f"HR of {r.clinical_endpoint}",
                   estimate=number(r.hr), ci_low=number(r.hr_ci_low), ci_high=number(r.hr_ci_high),
                   source=THERAPY_SOURCE, note=f"on ART: {r.on_art}; restricted to "
                   f"non-responders: {r.restricted_to_inr}; verification {r.verification}")
    pooled = result.rows("pooled")
    if not pooled:
        result.reason = "no pooled clinical estimate"
        return result
    p = pooled[0]
    result.verdict = judge(p["ci_low"], p["ci_high"], below=1.0, contradicted_above=MEANINGFUL_HR)
    downgrades = ["indirectness: neither trial enrolled immunologic non-responders",
                  "risk of bias: open-label trials; hazard ratios read in a secondary copy (V2)"]
    if p["ci_low"] <= MEANINGFUL_HR and p["ci_high"] >= 1:
        downgrades.append("imprecision: the 95% CI includes both 1 and a meaningful benefit")
    result.downgrades = downgrades
    result.certainty = certainty("high", downgrades)
    result.decision = Decision(
        kind="pooled", measure="pooled HR of opportunistic disease or death",
        estimate=p["estimate"], ci_low=p["ci_low"], ci_high=p["ci_high"],
        k=int(rows.loc[rows["model"] == IL2_DECIDING_MODEL, "k"].iloc[0]),
        studies=int(rows.loc[rows["model"] == IL2_DECIDING_MODEL, "k"].iloc[0]),
        model=IL2_DECIDING_MODEL,
        threshold=f"1, and a meaningful benefit HR ≤ {MEANINGFUL_HR} (ours)",
        rule="supported if the CI lies below 1; contradicted if it excludes a meaningful benefit")
    mortality = cochrane[cochrane["clinical_endpoint"].str.contains("mortality")]
    review = "".join(f" (the Cochrane 2017 review: mortality RR "
                     f"{format_ci(number(r.hr), number(r.hr_ci_low), number(r.hr_ci_high), 2)})"
                     for r in mortality.head(1).itertuples(index=False))
    result.reason = (f"ESPRIT and SILCAAT raised CD4 counts, yet the common-effect HR is "
                     f"{format_ci(p['estimate'], p['ci_low'], p['ci_high'], 2)}{review}; a CD4 "
                     "gain was no surrogate for clinical benefit")
    return result
