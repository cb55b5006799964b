"""The pooled questions: evidence synthesis of the published suppressed cohorts
(``data/reference/`` tables).

Each question gathers the study-level rows of one reference table, says for every row whether
it may enter a pooled estimate and why not (the flow of :func:`flow`), keeps **one estimate per
study** by a stated rule (:func:`~immune_recovery.meta.effects.one_per_study`; the others are
shown, never pooled), and pools with the random-effects library
(:class:`~immune_recovery.meta.models.MetaAnalysis`: REML, HKSJ interval, prediction
interval). Where estimates do not share a scale, the synthesis is by direction of effect with a
sign test (SWiM guidance, Campbell et al. BMJ 2020;368:l6890).

Decision thresholds and selection rules are named constants below, each with its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ..meta import (
    BinomialNormalMetaAnalysis,
    MetaAnalysis,
    MetaRegression,
    MultilevelMetaAnalysis,
    log_ratio_from_ci,
    logit_proportion,
    one_per_study,
)
from ..reference import load, poolable, study_groups

#: The background's frequency claim: "10% to 20% of treated patients" fail to gain enough CD4
#: cells "after 6-12 months" of effective HAART (seed text); the range is the claim's own.
CLAIM_FREQUENCY_RANGE = (0.10, 0.20)
CLAIM_MONTHS = (6.0, 12.0)
#: The claim's own examples of "not gaining enough": a gain rule ("> 100 cells/mm3 increase
#: over baseline") or a level rule ("an increase to > 200-300 cells/mm3").
CLAIM_FAMILIES = ("gain", "level")
#: Meta-analyses of other studies whose frequency rows are shown as external comparisons.
EXTERNAL_FREQUENCY = ("wu2022_meta",)
#: The claim's example definitions at which the meta-regression predicts (rule family, CD4
#: threshold, month), in suppressed cohorts outside sub-Saharan Africa.
CLAIM_DEFINITIONS = (("gain", 100.0, 6.0), ("gain", 100.0, 12.0), ("level", 200.0, 6.0),
                     ("level", 200.0, 12.0), ("level", 300.0, 6.0), ("level", 300.0, 12.0))

#: Closeness of a definition to the claim's wording ("fail to gain enough CD4 cells"): a
#: gain-based rule is closest, then level-based and relative rules, then others (ours).
FAMILY_DISTANCE = {"gain": 0.0, "level": 1.0, "relative": 1.0, "other": 2.0}
FAMILIES = {"gain_lt": "gain", "gain_le": "gain", "level_lt": "level", "level_le": "level",
            "never_above": "level", "rel_gain_lt": "relative", "other": "other"}

#: Why a row of a meta-analysis of other studies is not pooled (``study_groups.csv``).
META_ANALYSIS = "a meta-analysis of other studies (an external comparison)"

#: Preference among outcomes for "AIDS or death" (the claim's "new AIDS-defining event or
#: death"): the composite first, then death, then AIDS alone.
OUTCOME_PREFERENCE = ("aids_or_death", "death", "aids")


# ---------------------------------------------------------------------------------------
# Frequency of non-response
# ---------------------------------------------------------------------------------------


def frequency_rows(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """``inr_frequency.csv`` with what the synthesis needs: ``family``, ``events`` (printed
    count, else round(percent x n / 100), marked ``events_derived``), ``proportion``,
    ``distance`` to the claim's wording, ``eligible`` and the ``reason`` when not."""
    t = study_groups(load("inr_frequency") if table is None else table)
    t["family"] = t["cd4_rule"].map(FAMILIES).fillna("other")
    t["events_derived"] = t["n_inr"].isna() & t["pct_inr"].notna() & t["n_analysed"].notna()
    t["events"] = t["n_inr"].where(~t["events_derived"],
                                   np.round(t["pct_inr"] * t["n_analysed"] / 100))
    t["proportion"] = t["events"] / t["n_analysed"]
    low, high = CLAIM_MONTHS
    outside = np.maximum(low - t["assess_month"], 0) + np.maximum(t["assess_month"] - high, 0)
    t["distance"] = outside.fillna(np.inf) + t["family"].map(FAMILY_DISTANCE)
    reason = np.select(
        [~poolable(t), t["meta_analysis"], t["n_analysed"].isna(),
         t["pct_inr"].isna() & t["n_inr"].isna()],
        ["not verified (V/V2)", META_ANALYSIS, "no denominator printed", "no proportion printed"],
        "")
    t["reason"] = reason
    t["eligible"] = t["reason"] == ""
    return t


def pool_groups(rows: pd.DataFrame, candidates: pd.Series) -> pd.Series:
    """Each row's group for one question: its study group, or the collaboration that contains
    its cohort when that collaboration is itself among the question's candidates. So a cohort
    and a collaboration pooling it count once, while two cohorts of one collaboration stay
    apart where the collaboration is not in the question."""
    present = set(rows.loc[candidates, "study_group"])
    inside = rows["contained_in"].isin(present)
    return rows["study_group"].where(~inside, rows["contained_in"])


def mark_pooled(rows: pd.DataFrame, candidates: pd.Series, order: list[tuple[str, bool]],
                left_out: str, column: str = "pooled") -> pd.DataFrame:
    """``rows`` with ``column`` True for the one candidate per study chosen by ``order``
    (:func:`~immune_recovery.meta.effects.one_per_study`) and ``fate``: pooled, another
    estimate of the same study, the row's ineligibility ``reason``, or ``left_out``."""
    rows = rows.copy()
    rows["pool_group"] = pool_groups(rows, candidates)
    chosen = one_per_study(rows[candidates], "pool_group", order)
    rows[column] = False
    rows.loc[chosen.index, column] = chosen
    reason = rows["reason"].where(rows["reason"] != "", left_out) if "reason" in rows else left_out
    rows["fate"] = np.where(rows[column], "pooled" if column == "pooled" else "used",
                            np.where(candidates, "another estimate of the same study", reason))
    return rows


@dataclass
class PooledQuestion:
    """One question's synthesis: every candidate row with its fate, the pooled fit."""

    question: str
    rows: pd.DataFrame
    fit: MetaAnalysis | None
    rule: str
    notes: list[str] = field(default_factory=list)

    @property
    def pooled_rows(self) -> pd.DataFrame:
        return self.rows[self.rows["pooled"]]

    def pooled_frame(self) -> pd.DataFrame:
        """Pooled estimates on the reporting scale with ``question`` and ``k``."""
        if self.fit is None:
            return pd.DataFrame()
        out = self.fit.pooled_frame()
        out.insert(0, "question", self.question)
        return out


@dataclass
class DirectionQuestion:
    """One question synthesized by direction of effect: every candidate row with its fate
    (``used``), and the synthesis."""

    question: str
    rows: pd.DataFrame
    synthesis: "DirectionSynthesis"


def claim_matched(rows: pd.DataFrame) -> pd.Series:
    """Rows that measure what the frequency claim is about: a suppressed population, assessed
    within the claim's 6-12 months, with a gain or level rule (the claim's own examples)."""
    low, high = CLAIM_MONTHS
    return (rows["suppressed_population"] == "yes") & rows["assess_month"].between(low, high) \
        & rows["family"].isin(CLAIM_FAMILIES)


def pool_frequency(suppressed_only: bool = False, table: pd.DataFrame | None = None,
                   matched: bool = False) -> PooledQuestion:
    """Proportion of non-responders, one estimate per study group (closest to the claim's
    wording, then the longest follow-up, then the larger denominator), pooled on the logit
    scale; ``matched`` keeps only the claim-matched rows (:func:`claim_matched`), the
    estimand the verdict is about."""
    rows = frequency_rows(table)
    candidates = rows["eligible"].copy()
    if suppressed_only:
        candidates &= rows["suppressed_population"] == "yes"
    if matched:
        candidates &= claim_matched(rows)
    rows = mark_pooled(rows, candidates, [("distance", True), ("assess_month", False),
                                          ("n_analysed", False)],
                       "outside the claim's population, months or definitions" if matched
                       else "not a suppressed population")
    pooled = rows[rows["pooled"]]
    y, v = logit_proportion(pooled["events"], pooled["n_analysed"])
    fit = MetaAnalysis(scale="logit").fit(y, v=v, labels=pooled["study_id"])
    rule = (("suppressed cohorts assessed at 6-12 months with a gain or level rule; "
             if matched else "")
            + "one estimate per study group (studies sharing patients count once): the "
            "definition closest to the claim's wording (months "
            "outside 6-12, plus 0 for a gain rule, 1 for level or relative rules, 2 for "
            "others), ties broken by the longest follow-up, then the larger denominator")
    label = ("claim-matched" if matched else
             "suppressed cohorts only" if suppressed_only else "all cohorts")
    return PooledQuestion(f"non-response frequency ({label})", rows, fit, rule)


def pool_frequency_multilevel(table: pd.DataFrame | None = None) -> MultilevelMetaAnalysis:
    """Every eligible frequency estimate, several per study, pooled on the logit scale with
    random effects for the study group and for the estimate within it (no tie-breaking
    rule)."""
    rows = frequency_rows(table)
    every = rows[rows["eligible"]]
    y, v = logit_proportion(every["events"], every["n_analysed"])
    return MultilevelMetaAnalysis(scale="logit").fit(y, v, every["study_group"])


def pool_frequency_glmm(question: PooledQuestion) -> BinomialNormalMetaAnalysis:
    """The one-per-study estimates of ``question`` under the binomial-normal model (exact
    binomial likelihood, no continuity correction)."""
    pooled = question.pooled_rows
    return BinomialNormalMetaAnalysis().fit(pooled["events"], pooled["n_analysed"],
                                            labels=pooled["study_id"])


#: "Stalled" below 200 cells/mm³ after this many months of suppression (three years, the
#: long-term cohorts' own horizon, Engsig 2014).
STALLED_AFTER_MONTHS = 36
STALLED_THRESHOLD = 200.0


#: The questions of ``harmonization.csv`` that choose the "stalled" rows by denominator: all
#: suppressed patients (decides), and patients starting at or below 200 (shown apart).
STALLED_QUESTIONS = ("stalled", "stalled_low_baseline")


def pool_stalled(table: pd.DataFrame | None = None, plan: pd.DataFrame | None = None,
                 question: str = "stalled") -> PooledQuestion:
    """Proportion of suppressed patients still below 200 cells/mm³ after
    :data:`STALLED_AFTER_MONTHS` or more months, on **one denominator**: the level-based
    estimates of suppressed cohorts that ``harmonization.csv`` assigns to ``question`` (all
    suppressed patients, or those starting at or below 200), one per study group (the longest
    follow-up), pooled on the logit scale."""
    if question not in STALLED_QUESTIONS:
        raise ValueError(f"question must be one of {STALLED_QUESTIONS}")
    rows = frequency_rows(table)
    plan = load("harmonization") if plan is None else plan
    chosen = plan[plan["question"] == question].set_index("estimate_id")
    role = rows["estimate_id"].map(chosen["role"])
    long_term = rows["eligible"] & (rows["family"] == "level") \
        & (rows["cd4_threshold"] == STALLED_THRESHOLD) \
        & (rows["assess_month"] >= STALLED_AFTER_MONTHS) \
        & (rows["suppressed_population"] == "yes")
    use = long_term & role.eq("pool")
    rows["reason"] = np.select(
        [rows["reason"] != "", ~long_term, ~use],
        [rows["reason"], "not a long-term level-200 estimate in a suppressed cohort",
         rows["estimate_id"].map(chosen["reason"]).fillna(
             "denominator not assigned in harmonization.csv")], "")
    rows["eligible"] = use
    rows = mark_pooled(rows, use, [("assess_month", False), ("n_analysed", False)], "")
    pooled = rows[rows["pooled"]]
    fit = None
    if len(pooled):
        y, v = logit_proportion(pooled["events"], pooled["n_analysed"])
        fit = MetaAnalysis(scale="logit").fit(y, v=v, labels=pooled["study_id"])
    denominator = ("all suppressed patients" if question == "stalled" else
                   "patients starting at or below 200")
    return PooledQuestion(f"stalled below 200 cells/mm³ ({denominator})", rows, fit,
                          f"CD4 below {STALLED_THRESHOLD:g} after {STALLED_AFTER_MONTHS}+ months "
                          f"of suppression, denominator: {denominator} (harmonization.csv); "
                          "the longest follow-up per study group, then the largest")


def definition_meta_regression(table: pd.DataFrame | None = None, with_baseline: bool = False
                               ) -> tuple[MetaRegression, pd.DataFrame]:
    """Logit prevalence on the definition (rule family, threshold, month), the viral-load
    requirement (suppressed population), region (sub-Saharan Africa) and, with
    ``with_baseline``, the median baseline CD4; tau^2 by REML jointly, Knapp-Hartung tests.
    Every eligible estimate enters (definitions vary within studies, which is what the
    question is about); estimates of one study are treated as independent, which overstates
    precision (stated), and a model with no more studies than coefficients is flagged."""
    rows = frequency_rows(table)
    use = rows["eligible"] & rows["family"].isin(["gain", "level", "relative"]) \
        & rows["cd4_threshold"].notna() & rows["assess_month"].notna() \
        & (rows["cd4_threshold"] < 800)
    if with_baseline:
        use &= rows["baseline_cd4_median"].notna()
    data = rows[use].copy()
    X = pd.DataFrame({
        "gain_rule": (data["family"] == "gain").astype(float),
        "relative_rule": (data["family"] == "relative").astype(float),
        "threshold_per100": data["cd4_threshold"] / 100,
        "month_per12": data["assess_month"] / 12,
        "suppressed": (data["suppressed_population"] == "yes").astype(float),
        "africa": (data["region"] == "sub-Saharan Africa").astype(float),
    }, index=data.index)
    if with_baseline:
        X["baseline_cd4_per100"] = data["baseline_cd4_median"] / 100
    X = X.loc[:, X.nunique() > 1]
    y, v = logit_proportion(data["events"], data["n_analysed"])
    fit = MetaRegression(test="knha", scale="logit").fit(y, v, X, studies=data["study_id"])
    data = data.assign(y=y, v=v, weight=fit.weights_ / fit.weights_.sum())
    return fit, data


def claim_predictions(fit: MetaRegression) -> pd.DataFrame:
    """The meta-regression's predicted proportion with its CI at each of the claim's example
    definitions (:data:`CLAIM_DEFINITIONS`), in suppressed cohorts outside sub-Saharan
    Africa."""
    X = pd.DataFrame([{"gain_rule": float(family == "gain"), "relative_rule": 0.0,
                       "threshold_per100": threshold / 100, "month_per12": month / 12,
                       "suppressed": 1.0, "africa": 0.0}
                      for family, threshold, month in CLAIM_DEFINITIONS])
    out = fit.predict_frame(X)
    out.insert(0, "definition", [f"{family} < {threshold:g} at month {month:g}"
                                 for family, threshold, month in CLAIM_DEFINITIONS])
    return out


def meta_regression_table() -> tuple[pd.DataFrame, dict[str, tuple[MetaRegression,
                                                                     pd.DataFrame]]]:
    """Both meta-regressions (without and with the median baseline CD4) as one coefficient
    table (Knapp-Hartung t tests) with each model's estimates k and studies, residual tau^2
    with its Q-profile CI, null tau^2, share explained and ``flag`` (``not identified`` when
    there are no more studies than coefficients); and the fits."""
    fits = {"definition, suppression, region": definition_meta_regression(),
            "... and median baseline CD4": definition_meta_regression(with_baseline=True)}
    table = pd.concat([fit.coefficients.assign(
        model=name, k=len(data), studies=data["study_id"].nunique(), tau2=fit.tau2_,
        tau2_ci_low=fit.tau2_ci_[0], tau2_ci_high=fit.tau2_ci_[1], tau2_null=fit.tau2_null_,
        r2=fit.r2_, flag=fit.flag_) for name, (fit, data) in fits.items()], ignore_index=True)
    return table, fits


# ---------------------------------------------------------------------------------------
# Outcomes: non-responders against complete responders
# ---------------------------------------------------------------------------------------


def outcome_rows(comparison: str = "INR vs CR", table: pd.DataFrame | None = None
                 ) -> pd.DataFrame:
    """``inr_outcomes.csv`` rows of one comparison with ``log_ratio`` and ``se`` from the CI,
    ``eligible`` and ``reason``."""
    t = study_groups(load("inr_outcomes") if table is None else table)
    t = t[t["comparison"] == comparison].copy()
    has_ci = t["estimate"].notna() & t["ci_low"].notna() & t["ci_high"].notna()
    consistent = has_ci & (t["ci_low"] <= t["estimate"]) & (t["estimate"] <= t["ci_high"])
    t["reason"] = np.select(
        [~poolable(t), t["meta_analysis"], t["estimate"].isna(), ~has_ci,
         ~consistent, ~t["outcome"].isin(OUTCOME_PREFERENCE)],
        ["not verified (V/V2)", META_ANALYSIS, "no estimate printed",
         "no confidence interval printed", "CI does not contain the estimate (misprint)",
         "outcome is not AIDS or death"], "")
    t["eligible"] = t["reason"] == ""
    t["log_ratio"] = t["se"] = np.nan
    e = t["eligible"]
    t.loc[e, "log_ratio"], t.loc[e, "se"] = log_ratio_from_ci(
        t.loc[e, "estimate"], t.loc[e, "ci_low"], t.loc[e, "ci_high"])
    t["outcome_rank"] = t["outcome"].map({o: i for i, o in enumerate(OUTCOME_PREFERENCE)})
    t["unadjusted"] = (t["adjusted"] != "yes").astype(int)
    t["not_hr"] = (t["measure"] != "HR").astype(int)
    return t


def pool_outcomes(comparison: str = "INR vs CR", outcomes: tuple[str, ...] = OUTCOME_PREFERENCE,
                  table: pd.DataFrame | None = None,
                  exclude_groups: frozenset[str] = frozenset()) -> PooledQuestion:
    """Ratio of AIDS or death (HR, IRR, OR on the log scale), one estimate per study group: the
    preferred outcome (:data:`OUTCOME_PREFERENCE`), then adjusted, then a hazard ratio; study
    groups in ``exclude_groups`` are left out (the other pool of an indirect comparison)."""
    rows = outcome_rows(comparison, table)
    excluded = rows["study_group"].isin(exclude_groups) | rows["contained_in"].isin(
        exclude_groups)
    rows["reason"] = rows["reason"].where(~(excluded & rows["eligible"]),
                                          "in the other pool of an indirect comparison")
    rows["eligible"] &= ~excluded
    candidates = rows["eligible"] & rows["outcome"].isin(outcomes)
    rows = mark_pooled(rows, candidates,
                       [("outcome_rank", True), ("unadjusted", True), ("not_hr", True)],
                       "outcome not in this question")
    pooled = rows[rows["pooled"]]
    fit = MetaAnalysis(scale="log").fit(pooled["log_ratio"], se=pooled["se"],
                                        labels=pooled["study_id"]) if len(pooled) else None
    rule = ("one estimate per study group (studies sharing patients count once): "
            + " > ".join(outcomes) + ", adjusted before crude, "
            "hazard ratios before other ratios; HR, IRR and OR pooled on one log scale")
    name = "AIDS or death" if outcomes == OUTCOME_PREFERENCE else \
        ", ".join(o.replace("_", " ") for o in outcomes)
    return PooledQuestion(f"{comparison}: {name}", rows, fit, rule)


# ---------------------------------------------------------------------------------------
# Risk factors: direction of effect, harmonized
# ---------------------------------------------------------------------------------------

#: Outcome families of the risk-factor rows, read from the start of ``outcome_definition``.
OUTCOME_FAMILY_PREFIX = {"GAIN-based": "gain", "LEVEL-based": "level", "INVERSE": "recovery"}


def risk_factor_rows(factor: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of ``inr_risk_factors.csv`` for ``factor`` with the outcome family (gain / level /
    recovery = the hazard of reaching a level, inverted; other) and the harmonized direction:
    ``favours_claim`` is True when the row says the claimed exposure (lower baseline CD4,
    older age...) goes with non-response (the table's ``direction`` column)."""
    t = study_groups(load("inr_risk_factors") if table is None else table)
    t = t[t["factor"] == factor].copy()
    definition = t["outcome_definition"].fillna("")
    t["outcome_family"] = "other"
    for prefix, family in OUTCOME_FAMILY_PREFIX.items():
        t.loc[definition.str.startswith(prefix), "outcome_family"] = family
    t["level_based"] = t["outcome_family"].isin(["level", "recovery"])
    t["favours_claim"] = t["direction"].map({"yes": True, "no": False})
    t["reason"] = np.select([~poolable(t), t["meta_analysis"], t["favours_claim"].isna()],
                            ["not verified (V/V2)", META_ANALYSIS, "no direction printed"], "")
    t["eligible"] = t["reason"] == ""
    return t


@dataclass
class DirectionSynthesis:
    """Synthesis without meta-analysis by direction of effect: studies (one per study group)
    whose estimate points the claimed way, the proportion with its exact (Clopper-Pearson) 95%
    CI, and the two-sided exact sign (binomial) test against 1/2, so that the interval and the
    test agree (the Wilson interval excluded 1/2 at 4 of 4 where the test gives p = 0.125)."""

    k: int
    favour: int
    proportion: float
    ci_low: float
    ci_high: float
    p_sign: float

    @classmethod
    def of(cls, favours: pd.Series) -> DirectionSynthesis:
        k, favour = int(favours.size), int(favours.sum())
        if k == 0:
            return cls(0, 0, np.nan, np.nan, np.nan, np.nan)
        test = stats.binomtest(favour, k, 0.5)
        ci = test.proportion_ci(method="exact")
        return cls(k, favour, favour / k, float(ci.low), float(ci.high), float(test.pvalue))

    def as_row(self, question: str) -> dict:
        return {"question": question, "k": self.k, "favour_claim": self.favour,
                "proportion": self.proportion, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "p_sign_test": self.p_sign}


def direction_of_effect(factor: str, level_based_only: bool,
                        populations: tuple[str, ...] = ("yes", "partial"),
                        table: pd.DataFrame | None = None, question: str = ""
                        ) -> DirectionQuestion:
    """One row per study (level-based outcomes first, then suppressed populations, then
    estimates with a CI) among the rows with a direction in the given populations (and with a
    level-based outcome, with ``level_based_only``); their directions synthesized. ``eligible``
    and ``reason`` are set for this question; ``question`` names it (default: the factor)."""
    rows = risk_factor_rows(factor, table)
    in_population = rows["suppressed_population"].isin(populations)
    level = rows["level_based"] | (not level_based_only)
    use = rows["eligible"] & in_population & level
    rows["reason"] = np.select(
        [rows["reason"] != "", ~in_population, ~level],
        [rows["reason"], "population not (partly) suppressed", "outcome not level-based"], "")
    rows["eligible"] = use
    rows["not_level"] = (~rows["level_based"]).astype(int)
    rows["not_suppressed"] = (rows["suppressed_population"] != "yes").astype(int)
    rows["no_ci"] = rows["ci_low"].isna().astype(int)
    rows = mark_pooled(rows, use, [("not_level", True), ("not_suppressed", True),
                                   ("no_ci", True)], "outside the population", column="used")
    synthesis = DirectionSynthesis.of(rows.loc[rows["used"], "favours_claim"].astype(bool))
    return DirectionQuestion(question or f"{factor} (direction)", rows, synthesis)


def harmonized_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a ratio and its CI, turned so that a ratio above 1 means the claimed
    direction (lower baseline CD4 / older age -> non-response): a row is inverted when its
    printed ratio points the other way from its stated direction (recovery outcomes, "higher
    vs lower" contrasts). ``scale`` is the contrast as printed: rows on different contrasts
    cannot be pooled with each other."""
    out = rows[rows["eligible"] & rows["estimate"].notna()].copy()
    flip = (out["estimate"] > 1) != out["favours_claim"].astype(bool)
    est, low, high = out["estimate"], out["ci_low"], out["ci_high"]
    out["harmonized"] = np.where(flip, 1 / est, est)
    out["harmonized_low"] = np.where(flip, 1 / high, low)
    out["harmonized_high"] = np.where(flip, 1 / low, high)
    out["inverted"] = flip
    out["scale"] = out["measure"].fillna("?") + ": " + out["contrast"].fillna("")
    return out


def shared_scales(harmonized: pd.DataFrame, min_studies: int = 3) -> pd.DataFrame:
    """Contrast scales on which at least ``min_studies`` studies report a ratio with a CI
    (the only ones that could be pooled); each with its number of studies."""
    with_ci = harmonized[harmonized["harmonized_low"].notna()]
    counts = with_ci.groupby("scale")["study_id"].nunique().rename("studies").reset_index()
    counts["poolable"] = counts["studies"] >= min_studies
    return counts


def harmonized_factors(factors: tuple[str, ...] = ("baseline_cd4", "age")
                       ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Harmonized ratios per factor, and the contrast scales of all of them in one table."""
    harmonized = {f: harmonized_ratios(risk_factor_rows(f)) for f in factors}
    scales = pd.concat([shared_scales(h).assign(factor=f) for f, h in harmonized.items()],
                       ignore_index=True)
    return harmonized, scales


# ---------------------------------------------------------------------------------------
# Regression to the mean: a gain regressed on a noisy baseline
# ---------------------------------------------------------------------------------------


def regression_to_the_mean_demo(cv: float, n: int = 20_000, seed: int = 1,
                                entry: tuple[float, float] = (200.0, 500.0),
                                gain_threshold: float = 50.0) -> pd.DataFrame:
    """A simulated cohort in which baseline CD4 has **no** effect on the true gain, with
    within-person measurement error of coefficient of variation ``cv`` (multiplicative,
    log-normal), enrolled on a measured baseline inside ``entry`` (ACTG 175's 200-500 rule).

    Returns the odds ratios per 100 cells/mm³ higher measured baseline of a gain-based outcome
    (measured gain < ``gain_threshold``) and of a level-based one (measured follow-up count
    below the median), with Wald 95% CIs: the gain-based OR moves away from 1 although the
    truth is 1 (regression to the mean); the level-based one reflects the true level.
    """
    rng = np.random.default_rng(seed)
    true_base = rng.lognormal(np.log(330), 0.35, n)
    true_gain = rng.normal(60, 90, n)  # independent of the true baseline
    sigma = np.sqrt(np.log(1 + cv ** 2))

    def measure(x):
        return x * rng.lognormal(-sigma ** 2 / 2, sigma, x.size)

    base = measure(true_base)
    follow = measure(np.maximum(true_base + true_gain, 1))
    keep = (base >= entry[0]) & (base <= entry[1])
    x = sm.add_constant(base[keep] / 100)
    rows = []
    for outcome, y in (("gain-based: measured gain < %g" % gain_threshold,
                        (follow - base)[keep] < gain_threshold),
                       ("level-based: follow-up count below its median",
                        follow[keep] < np.median(follow[keep]))):
        fit = sm.Logit(y.astype(float), x).fit(disp=False)
        low, high = np.exp(fit.conf_int()[1])
        rows.append({"outcome": outcome, "cv": cv, "n": int(keep.sum()),
                     "or_per100_higher_baseline": float(np.exp(fit.params[1])),
                     "ci_low": float(low), "ci_high": float(high)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# Flow and figures
# ---------------------------------------------------------------------------------------


def flow(rows: pd.DataFrame, question: str) -> pd.DataFrame:
    """PRISMA-style flow of one question: rows in the table, verified, eligible for the
    question, pooled (with the studies they come from)."""
    verified = poolable(rows)
    eligible = rows["eligible"]
    pooled = rows.get("pooled", rows.get("used", pd.Series(False, index=rows.index)))
    used = pooled.astype(bool)
    steps = [("rows of the reference table on this question", rows),
             ("verified (V or V2)", rows[verified]),
             ("eligible for this question", rows[eligible]),
             ("pooled (one per study group)", rows[used])]
    group = "pool_group" if "pool_group" in rows else "study_group"
    out = pd.DataFrame([(step, len(r), r["study_id"].nunique(), r[group].nunique())
                        for step, r in steps], columns=["step", "rows", "studies", "study_groups"])
    out.insert(0, "question", question)
    return out


def flows(questions: list[PooledQuestion | DirectionQuestion]) -> pd.DataFrame:
    """The flow (:func:`flow`) of each question, in the order given."""
    return pd.concat([flow(q.rows, q.question) for q in questions], ignore_index=True)
