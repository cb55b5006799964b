"""The meta-analysis library against R metafor's documented results for ``dat.bcg``, against
its defining equations, and against a direct WLS fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from immune_recovery.meta import (
    MIN_STUDIES_PREDICTION,
    BinomialNormalMetaAnalysis,
    MetaAnalysis,
    MetaRegression,
    MultilevelMetaAnalysis,
    i_squared_q,
    logit_proportion,
    one_per_study,
    tau2_estimate,
)

# metafor's dat.bcg (Colditz et al. 1994): BCG vaccine trials, TB cases / non-cases.
BCG = pd.DataFrame({
    "tpos": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    "tneg": [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
    "cpos": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    "cneg": [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
    "ablat": [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33],
})


@pytest.fixture
def bcg():
    a, b, c, d = (BCG[k].to_numpy(float) for k in ("tpos", "tneg", "cpos", "cneg"))
    y = np.log((a / (a + b)) / (c / (c + d)))  # escalc(measure="RR")
    v = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return y, v


def test_reml_matches_metafor(bcg):
    """rma(yi, vi, data=dat.bcg): tau^2 0.3132, estimate -0.7145 (SE 0.1798),
    95% CI -1.0669 to -0.3622, Q(12) = 152.2330; predict(): PI -1.8667 to 0.4377."""
    y, v = bcg
    fit = MetaAnalysis(method="REML", prediction="normal").fit(y, v=v)
    wald = fit.pooled_.iloc[1]
    assert fit.tau2_ == pytest.approx(0.3132, abs=5e-5)
    assert wald["estimate"] == pytest.approx(-0.7145, abs=5e-5)
    assert wald["se"] == pytest.approx(0.1798, abs=5e-5)
    assert (wald["ci_low"], wald["ci_high"]) == pytest.approx((-1.0669, -0.3622), abs=5e-5)
    assert wald["q"] == pytest.approx(152.2330, abs=5e-4)
    assert (wald["pi_low"], wald["pi_high"]) == pytest.approx((-1.8667, 0.4377), abs=2e-4)


def test_dersimonian_laird_matches_metafor(bcg):
    """rma(yi, vi, data=dat.bcg, method="DL"): tau^2 0.3088, estimate -0.7141 (SE 0.1787)."""
    y, v = bcg
    wald = MetaAnalysis(method="DL").fit(y, v=v).pooled_.iloc[1]
    assert wald["tau2"] == pytest.approx(0.3088, abs=5e-5)
    assert wald["estimate"] == pytest.approx(-0.7141, abs=5e-5)
    assert wald["se"] == pytest.approx(0.1787, abs=5e-5)


def test_fixed_effect_matches_metafor(bcg):
    """rma(yi, vi, data=dat.bcg, method="FE"): estimate -0.4303 (SE 0.0405)."""
    y, v = bcg
    fe = MetaAnalysis().fit(y, v=v).pooled_.iloc[2]
    assert (fe["estimate"], fe["se"]) == pytest.approx((-0.4303, 0.0405), abs=5e-5)


def test_paule_mandel_solves_its_estimating_equation(bcg):
    """Paule-Mandel: the generalised Q at tau^2 equals k - 1."""
    y, v = bcg
    tau2 = tau2_estimate(y, v, method="PM")
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    assert np.sum(w * (y - mu) ** 2) == pytest.approx(len(y) - 1, rel=1e-6)


def test_hksj_and_t_prediction_interval_by_their_formulas(bcg):
    y, v = bcg
    fit = MetaAnalysis().fit(y, v=v)
    row, k, tau2 = fit.pooled_.iloc[0], len(y), fit.tau2_
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    scale = np.sum(w * (y - mu) ** 2) / (k - 1)
    se = np.sqrt(scale / np.sum(w))
    t = stats.t.ppf(0.975, k - 1)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((mu - t * se, mu + t * se))
    half = stats.t.ppf(0.975, k - 2) * np.sqrt(tau2 + 1 / np.sum(w))
    assert (row["pi_low"], row["pi_high"]) == pytest.approx((mu - half, mu + half))


def test_i_squared_from_tau2_and_the_q_based_alternative(bcg):
    """I^2 = tau^2 / (tau^2 + s^2) with metafor's typical variance s^2, so it follows the
    estimator; the Q-based I^2 (kept as i2_q) is the same for every estimator, and equals the
    tau^2-based one under DerSimonian-Laird."""
    y, v = bcg
    fits = {m: MetaAnalysis(method=m).fit(y, v=v).primary for m in ("REML", "DL", "PM")}
    q = fits["REML"]["q"]
    assert {round(f["i2_q"], 12) for f in fits.values()} == {round((q - 12) / q, 12)}
    assert fits["DL"]["i2"] == pytest.approx(fits["DL"]["i2_q"])
    w = 1 / v
    s2 = (len(y) - 1) * w.sum() / (w.sum() ** 2 - (w ** 2).sum())
    tau2 = fits["REML"]["tau2"]
    assert fits["REML"]["i2"] == pytest.approx(tau2 / (tau2 + s2))
    assert fits["REML"]["h2"] == pytest.approx((tau2 + s2) / s2)
    assert i_squared_q(5.0, 10) == 0.0, "truncated at 0 when Q < df"


def test_no_prediction_interval_below_the_named_minimum(bcg):
    y, v = bcg
    few = MetaAnalysis().fit(y[:MIN_STUDIES_PREDICTION - 1], v=v[:MIN_STUDIES_PREDICTION - 1])
    enough = MetaAnalysis().fit(y[:MIN_STUDIES_PREDICTION], v=v[:MIN_STUDIES_PREDICTION])
    assert np.isnan(few.primary["pi_low"]) and np.isfinite(enough.primary["pi_low"])


def test_the_modified_hksj_interval_is_never_narrower_than_wald(bcg):
    y, v = bcg
    for k in (2, 3, 13):
        wald = MetaAnalysis(test="z").fit(y[:k], v=v[:k]).primary
        adhoc = MetaAnalysis(test="adhoc").fit(y[:k], v=v[:k]).primary
        assert adhoc["ci_high"] - adhoc["ci_low"] >= wald["ci_high"] - wald["ci_low"]


def test_single_study_is_returned_as_itself():
    fit = MetaAnalysis().fit([0.4], se=[0.2], labels=["only"])
    row = fit.primary
    assert row["flag"] == "single_study" and row["k"] == 1
    assert row["estimate"] == 0.4
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.4 - 1.959964 * 0.2,
                                                              0.4 + 1.959964 * 0.2), abs=1e-6)
    assert np.isnan(row["tau2"]) and np.isnan(row["pi_low"])


def test_logit_proportions_and_the_continuity_rule():
    y, v = logit_proportion([20, 0, 50], [100, 40, 50])
    assert y[0] == pytest.approx(np.log(20 / 80)) and v[0] == pytest.approx(1 / 20 + 1 / 80)
    assert y[1] == pytest.approx(np.log(0.5 / 40.5)) and v[1] == pytest.approx(1 / 0.5 + 1 / 40.5)
    assert y[2] == pytest.approx(np.log(50.5 / 0.5))
    pooled = MetaAnalysis(scale="logit").fit(*logit_proportion([10, 30], [100, 100]))
    low, est, high = pooled.pooled_frame().iloc[0][["ci_low", "estimate", "ci_high"]]
    assert 0.1 < est < 0.3 and low < est < high


def test_meta_regression_matches_a_direct_wls_fit(bcg):
    """Coefficients are WLS with weights 1/(v + tau^2); their SEs are WLS's with the scale
    fixed at 1. metafor: rma(yi, vi, mods = ~ ablat): intercept 0.2515, slope -0.0291 (SE
    0.0072), residual tau^2 0.0764."""
    y, v = bcg
    X = BCG[["ablat"]].astype(float)
    fit = MetaRegression().fit(y, v, X)
    w = 1 / (v + fit.tau2_)
    wls = sm.WLS(y, sm.add_constant(X.to_numpy()), weights=w).fit()
    assert fit.coefficients["estimate"].to_numpy() == pytest.approx(wls.params, rel=1e-10)
    assert fit.coefficients["se"].to_numpy() == pytest.approx(
        wls.bse / np.sqrt(wls.scale), rel=1e-8)
    assert fit.tau2_ == pytest.approx(0.0764, abs=1e-4)
    assert fit.coefficients["estimate"].tolist() == pytest.approx([0.2515, -0.0291], abs=5e-5)
    assert fit.coefficients.loc[1, "se"] == pytest.approx(0.0072, abs=5e-5)
    assert 0 < fit.r2_ < 1 and fit.tau2_null_ == pytest.approx(0.3132, abs=5e-5)


def test_a_study_with_four_rows_has_the_weight_of_one():
    rows = pd.DataFrame({
        "study": ["A", "A", "A", "A", "B", "C"],
        "distance": [2, 0, 1, 0, 0, 3],       # closeness to the claim's wording
        "followup": [12, 6, 12, 24, 12, 12],  # longest suppressed follow-up breaks ties
        "events": [10, 20, 30, 40, 15, 25], "n": [100] * 6})
    chosen = one_per_study(rows, "study", [("distance", True), ("followup", False)])
    assert chosen.tolist() == [False, False, False, True, True, True]
    y, v = logit_proportion(rows.loc[chosen, "events"], rows.loc[chosen, "n"])
    fit = MetaAnalysis().fit(y, v=v, labels=rows.loc[chosen, "study"])
    assert fit.k_ == 3 and fit.studies_["study"].tolist() == ["A", "B", "C"]


def test_the_committed_reference_tables_pool_as_the_issue_requires():
    """Frequency from at least 20 studies and AIDS-or-death from at least 6, one estimate each;
    the estimates left out say why."""
    from immune_recovery.evidence import questions as synthesis

    frequency = synthesis.pool_frequency()
    assert frequency.fit.k_ >= 20
    assert frequency.pooled_rows["study_id"].is_unique
    assert (frequency.rows.loc[~frequency.rows["pooled"], "fate"] != "").all()
    outcomes = synthesis.pool_outcomes()
    assert outcomes.fit.k_ >= 6 and outcomes.pooled_rows["study_id"].is_unique
    misprint = outcomes.rows[outcomes.rows["reason"].str.contains("misprint")]
    assert misprint.empty or not misprint["pooled"].any()
    flow = synthesis.flow(frequency.rows, "f").set_index("step")
    assert flow.loc["pooled (one per study group)", "rows"] == frequency.fit.k_


def test_one_results_type_holds_studies_and_pooled_rows_on_both_scales(bcg):
    """summary_frame(): study rows with their CIs and weights, then the pooled rows, on the
    analysis scale (y) and the reporting scale (estimate), as statsmodels' CombineResults."""
    y, v = bcg
    fit = MetaAnalysis(scale="log").fit(y, v=v, labels=[f"t{i}" for i in range(len(y))])
    frame = fit.summary_frame()
    studies, pooled = frame[frame["row"] == "study"], frame[frame["row"] == "pooled"]
    assert len(studies) == len(y) and list(pooled["label"]) == list(fit.pooled_["model"])
    assert np.allclose(studies["y"], y) and np.allclose(studies["estimate"], np.exp(y))
    z = stats.norm.isf(0.025)
    assert np.allclose(studies["ci_low"], np.exp(y - z * np.sqrt(v)))
    assert studies["weight"].sum() == pytest.approx(1.0)
    reported = fit.pooled_frame()
    assert np.allclose(pooled["estimate"], reported["estimate"])
    assert np.allclose(pooled["ci_high"], reported["ci_high"])
    assert np.allclose(pooled["y"], np.log(reported["estimate"]))
    assert pooled["weight"].isna().all() and studies["tau2"].isna().all()


def test_meta_regression_refuses_or_flags_what_it_cannot_identify(bcg):
    y, v = bcg
    X = pd.DataFrame({"a": np.arange(13.0), "b": 2 * np.arange(13.0)})
    with pytest.raises(ValueError, match="collinear"):
        MetaRegression().fit(y, v, X)
    with pytest.raises(ValueError, match="3 estimates cannot estimate 3 coefficients"):
        MetaRegression().fit(y[:3], v[:3], pd.DataFrame({"a": [1.0, 2, 4], "b": [0.0, 1, 0]}))
    studies = ["s1"] * 7 + ["s2"] * 6
    fit = MetaRegression().fit(y, v, BCG[["ablat"]].astype(float), studies=studies)
    assert fit.flag_ == "not identified: 2 studies for 2 coefficients"
    assert MetaRegression().fit(y, v, BCG[["ablat"]].astype(float)).flag_ == ""


def test_multilevel_with_one_estimate_per_study_is_the_two_level_model(bcg):
    y, v = bcg
    ml = MultilevelMetaAnalysis().fit(y, v, [f"s{i}" for i in range(len(y))])
    uni = MetaAnalysis(test="z").fit(y, v=v).primary
    assert ml.flag_.startswith("one estimate per study")
    assert ml.sigma2_[0] == pytest.approx(uni["tau2"], rel=1e-6)
    assert ml.coefficients.loc[0, "estimate"] == pytest.approx(uni["estimate"], rel=1e-6)
    assert ml.coefficients.loc[0, "se"] == pytest.approx(uni["se"], rel=1e-6)


def test_binomial_normal_model_without_heterogeneity_is_the_common_proportion():
    """Equal proportions: tau^2 = 0 and mu is the logit of the pooled proportion, its SE the
    binomial one, sqrt(1 / (N p (1 - p)))."""
    x, n = np.array([10, 20, 30, 0]), np.array([100, 200, 300, 1])
    fit = BinomialNormalMetaAnalysis().fit(x, n)
    p = x.sum() / n.sum()
    assert fit.tau2_ == 0.0
    assert fit.mu_ == pytest.approx(np.log(p / (1 - p)), abs=1e-6)
    assert fit.se_ == pytest.approx(np.sqrt(1 / (n.sum() * p * (1 - p))), rel=1e-4)
