"""Evaluators of the risk-factor and regimen claims pooled on their own scales (age, prior
AIDS, HCV, duration of infection, didanosine with tenofovir, zidovudine), and the common decision on a
question of :mod:`.harmonized`, which the therapy claims use too."""

from __future__ import annotations

from ..formatting import format_ci
from . import harmonized
from .decision import ClaimResult
from .evaluators import HARMONIZATION_SOURCE, add_question, direction_claim
from .questions import PooledQuestion
from .registry import PRE_HAART_NOTE, SIMULATED_NOTE, evaluates
from .rules import decide_pooled, judge
from .sources import ClaimSources


def harmonized_question(src: ClaimSources, question_id: str) -> PooledQuestion:
    """One question of :mod:`.harmonized`, pooled from the claim's declared tables."""
    plan = src.table(HARMONIZATION_SOURCE)
    names = plan.loc[plan["question"] == question_id, "source_table"].unique()
    tables = {name: src.table(f"reference/{name}.csv") for name in names}
    return harmonized.pool_harmonized(question_id, plan, tables)


def decide_harmonized(result: ClaimResult, src: ClaimSources, question_id: str, *,
                      start: str = "high", indirect: str = "", label: str = "pooled"
                      ) -> PooledQuestion:
    """Pool one harmonized question, add its rows and decide the claim on it: the CI against
    no effect (1 for ratios, 0 for differences) on the claimed side. Indirectness is named when
    most pooled estimates come from populations not restricted to suppressed patients."""
    q = harmonized.QUESTIONS[question_id]
    question = harmonized_question(src, question_id)
    result.syntheses[question_id] = question
    scale = "ratio" if q.scale == "log" else "difference"
    add_question(result, question, HARMONIZATION_SOURCE, scale, q.measure, label)
    pooled = question.pooled_rows
    unsuppressed = float(pooled["suppressed_population"].isin(["no", "partial"]).mean()) \
        if len(pooled) else 0.0
    reasons = [indirect] if indirect else []
    off_art = pooled.loc[pooled["suppressed_population"] == harmonized.OFF_ART, "study_id"]
    if len(off_art):
        reasons.append(f"{len(off_art)} of {len(pooled)} pooled trials gave the therapy "
                       f"without ART ({', '.join(off_art)})")
    if unsuppressed > 0.5:
        reasons.append(f"{unsuppressed:.0%} of the pooled estimates come from populations not "
                       "restricted to suppressed patients")
    side = q.judge_kwargs()
    threshold = side[q.claimed]
    decide_pooled(result, question, measure=f"pooled {q.measure}", start=start,
                  threshold_text=(f"{threshold:g} (no effect)" if threshold == q.null else
                                  f"{threshold:g} cells/mm³ (a gain that matters)"),
                  crosses=lambda a, b: judge(a, b, **side) == "uncertain",
                  verdict_of=lambda a, b: judge(a, b, **side), indirect="; ".join(reasons))
    d = result.decision
    if d is not None:
        digits = 2 if q.scale == "log" else 0
        result.reason = (f"pooled {q.measure}: {format_ci(d.estimate, d.ci_low, d.ci_high, digits)}"
                         f" from {d.k} studies (one per study group; rows chosen and turned in "
                         "harmonization.csv)")
    return question


def _ours(result: ClaimResult, src: ClaimSources, ours: dict[str, tuple[str, str]]) -> None:
    """Our analyses of the 1990s trials (indirect) and the simulated cohort for a factor."""
    for report, (term, label) in ours.items():
        table = src.table(f"{report}/odds_ratios.csv")
        role = "simulated" if "synthetic" in report else "indirect"
        for r in table[table["term"] == term].itertuples(index=False):
            result.add(role=role, data=report.removeprefix("risk-factors-"), quantity=label,
                       estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n,
                       source=f"{report}/odds_ratios.csv",
                       note=SIMULATED_NOTE if role == "simulated" else PRE_HAART_NOTE)


#: GRADE's starting certainty: prognostic factors from cohorts start high (Iorio et al., BMJ
#: 2015;350:h870); the effect of an exposure estimated mostly in cohorts starts low.
PROGNOSIS_START, EXPOSURE_START = "high", "low"


@evaluates("predictor_age")
def _predictor_age(src: ClaimSources) -> ClaimResult:
    """Pooled on the comparison every study prints in its own categories, the oldest against
    the youngest (cut-points differ: indirectness); the direction of every row, trends per
    year included, is the sensitivity synthesis and does not decide."""
    result = direction_claim(src, "age", "older age goes with non-response",
                             level_based_only=False, label="older age (direction)",
                             decides=False)
    decide_harmonized(result, src, "age_extremes", start=PROGNOSIS_START,
                      indirect="the oldest and the youngest categories differ between studies; "
                               "odds ratios and inverted recovery hazards share one scale")
    for report, label, role, note in (("risk-factors-actg175", "ACTG 175", "indirect",
                                       PRE_HAART_NOTE),
                                      ("risk-factors-synthetic", "Simulated cohort",
                                       "simulated", SIMULATED_NOTE)):
        table = src.table(f"{report}/odds_ratios.csv")
        for r in table[table["term"] == "age10"].itertuples(index=False):
            result.add(role=role, data=label, quantity="OR of non-response per 10 years",
                       estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, n=r.n,
                       source=f"{report}/odds_ratios.csv", note=note)
    return result


@evaluates("predictor_prior_oi")
def _predictor_prior_oi(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    decide_harmonized(result, src, "prior_aids", start=PROGNOSIS_START,
                      indirect="WHO stage III-IV stands in for prior AIDS in one cohort; odds "
                               "ratios and inverted recovery hazards share one scale")
    _ours(result, src, {"risk-factors-cpcra002": ("prior_aids", "OR, prior AIDS-defining "
                                                                "illness"),
                        "risk-factors-synthetic": ("prior_aids", "OR, prior AIDS/OI")})
    return result


@evaluates("predictor_hcv")
def _predictor_hcv(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    decide_harmonized(result, src, "hcv", start=PROGNOSIS_START,
                      indirect="odds ratios and inverted recovery hazards share one scale")
    gain = harmonized_question(src, "hcv_gain")
    result.syntheses["hcv_gain"] = gain
    add_question(result, gain, HARMONIZATION_SOURCE, "difference",
                  harmonized.QUESTIONS["hcv_gain"].measure, "secondary, does not decide")
    _ours(result, src, {"risk-factors-synthetic": ("hcv", "OR, HCV co-infection")})
    return result


@evaluates("predictor_duration")
def _predictor_duration(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    decide_harmonized(result, src, "duration", start=PROGNOSIS_START,
                      indirect="time from infection to ART stands in for duration of infection")
    _ours(result, src, {"risk-factors-synthetic": ("years_since_diagnosis",
                                                   "OR per year since diagnosis")})
    return result


@evaluates("regimen_ddi_tdf")
def _regimen_ddi_tdf(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    decide_harmonized(result, src, "ddi_tdf", start=EXPOSURE_START)
    _ours(result, src, {"risk-factors-synthetic": ("ddi_tdf", "OR, didanosine + tenofovir")})
    return result


@evaluates("regimen_zdv_tmp_smx")
def _regimen_zdv_tmp_smx(src: ClaimSources) -> ClaimResult:
    result = ClaimResult()
    decide_harmonized(result, src, "zidovudine", start=EXPOSURE_START,
                      indirect="zidovudine alone: no published estimate of its combination "
                               "with TMP/SMX")
    _ours(result, src, {"risk-factors-synthetic": ("zdv", "OR, zidovudine")})
    definition = src.parameter("risk-factors-actg175", "definition_id")
    freq = src.table("frequency-actg175/frequency.csv")
    for r in freq[(freq["definition"] == definition)
                  & freq["stratum"].str.startswith("arm=")].itertuples(index=False):
        result.add(role="indirect", data=f"ACTG 175, {r.stratum.split('=', 1)[1]} arm",
                   quantity=f"non-responders ({definition})", estimate=r.proportion,
                   ci_low=r.ci_low, ci_high=r.ci_high, n=r.n_assessable, scale="proportion",
                   source="frequency-actg175/frequency.csv",
                   note=PRE_HAART_NOTE + "; randomised arms: zidovudine alone did worst, "
                        "zidovudine with didanosine best")
    return result
