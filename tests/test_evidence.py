"""The evidence report's engine: claims, sources through the manifest, verdict rules."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from immune_recovery import evidence, reference
from immune_recovery.evidence import presentation, questions
from immune_recovery.exceptions import EvidenceError
from immune_recovery.formatting import format_ci, readable
from immune_recovery.paths import project_root

# --- the committed claims against the committed reports ------------------------------------

@pytest.fixture(scope="module")
def claims() -> pd.DataFrame:
    return evidence.load_claims()


@pytest.fixture(scope="module")
def store() -> evidence.TableStore:
    return evidence.TableStore(project_root() / "reports")


@pytest.fixture(scope="module")
def assessment(claims, store) -> evidence.Assessment:
    return evidence.assess_claims(claims, store)


def test_every_claim_source_exists_in_the_manifest(claims, store):
    checked = evidence.check_sources(claims, store)
    assert len(checked) >= len(claims)
    assert checked["ok"].all(), checked.loc[~checked["ok"], "problem"].tolist()


def test_claims_cover_the_background(claims):
    required = {"frequency_10_20", "late_response", "stalled", "events_inr_vs_cr",
                "events_inr_vs_cnr", "predictor_low_baseline_cd4", "predictor_age",
                "predictor_prior_oi", "predictor_hcv", "predictor_duration", "regimen_ddi_tdf",
                "regimen_zdv_tmp_smx", "intensification", "il2_raises_cd4",
                "il2_most_promising"}
    assert required <= set(claims["claim_id"])
    assert set(claims["claim_id"]) == set(evidence.EVALUATORS)


def test_every_claim_has_a_verdict_from_pooled_evidence_or_says_why_not(claims, assessment):
    result = assessment
    assert list(result.verdicts["claim_id"]) == list(claims["claim_id"])
    assert set(result.verdicts["verdict"]) <= set(evidence.VERDICTS)
    data_needed = claims.set_index("claim_id")["data_needed"]
    for row in result.verdicts.itertuples(index=False):
        assert row.reason
        if row.verdict == "insufficient evidence":
            assert not row.certainty
            if data_needed[row.claim_id]:
                assert "Data that would decide it" in row.reason
            continue
        assert row.certainty in evidence.CERTAINTY and row.threshold
        pooled = result.evidence[(result.evidence["claim_id"] == row.claim_id)
                                 & (result.evidence["role"] == "pooled")]
        assert row.estimate in set(pooled["estimate"]), "the verdict rests on a pooled row"


def test_the_figures_and_flows_draw_on_the_fits_the_verdicts_used(assessment):
    """The assessment keeps the syntheses its verdicts rest on; the report's forest plots and
    flows read these, not a second pooling."""
    result = assessment
    syntheses = result.syntheses
    verdicts = result.verdicts.set_index("claim_id")
    frequency = syntheses["frequency"].fit.pooled_frame().iloc[0]
    assert verdicts.loc["frequency_10_20", "estimate"] == frequency["estimate"]
    assert verdicts.loc["stalled", "k"] == syntheses["stalled"].fit.k_
    assert verdicts.loc["predictor_age", "k"] == syntheses["age_extremes"].fit.k_
    flows = evidence.flows([syntheses[n] for n in ("frequency", "baseline_cd4")])
    pooled = flows[flows["step"].str.startswith("pooled")]
    assert list(pooled["rows"]) == [syntheses["frequency"].fit.k_,
                                    syntheses["baseline_cd4"].synthesis.k]
    presented = presentation.evidence_table(result)
    assert presented["display"].str.len().gt(0).any() and not result.evidence["display"].any()


def test_simulated_and_indirect_rows_never_decide(assessment):
    """Our analyses (other reports' tables, except the IL-2 report's syntheses of published
    trials) are indirect or simulated rows; the simulated cohort is never pooled."""
    result = assessment
    ev = result.evidence
    ours = ~ev["source"].str.startswith("reference/") & ~ev["source"].str.startswith("il2-")
    assert set(ev.loc[ours, "role"]) <= {"indirect", "simulated"}
    assert not (ev["role"].eq("simulated") & ev["data"].str.contains("pooled")).any()
    simulated = ev[ev["role"] == "simulated"]
    assert len(simulated) and simulated["note"].str.len().gt(0).all()


def test_numbers_are_read_not_typed(assessment):
    """The evidence row for ESPRIT carries the value of the reference table."""
    result = assessment
    trials = pd.read_csv(project_root() / "data/reference/immune_therapy_trials.csv")
    esprit = trials[(trials["trial"] == "ESPRIT") & trials["hr_ci_high"].notna()].iloc[0]
    row = result.evidence[(result.evidence["claim_id"] == "il2_most_promising")
                          & (result.evidence["data"] == "ESPRIT")].iloc[0]
    assert row["estimate"] == float(esprit["hr"]) and row["ci_high"] == esprit["hr_ci_high"]


def test_baseline_cd4_verdict_rests_on_level_based_outcomes(assessment):
    result = assessment
    ev = result.evidence[result.evidence["claim_id"] == "predictor_low_baseline_cd4"]
    used = ev[ev["note"].str.startswith("used in the direction synthesis")]
    assert len(used) >= 3
    assert used["quantity"].str.contains(r"\((?:level|recovery) outcome\)").all()
    gain = ev[ev["quantity"].str.contains("(gain outcome)", regex=False)]
    assert len(gain) >= 2 and gain["note"].str.contains("regression to the mean").all()
    assert not gain["note"].str.startswith("used").any()
    study_rows = ev[ev["role"] == "study"]
    assert not study_rows.duplicated(["data", "quantity", "estimate"]).any(), "each row once"
    verdict = result.verdicts.set_index("claim_id").loc["predictor_low_baseline_cd4"]
    assert verdict["k"] == len(used)


# --- sources ---------------------------------------------------------------------------------

def test_parse_sources():
    refs = evidence.parse_sources("a-b/t.csv[x y]; reference/r.csv[z]")
    assert refs[0] == evidence.SourceRef("a-b", "t.csv", ("x", "y"))
    assert refs[1].is_reference and refs[1].columns == ("z",)
    with pytest.raises(EvidenceError, match="not of the form"):
        evidence.parse_sources("a-b/t.csv x y", "c1")
    with pytest.raises(EvidenceError, match="names no columns"):
        evidence.parse_sources("a-b/t.csv[]", "c1")


def _fake_reports(tmp_path, tables: dict[str, pd.DataFrame], parameters: dict | None = None):
    """A reports folder with a manifest listing ``{"report/table.csv": frame}``."""
    records: dict[str, dict] = {}
    for key, frame in tables.items():
        report, table = key.split("/")
        folder = tmp_path / "reports" / report / "tables"
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / table, index=False)
        record = records.setdefault(report, {"id": report, "outputs": {"tables": []},
                                             "parameters": (parameters or {}).get(report, {})})
        record["outputs"]["tables"].append(f"tables/{table}")
    (tmp_path / "reports" / "manifest.json").write_text(
        json.dumps({"reports": list(records.values())}))
    return tmp_path / "reports"


def test_missing_table_or_column_is_named(tmp_path):
    root = _fake_reports(tmp_path, {"r1/t.csv": pd.DataFrame({"x": [1]})})
    store = evidence.TableStore(root, reference_root=tmp_path)
    claims = pd.DataFrame([{"claim_id": "c1", "claim": "c", "sources":
                            "r1/t.csv[x y]; r1/u.csv[x]; r2/t.csv[x]"}])
    checked = evidence.check_sources(claims, store)
    assert list(checked["ok"]) == [False, False, False]
    assert "no column(s) y" in checked["problem"][0]
    assert "has no table 'u.csv'" in checked["problem"][1]
    assert "no report 'r2'" in checked["problem"][2]


def test_assess_refuses_unresolved_sources(tmp_path):
    root = _fake_reports(tmp_path, {"r1/t.csv": pd.DataFrame({"x": [1]})})
    store = evidence.TableStore(root, reference_root=tmp_path)
    claims = pd.DataFrame([{"claim_id": "late_response", "claim": "c", "sources": "r1/t.csv[y]",
                            "data_needed": ""}])
    with pytest.raises(EvidenceError, match="cites missing evidence"):
        evidence.assess_claims(claims, store)


def test_undeclared_reads_are_refused(tmp_path):
    root = _fake_reports(tmp_path, {"r1/t.csv": pd.DataFrame({"x": [1], "y": [2]})})
    store = evidence.TableStore(root, reference_root=tmp_path)
    src = evidence.ClaimSources("c1", evidence.parse_sources("r1/t.csv[x]"), store)
    assert list(src.table("r1/t.csv").columns) == ["x"]
    with pytest.raises(EvidenceError, match="do not declare"):
        src.table("r1/other.csv")


# --- verdict rules, certainty and the synthesis on constructed evidence ----------------------

@pytest.mark.parametrize("low, high, kwargs, verdict", [
    (1.2, 2.0, {"above": 1.0}, "supported"),
    (0.5, 0.9, {"above": 1.0}, "contradicted"),
    (0.8, 1.3, {"above": 1.0}, "uncertain"),
    (0.5, 0.9, {"below": 1.0}, "supported"),
    (0.12, 0.18, {"inside": (0.10, 0.20)}, "supported"),
    (0.25, 0.35, {"inside": (0.10, 0.20)}, "contradicted"),
    (0.15, 0.25, {"inside": (0.10, 0.20)}, "uncertain"),
    (float("nan"), 1.0, {"above": 1.0}, "insufficient evidence"),
])
def test_judge(low, high, kwargs, verdict):
    assert evidence.judge(low, high, **kwargs) == verdict


@pytest.mark.parametrize("low, high, verdict", [(0.5, 0.9, "supported"),
                                                (0.8, 1.3, "contradicted"),
                                                (0.7, 1.3, "uncertain")])
def test_a_benefit_claim_is_contradicted_only_when_a_meaningful_benefit_is_excluded(
        low, high, verdict):
    assert evidence.judge(low, high, below=1.0, contradicted_above=0.75) == verdict


def test_certainty_loses_one_level_per_downgrade():
    assert evidence.certainty("high", []) == "high"
    assert evidence.certainty("high", ["a", "b"]) == "low"
    assert evidence.certainty("low", ["a", "b", "c"]) == "very low"


def _frequency_table(pcts: list[float], n: int = 500) -> pd.DataFrame:
    k = len(pcts)
    return pd.DataFrame({
        "estimate_id": [f"e{i}" for i in range(k)], "study_id": [f"s{i}" for i in range(k)],
        "citation": "Author A et al. J 2001;1:1", "region": "Europe", "n_analysed": n,
        "baseline_cd4_median": 200.0, "suppressed_population": "yes", "cd4_rule": "gain_lt",
        "cd4_threshold": 100.0, "assess_month": 12.0, "n_inr": np.nan, "pct_inr": pcts,
        "ci_low_pct": np.nan, "ci_high_pct": np.nan, "pmid_doi_or_url": None, "source_url": None,
        "note": None, "verification": "V"})


@pytest.mark.parametrize("pcts, verdict", [([14, 15, 16, 15], "supported"),
                                           ([13, 22, 30, 19], "uncertain"),
                                           ([30, 35, 40, 33], "contradicted")])
def test_frequency_verdict_follows_the_pooled_estimate(tmp_path, pcts, verdict):
    freq = pd.DataFrame({"definition": ["seed_gain_le100_m6_12"], "stratum": ["overall"],
                         "n_assessable": [100], "proportion": [0.15], "ci_low": [0.1],
                         "ci_high": [0.2]})
    root = _fake_reports(tmp_path, {"frequency-cpcra002/frequency.csv": freq,
                                    "frequency-synthetic/frequency.csv": freq})
    ref = tmp_path / "ref"
    ref.mkdir()
    _frequency_table(pcts).to_csv(ref / "inr_frequency.csv", index=False)
    claims = evidence.load_claims()
    claims = claims[claims["claim_id"] == "frequency_10_20"]
    result = evidence.assess_claims(claims, evidence.TableStore(root, reference_root=ref))
    assert result.verdicts["verdict"].iloc[0] == verdict
    assert result.verdicts["k"].iloc[0] == len(pcts)
    # the simulated row (proportion 0.15, inside the range) does not change the verdict
    assert (result.evidence["role"] == "simulated").sum() == 1


def test_a_study_with_several_definitions_counts_once(tmp_path):
    table = _frequency_table([15, 15, 15, 15])
    table["study_id"] = ["s0", "s0", "s0", "s1"]
    table["assess_month"] = [12.0, 24.0, 6.0, 12.0]
    question = questions.pool_frequency(table=table)
    assert question.fit.k_ == 2
    chosen = question.rows[question.rows["pooled"]]
    assert set(chosen["study_id"]) == {"s0", "s1"}
    # inside 6-12 months the tie is broken by the longest follow-up
    assert chosen.set_index("study_id").loc["s0", "assess_month"] == 12.0


def test_regression_to_the_mean_moves_a_gain_based_or_with_no_true_effect():
    demo = questions.regression_to_the_mean_demo(0.25, n=20_000, seed=3).set_index("outcome")
    gain = demo.loc[demo.index.str.startswith("gain-based")].iloc[0]
    assert gain["ci_low"] > 1.2, "no true effect, yet the gain-based OR is well above 1"
    level = demo.loc[demo.index.str.startswith("level-based")].iloc[0]
    assert level["ci_high"] < 1, "a higher baseline goes with a higher level"
    exact = questions.regression_to_the_mean_demo(0.0, n=20_000, seed=3).set_index("outcome")
    no_error = exact.loc[exact.index.str.startswith("gain-based")].iloc[0]
    assert no_error["ci_low"] < 1 < no_error["ci_high"], "without measurement error, no bias"


def test_direction_synthesis_sign_test():
    ds = questions.DirectionSynthesis.of(pd.Series([True] * 9 + [False]))
    assert (ds.k, ds.favour) == (10, 9)
    assert ds.p_sign == pytest.approx(2 * (10 + 1) / 2 ** 10)
    assert ds.ci_low > 0.5


def test_the_direction_interval_agrees_with_the_exact_sign_test():
    """4 of 4: the exact sign test gives p = 0.125, so the exact (Clopper-Pearson) interval
    must include one half (0.40-1.00); the Wilson interval (0.51-1.00) did not."""
    ds = questions.DirectionSynthesis.of(pd.Series([True] * 4))
    assert ds.p_sign == pytest.approx(0.125)
    assert ds.ci_low == pytest.approx(0.025 ** 0.25) and ds.ci_high == 1.0
    assert evidence.judge(ds.ci_low, ds.ci_high, above=0.5) == "uncertain"


def test_a_study_group_is_pooled_once(assessment):
    """Studies that share patients (study_groups.csv) enter a pooled estimate once: the two
    CoRIS analyses, and Engsig 2014 with the cohorts it contains."""
    result = assessment
    for name in ("frequency", "outcomes", "stalled", "complete_nonresponders"):
        pooled = result.syntheses[name].pooled_rows
        assert pooled["pool_group"].is_unique, name
    outcomes = result.syntheses["outcomes"].rows
    coris = outcomes[outcomes["study_group"] == "CoRIS"]
    assert len(coris) >= 2 and coris["pooled"].sum() <= 1


def test_a_collaboration_and_its_cohorts_count_once_but_its_cohorts_apart_stay_apart():
    rows = pd.DataFrame({"study_id": ["Engsig2014", "Engsig2010", "UKCHIC2010", "X"],
                         "v": [1, 2, 3, 4]})
    rows = reference.study_groups(rows)
    everyone = pd.Series(True, index=rows.index)
    assert questions.pool_groups(rows, everyone).nunique() == 2
    without = rows["study_id"] != "Engsig2014"
    assert questions.pool_groups(rows, without)[without].nunique() == 3


def test_the_indirect_comparison_counts_no_study_twice_and_carries_the_t(assessment):
    result = assessment
    cnr = result.syntheses["complete_nonresponders"]
    groups = frozenset(cnr.pooled_rows["pool_group"])
    inr = questions.pool_outcomes(exclude_groups=groups)
    assert not set(inr.pooled_rows["pool_group"]) & groups
    a, b = inr.fit.primary, cnr.fit.primary
    df = min(inr.fit.k_, cnr.fit.k_) - 1
    half = stats.t.isf(0.025, df) * np.hypot(a["se"], b["se"])
    verdict = result.verdicts.set_index("claim_id").loc["events_inr_vs_cnr"]
    assert verdict["ci_high"] == pytest.approx(np.exp(a["estimate"] - b["estimate"] + half))
    assert verdict["k"] == inr.fit.k_ + cnr.fit.k_
    assert verdict["downgrades"].count("imprecision") <= 1, "one downgrade per domain"


def test_il2_verdict_rests_on_the_common_effect_with_the_cochrane_review_beside_it(assessment):
    result = assessment
    verdict = result.verdicts.set_index("claim_id").loc["il2_most_promising"]
    rows = result.evidence[result.evidence["claim_id"] == "il2_most_promising"]
    deciding = rows[rows["role"] == "pooled"]
    assert len(deciding) == 1 and "fixed effect" in deciding["data"].iloc[0]
    assert verdict["ci_low"] == deciding["ci_low"].iloc[0]
    assert rows["data"].str.startswith("Cochrane 2017").any()
    assert rows["data"].str.startswith("ILSTIM").any(), "the trial in non-responders is shown"
    mortality = rows[rows["data"].str.startswith("Cochrane 2017")
                     & rows["quantity"].str.contains("mortality")].iloc[0]
    printed = format_ci(mortality["estimate"], mortality["ci_low"], mortality["ci_high"], 2)
    assert f"mortality RR {printed}" in verdict["reason"], "the review's RR is read, not typed"
    assert verdict["k"] == 2


def test_the_meta_regression_sentence_reads_the_fits_and_refuses_a_flagged_model():
    _, fits = questions.meta_regression_table()
    first, data = fits["definition, suppression, region"]
    text = presentation.meta_regression_sentence(fits)
    assert f"**{first.r2_:.0%}**" in text and f"{len(data)} estimates" in text
    flagged, flagged_data = fits["... and median baseline CD4"]
    flagged.flag_ = "not identified: 6 studies for 7 coefficients"
    text = presentation.meta_regression_sentence(fits)
    assert "not identified: 6 studies for 7 coefficients, so it is not read" in text
    first.coefficients.loc[first.coefficients["term"] == "month_per12", ["ci_low", "ci_high"]] \
        = [0.1, 0.2]
    text = presentation.meta_regression_sentence(fits)
    assert "a later assessment raise the proportion" in text and "lowers it" not in text


# --- formatting ------------------------------------------------------------------------------

def test_format_ci():
    assert format_ci(0.4999, 0.3281, 0.7612) == "0.50 (0.33–0.76)"
    assert format_ci(0.185, 0.178, 0.191, digits=1, percent=True) == "18.5% (17.8–19.1)"
    assert format_ci(1.98) == "1.98"
    assert format_ci(-55.4, -126.0, 15.2, 0) == "-55 (-126 to 15)"  # never "-126–15"
    assert format_ci(-40.4, -58.7, -22.2, 0) == "-40 (-59 to -22)"
    assert format_ci(float("nan"), 1, 2) == ""


def test_readable_merges_estimate_and_ci():
    df = pd.DataFrame({"term": ["a"], "hr": [0.5], "ci_low": [0.33], "ci_high": [0.76],
                       "p": [0.01]})
    out = readable(df)
    assert list(out.columns) == ["term", "hr (95% CI)", "p"]
    assert out.iloc[0, 1] == "0.50 (0.33–0.76)"
    assert list(df.columns) == ["term", "hr", "ci_low", "ci_high", "p"]  # input untouched


def test_harmonized_ratios_point_the_claimed_way_above_one():
    rows = pd.DataFrame({
        "study_id": ["a", "b", "c", "d"], "eligible": True,
        "estimate": [2.0, 3.0, 0.5, 0.8], "ci_low": [1.5, 2.0, 0.3, np.nan],
        "ci_high": [2.5, 4.0, 0.8, np.nan],
        "favours_claim": [True, False, True, False],  # b: higher vs lower; c: recovery outcome
        "measure": "OR", "contrast": ["x", "x", "y", "x"]})
    h = questions.harmonized_ratios(rows).set_index("study_id")
    assert h.loc["a", "harmonized"] == 2.0 and not h.loc["a", "inverted"]
    assert h.loc["b", "harmonized"] == pytest.approx(1 / 3)
    assert (h.loc["b", "harmonized_low"], h.loc["b", "harmonized_high"]) == \
        pytest.approx((0.25, 0.5))
    assert h.loc["c", "harmonized"] == 2.0 and h.loc["c", "inverted"]
    assert h.loc["d", "harmonized"] == 0.8, "points the other way: stays below 1"
    scales = questions.shared_scales(h.reset_index(), min_studies=2).set_index("scale")
    assert scales.loc["OR: x", "studies"] == 2 and scales.loc["OR: x", "poolable"]


#: Claims answered on a pooled estimate since the second extraction (issue 31): before, the
#: five factors were "insufficient evidence" or a vote count, and IL-2's CD4 effect a vote.
POOLED_SINCE_SECOND_EXTRACTION = ("predictor_age", "predictor_prior_oi", "predictor_hcv",
                                  "predictor_duration", "regimen_ddi_tdf", "regimen_zdv_tmp_smx",
                                  "il2_raises_cd4")


def test_factors_and_il2_cd4_rest_on_pooled_estimates(assessment):
    v = assessment.verdicts.set_index("claim_id")
    for claim in POOLED_SINCE_SECOND_EXTRACTION:
        assert v.loc[claim, "verdict"] != "insufficient evidence", claim
        assert v.loc[claim, "measure"].startswith("pooled"), claim
        assert v.loc[claim, "k"] >= 3, claim
        assert claim != "predictor_hcv" or v.loc[claim, "ci_low"] > 1  # HCV: 5 cohorts agree
    answered = v["verdict"] != "insufficient evidence"
    by_votes = v["measure"].fillna("").str.startswith("share of studies")
    assert (answered & ~by_votes).sum() >= 12  # 15 claims: 12 pooled, 1 by direction


def test_a_claim_left_insufficient_says_which_data_would_decide(assessment):
    v = assessment.verdicts.set_index("claim_id")
    for claim in v.index[v["verdict"] == "insufficient evidence"]:
        assert "Data that would decide it" in v.loc[claim, "reason"], claim


def test_every_verdict_row_states_its_estimand_k_model_and_rule(assessment):
    v = assessment.verdicts
    answered = v[v["verdict"] != "insufficient evidence"]
    assert answered["estimand"].str.len().gt(0).all()
    assert answered["model"].str.len().gt(0).all()
    assert answered["rule"].str.len().gt(0).all()
    assert (answered["studies"] >= answered["k"]).all()  # study groups gather studies
    frequency = v.set_index("claim_id").loc["frequency_10_20"]
    assert frequency["studies"] > frequency["k"]  # collaborations and their cohorts count once


def test_votes_read_from_abstracts_are_downgraded_for_reporting_bias():
    from immune_recovery.evidence.decision import ClaimResult
    from immune_recovery.evidence.rules import decide_direction
    votes = questions.DirectionSynthesis.of(pd.Series([True] * 9))
    for share, downgraded in ((0.8, True), (0.2, False)):
        result = ClaimResult()
        decide_direction(result, votes, threshold_text="1/2", what="x",
                         direction_only_share=share)
        assert any(d.startswith("reporting bias") for d in result.downgrades) == downgraded


def test_frequency_is_judged_on_claim_matched_cohorts(assessment):
    """The verdict's estimand is the claim's: suppressed cohorts at 6-12 months with a gain or
    level rule, not an average over every definition and month (the cross-definition pool is a
    sensitivity row)."""
    frequency = assessment.syntheses["frequency"]
    rows = frequency.pooled_rows
    assert (rows["suppressed_population"] == "yes").all()
    assert rows["assess_month"].between(*questions.CLAIM_MONTHS).all()
    assert rows["family"].isin(questions.CLAIM_FAMILIES).all()
    crude = assessment.syntheses["frequency_all"]
    assert crude.fit.k_ > frequency.fit.k_
    ev = assessment.evidence
    predictions = ev[(ev["claim_id"] == "frequency_10_20")
                     & ev["data"].str.startswith("meta-regression prediction")]
    assert len(predictions) == len(questions.CLAIM_DEFINITIONS)
    assert (predictions["ci_low"] < predictions["estimate"]).all()
    assert ev.loc[ev["claim_id"] == "frequency_10_20", "data"].eq("wu2022_meta").any()


def test_actg175_is_shown_by_period_beside_its_averaged_hazard_ratio(assessment):
    """The averaged HR hides an effect that falls over time; the rows by period and the
    restricted mean time need no proportional hazards, and every ACTG 175 row says that its
    endpoint contains a CD4 decline."""
    ev = assessment.evidence
    actg = ev[(ev["claim_id"] == "events_inr_vs_cr") & ev["data"].str.startswith("ACTG 175")]
    periods = actg[actg["data"] == "ACTG 175, by period"]
    assert len(periods) == 2 and periods["estimate"].iloc[0] > periods["estimate"].iloc[1]
    assert (actg["data"] == "ACTG 175, restricted mean time").any()
    assert actg["note"].str.contains("CD4 decline of at least 50%").all()
    assert set(actg["role"]) == {"indirect"}
