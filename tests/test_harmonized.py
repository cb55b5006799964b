"""The risk factors, regimens and therapies pooled on their own scales: the curated
harmonization table checked against the reference tables, the SE from a P value, the turning
of rows, and the verdicts they give (issue 31)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from immune_recovery import reference
from immune_recovery.evidence import harmonized, questions, rules
from immune_recovery.meta import MetaAnalysis, se_from_p

SOURCE_TABLES = ("inr_frequency", "inr_risk_factors", "inr_risk_factors_linear",
                 "immune_therapy_trials")


@pytest.fixture(scope="module")
def plan() -> pd.DataFrame:
    return reference.load("harmonization")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return {name: reference.load(name) for name in SOURCE_TABLES}


def _source_row(tables, table: str, row_id: str) -> pd.Series:
    frame = tables[table].set_index(harmonized.ID_COLUMNS[table])
    return frame.loc[row_id]


def test_every_row_of_the_plan_exists_and_every_question_is_known(plan, tables):
    assert set(plan["question"]) == set(harmonized.QUESTIONS) | set(questions.STALLED_QUESTIONS)
    for r in plan.itertuples(index=False):
        ids = tables[r.source_table][harmonized.ID_COLUMNS[r.source_table]]
        assert r.estimate_id in set(ids), f"{r.estimate_id} not in {r.source_table}"


def test_a_quoted_p_value_is_printed_in_its_own_row(plan, tables):
    """A P value the plan supplies must be copied from the row's own text, never typed in."""
    quoted = plan[plan["p_printed"].notna()]
    assert len(quoted) >= 2
    for r in quoted.itertuples(index=False):
        row = _source_row(tables, r.source_table, r.estimate_id)
        text = " ".join(str(v) for v in row.to_numpy())
        assert r.p_printed in text, f"{r.estimate_id}: {r.p_printed!r} not in its row"


def test_rows_of_a_meta_analysis_never_pool(plan, tables):
    rows = harmonized.harmonized_rows("hcv_gain", plan, tables)
    meta = rows[rows["study_id"].isin(["miller2005_meta", "tsiara_meta"])]
    assert len(meta) == 2 and not meta["eligible"].any()


def test_se_from_p_inverts_the_wald_test():
    rng = np.random.default_rng(3)
    estimate, se = rng.normal(0, 1, 50), rng.uniform(0.1, 2, 50)
    p = 2 * stats.norm.sf(np.abs(estimate) / se)
    assert np.allclose(se_from_p(estimate, p), se)
    # a bound ("< 0.001") enters as the bound: the largest SE it allows
    assert se_from_p(np.log(3.45), 0.001) > se_from_p(np.log(3.45), 0.0001)


def test_recovery_hazards_and_reverse_contrasts_are_turned(plan, tables):
    hcv = harmonized.harmonized_rows("hcv", plan, tables).set_index("estimate_id")
    greub = hcv.loc["lrf_greub2000_hcv"]  # HR 0.79 (0.72-0.87) of a CD4 gain with HCV
    assert greub["estimate_value"] == pytest.approx(1 / 0.79)
    assert greub["ci_low_value"] == pytest.approx(1 / 0.87, rel=0.01)
    china = hcv.loc["china2024_rf_hcv"]  # an OR of non-response: as printed
    assert china["estimate_value"] == pytest.approx(2.01)
    zdv = harmonized.harmonized_rows("zidovudine", plan, tables).set_index("estimate_id")
    assert zdv.loc["lrf_ayele2017_tdf_vs_azt", "y"] == pytest.approx(-34.08)  # TDF - AZT turned
    assert zdv.loc["lrf_arribas2008_g934_144w", "se_from"] == "P"
    assert zdv.loc["lrf_arribas2008_g934_144w", "se"] == pytest.approx(
        41 / stats.norm.isf(0.09 / 2))


def test_pooled_rows_hold_their_estimate_inside_their_interval(plan, tables):
    for question in harmonized.QUESTIONS:
        rows = harmonized.pool_harmonized(question, plan, tables).pooled_rows
        assert (rows["ci_low_value"] <= rows["estimate_value"]).all(), question
        assert (rows["estimate_value"] <= rows["ci_high_value"]).all(), question
        assert rows["pool_group"].is_unique, question


def test_pooling_matches_the_library_on_the_turned_rows(plan, tables):
    """The HCV ratio is the meta library's REML-HKSJ fit of the five turned rows (the library
    itself agrees with R metafor, tests/test_metafor.py)."""
    question = harmonized.pool_harmonized("hcv", plan, tables)
    rows = question.pooled_rows
    assert sorted(rows["estimate_id"]) == sorted([
        "china2024_rf_hcv", "carmo_rf_hcv", "lrf_eurosida2005_hcv_50cells",
        "lrf_greub2000_hcv", "lrf_roul2018s_hcv"])
    y = np.log([2.01, 1 / 0.68, 1 / 0.92, 1 / 0.79, 1 / 0.85])
    se = (np.log([4.02, 1 / 0.49, 1 / 0.77, 1 / 0.72, 1 / 0.74])
          - np.log([1.01, 1 / 0.92, 1 / 1.11, 1 / 0.87, 1 / 0.96])) / (2 * stats.norm.isf(0.025))
    expected = MetaAnalysis(scale="log").fit(y, se=se).pooled_frame().iloc[0]
    got = question.fit.pooled_frame().iloc[0]
    assert got["estimate"] == pytest.approx(expected["estimate"])
    assert got["ci_low"] == pytest.approx(expected["ci_low"])


def test_a_claim_of_no_benefit_is_judged_against_a_gain_that_matters():
    q = harmonized.QUESTIONS["intensification"]
    kwargs = q.judge_kwargs()
    assert kwargs == {"below": harmonized.MEANINGFUL_CD4_GAIN, "contradicted_above": 0.0}


def test_stalled_is_pooled_on_one_denominator(plan):
    """Cohorts restricted to a low baseline (Engsig, O'Connor: 15-19%) are no longer pooled
    with all suppressed patients (Kroeze, Taramasso, Kaufmann: 1.5-7%)."""
    stalled = questions.pool_stalled(plan=plan)
    assert sorted(stalled.pooled_rows["study_id"]) == ["kaufmann2002", "kroeze2018_paser",
                                                        "taramasso2023_genoa"]
    low = questions.pool_stalled(plan=plan, question="stalled_low_baseline")
    assert set(low.rows.loc[low.rows["eligible"], "pool_group"]) == {
        "ART-CC/COHERE (Engsig 2014)"}  # one group: the Danish and UK CHIC cohorts are inside it
    assert low.pooled_rows["estimate_id"].tolist() == ["engsig2014_le200_m36"]


def test_risk_of_bias_weighs_studies_by_their_features():
    rows = pd.DataFrame({"study_id": ["a", "b", "c"], "verification": ["V2", "V", "V"],
                         "adjusted": ["yes", "no", rules.RANDOMIZED]})
    assert rules.bias_flags(rows).tolist() == ["secondary copy", "unadjusted", ""]
    fit = MetaAnalysis().fit([0.1, 0.2, 0.3], se=[0.1, 0.1, 0.5], labels=["a", "b", "c"])
    assert "studies at high risk carry" in rules.risk_of_bias(fit, rows)  # a, b: most weight
    light = MetaAnalysis().fit([0.1, 0.2, 0.3], se=[0.5, 0.5, 0.05], labels=["a", "b", "c"])
    assert rules.risk_of_bias(light, rows) == ""


def test_publication_bias_needs_ten_studies_and_asymmetry():
    rng = np.random.default_rng(5)
    se = np.linspace(0.05, 0.6, 14)
    asymmetric = MetaAnalysis(scale="log").fit(0.1 + 1.5 * se + rng.normal(0, 0.02, 14), se=se)
    assert rules.publication_bias(asymmetric).startswith("Egger's test p")
    few = MetaAnalysis(scale="log").fit(0.1 + 1.5 * se[:9], se=se[:9])
    assert rules.publication_bias(few) == ""
    proportions = MetaAnalysis(scale="logit").fit(0.1 + 1.5 * se, se=se)
    assert rules.publication_bias(proportions) == ""
