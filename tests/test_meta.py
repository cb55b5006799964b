"""IL-2 meta-analysis against hand computations of the inverse-variance and tau^2 formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from immune_recovery import reference
from immune_recovery.evidence import il2


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    """CD4 results as reported (il2_trials.csv)."""
    return reference.load("il2_trials")


@pytest.fixture(scope="module")
def clinical() -> pd.DataFrame:
    """The randomized IL-2 trials' clinical rows of immune_therapy_trials.csv (V/V2)."""
    return il2.load_clinical_trials()


def test_inputs_keep_citations_and_derive_standard_errors(clinical):
    od = il2.hazard_ratio_inputs(clinical, "opportunistic disease or death").set_index("trial")
    assert list(od.index) == ["ESPRIT", "SILCAAT", "STALWART (ESPRIT 002)"]
    assert od.loc["ESPRIT", "citation"].startswith("INSIGHT-ESPRIT Study Group")
    assert set(od["verification"]) <= {"V", "V2"}, "only verified rows are pooled"
    assert od.loc["ESPRIT", "se"] == pytest.approx((np.log(1.16) - np.log(0.75)) / (2 * 1.959964),
                                                   rel=1e-5)
    death = il2.hazard_ratio_inputs(clinical, "death").set_index("trial")
    # SE from P: the z test with the derived SE gives the reported P back
    for trial, p in (("ESPRIT", 0.42), ("SILCAAT", 0.73)):
        row = death.loc[trial]
        assert row["se_source"] == "p-value"
        assert 2 * stats.norm.sf(abs(row["log_hr"]) / row["se"]) == pytest.approx(p, rel=1e-9)


def test_pooled_estimates_match_the_formulas(clinical):
    od = il2.hazard_ratio_inputs(clinical, "opportunistic disease or death")
    y, v = od["log_hr"].to_numpy(), od["se"].to_numpy() ** 2
    w = 1 / v
    fixed = np.sum(w * y) / w.sum()
    q = np.sum(w * (y - fixed) ** 2)
    k = len(y)
    tau2_dl = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w ** 2) / w.sum()))

    def generalised_q(tau2):
        wt = 1 / (v + tau2)
        mean = np.sum(wt * y) / wt.sum()
        return np.sum(wt * (y - mean) ** 2) - (k - 1)

    tau2_pm = optimize.brentq(generalised_q, 0, 10)
    table = il2.pool(od, "x").set_index("model")
    assert table.loc["fixed effect (inverse variance)", "estimate"] == pytest.approx(
        np.exp(fixed))
    assert table.loc["random effects (DL), Wald CI", "tau2"] == pytest.approx(tau2_dl)
    assert table.loc["random effects (PM), Wald CI", "tau2"] == pytest.approx(tau2_pm, rel=1e-4)
    # I^2 from each estimator's tau^2: under DerSimonian-Laird it is the Q-based one
    assert table.loc["random effects (DL), Wald CI", "i2"] == pytest.approx((q - (k - 1)) / q)
    assert table.loc["random effects (REML), modified HKSJ CI", "ci_high"] >= table.loc[
        "random effects (REML), Wald CI", "ci_high"]
    wr = 1 / (v + tau2_dl)
    assert table.loc["random effects (DL), Wald CI", "estimate"] == pytest.approx(
        np.exp(np.sum(wr * y) / wr.sum()))
    primary = table.loc["random effects (REML), HKSJ CI"]
    assert primary["flag"] == "few_studies" and primary["k"] == 3


def test_one_trial_pools_to_itself_and_negative_tau2_is_truncated(clinical):
    od = il2.hazard_ratio_inputs(clinical, "opportunistic disease or death")
    single = il2.pool(od.iloc[:1], "x")
    assert single["estimate"].tolist() == pytest.approx([0.94])
    assert single["flag"].tolist() == ["single_study"]
    death = il2.pool(il2.hazard_ratio_inputs(clinical, "death"), "death")
    assert (death["tau2"] == 0).all() and (death["i2"] == 0).all()
    assert death["estimate"].nunique() == 1


def test_meta_clinical_table_has_the_contract_columns(clinical):
    table = il2.clinical_summary(clinical)
    assert list(table.columns) == ["endpoint", "model", "estimate", "ci_low", "ci_high",
                                   "pi_low", "pi_high", "i2", "tau2", "k", "flag"]
    assert set(table["endpoint"]) == {"opportunistic disease or death",
                                      "opportunistic disease or death (trials on ART)", "death"}


def test_cd4_effects_are_not_pooled_across_measures(trials):
    cd4 = il2.cd4_effects(trials).set_index("trial")
    assert cd4.loc["Kovacs1996", "difference"] == 567
    assert cd4.loc["Kovacs1996", "se"] == pytest.approx(np.hypot(128, 41))
    assert cd4.loc["Davey2000", "se"] == pytest.approx(np.hypot(113 / np.sqrt(39),
                                                                35 / np.sqrt(43)))
    assert not il2.comparable_groups(il2.cd4_effects(trials))["pooled"].any()


def test_cd4_effect_confidence_intervals(trials):
    cd4 = il2.cd4_effects(trials).set_index("trial")
    half = 1.959963984540054 * np.hypot(128, 41)
    assert cd4.loc["Kovacs1996", "ci_low"] == pytest.approx(567 - half)
    assert cd4.loc["Kovacs1996", "ci_high"] == pytest.approx(567 + half)
    reported = trials.set_index("trial").loc["UK_Vanguard"]
    assert cd4.loc["UK_Vanguard", "ci_low"] == reported["cd4_diff_ci_low"]
    assert cd4.loc["UK_Vanguard", "ci_high"] == reported["cd4_diff_ci_high"]
    assert cd4.loc["ESPRIT", ["ci_low", "ci_high"]].isna().all()  # no dispersion reported


def test_clinical_rows_leave_out_reviews_letters_and_subgroups(clinical):
    assert not clinical["design"].str.contains("review|letter|subgroup|extended|pooled",
                                               case=False).any()
    assert clinical["intervention"].str.contains("IL-2").all()
