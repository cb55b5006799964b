"""Logistic regression of non-response against a direct statsmodels fit and the simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from immune_recovery import load_cohort, patient_table, riskfactors
from immune_recovery.classify import classify
from immune_recovery.conventions import Z95
from immune_recovery.covariates import analysis_frame, design_matrix, term_label, tidy_term
from immune_recovery.definitions import select_definitions
from immune_recovery.outcomes import CoxModel
from immune_recovery.paths import project_root
from immune_recovery.results import COEFFICIENT_COLUMNS, RESULT_COLUMNS
from immune_recovery.riskfactors import NonResponseModel, model_frame, truth_comparison
from immune_recovery.simulate.truth import load_truth
from immune_recovery.trajectories import fit_mixed_model

from .conftest import require_dataset


def test_odds_ratios_match_a_direct_glm_fit():
    cohort = load_cohort(require_dataset("actg175"))
    patients = analysis_frame(patient_table(cohort))
    definitions = [d for d in select_definitions(False, project_root() / "params" / "definitions"
                                                 / "actg175.yaml")
                   if d.id == "actg175_gain_lt50_w20"]
    frame = model_frame(classify(cohort, definitions), "actg175_gain_lt50_w20", patients)
    model = NonResponseModel(["cd4_per100", "age10", "female"]).fit(frame)
    exog = sm.add_constant(frame[["cd4_per100", "age10", "female"]].astype(float))
    glm = sm.GLM(frame["nonresponder"], exog, family=sm.families.Binomial()).fit()
    assert (model.summary["measure"] == "OR").all()
    assert model.summary["estimate"].to_numpy() == pytest.approx(
        np.exp(glm.params.drop("const").to_numpy()), rel=1e-6)
    assert model.n_ == 2139 and model.events_ == 1333


def test_term_labels():
    assert term_label("C(arm, Treatment(reference='ZDV'))[T.ddI]") == "Randomised arm: ddI vs ZDV"
    assert term_label("age10") == "Age, per 10 years"
    assert term_label("status[immunologic_nonresponder]") == \
        "Response group: immunologic_nonresponder"
    assert term_label("arm[ddI]", {"arm": "ZDV"}) == "Randomised arm: ddI vs ZDV"
    assert term_label("months:C(arm, Treatment('ddC'))[T.ddI]") == \
        "months × Randomised arm: ddI vs ddC"
    assert tidy_term("months:C(arm, Treatment('ddC'))[T.ddI]") == "months:arm[ddI]"


def test_one_encoder_and_one_result_shape_for_logistic_and_cox_models():
    """The logistic and the Cox model code a categorical covariate the same way, and both
    tables have the one result shape."""
    frame = pd.DataFrame({"arm": ["a", "b", "c", "a", "b", "c", "a", "b"] * 10,
                          "x": np.linspace(0, 1, 80)})
    rng = np.random.default_rng(1)
    frame["nonresponder"] = rng.integers(0, 2, len(frame))
    frame["time_years"] = rng.exponential(2, len(frame))
    frame["event"] = rng.integers(0, 2, len(frame))
    design = design_matrix(frame, ["arm", "x"], {"arm": "b"})
    assert list(design.columns) == ["arm[a]", "arm[c]", "x"]
    logistic = NonResponseModel(["arm", "x"], {"arm": "b"}).fit(frame).summary
    cox = CoxModel(["arm", "x"], "m", {"arm": "b"}).fit(frame).summary
    assert list(logistic.columns) == RESULT_COLUMNS
    assert list(cox.columns) == ["model", *RESULT_COLUMNS, "events"]
    assert list(logistic["term"]) == list(cox["term"]) == list(design.columns)
    assert list(logistic["label"]) == list(cox["label"])
    assert logistic["label"].iloc[0] == "Randomised arm: a vs b"
    assert set(logistic["measure"]) == {"OR"} and set(cox["measure"]) == {"HR"}
    # the same design fitted directly
    glm = sm.GLM(frame["nonresponder"], sm.add_constant(design),
                 family=sm.families.Binomial()).fit()
    assert logistic["estimate"].to_numpy() == pytest.approx(
        np.exp(glm.params.drop("const").to_numpy()), rel=1e-6)


def test_one_results_protocol_gives_the_model_scale_with_its_standard_error():
    """coefficients(): each term on the model's own scale with SE and CI, the summary's numbers
    on the log scale, for the logistic, Cox and mixed models (what the coverage study reads)."""
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=200), "time_years": rng.exponential(2, 200),
                          "event": rng.integers(0, 2, 200)})
    frame["nonresponder"] = (rng.random(200) < 1 / (1 + np.exp(-frame["x"]))).astype(int)
    for model in (NonResponseModel(["x"]).fit(frame), CoxModel(["x"], "m").fit(frame)):
        c, summary = model.coefficients(), model.summary.set_index("term")
        assert list(c.columns) == COEFFICIENT_COLUMNS and list(c.index) == ["x"]
        assert np.exp(c["coef"]).to_numpy() == pytest.approx(summary["estimate"].to_numpy())
        assert np.exp(c["coef_ci_low"]).to_numpy() == pytest.approx(summary["ci_low"].to_numpy())
        assert (c["coef_ci_high"] - c["coef"]).to_numpy() == pytest.approx(
            (Z95 * c["se"]).to_numpy(), rel=1e-4)
    long = pd.DataFrame({"PATIENT": np.repeat(np.arange(40), 5), "years": np.tile(
        np.arange(5.0), 40)})
    long["sqrt_cd4"] = 15 + 0.5 * long["years"] + rng.normal(0, 1, len(long)) + np.repeat(
        rng.normal(0, 2, 40), 5)
    mixed = fit_mixed_model(long, "sqrt_cd4 ~ years", "~1")
    c = mixed.coefficients().loc["years"]
    row = mixed.summary.set_index("term").loc["years"]
    assert (c["coef"], c["se"], c["coef_ci_low"]) == pytest.approx(
        (row["estimate"], row["se"], row["ci_low"]))
    assert mixed.n_ == 40


@pytest.mark.slow
def test_simulated_risk_factors_point_the_way_the_simulator_pushes():
    path = require_dataset("synthetic")
    cohort = load_cohort(path)
    patients = analysis_frame(patient_table(cohort))
    result = classify(cohort, select_definitions(True)[:1])  # seed_gain_le100_m6_12
    frame = model_frame(result, "seed_gain_le100_m6_12", patients)
    model = NonResponseModel(["age10", "hcv", "zdv", "ddi_tdf", "prior_aids"]).fit(frame)
    truth, meta = load_truth(path)
    table = truth_comparison(model, frame, truth).set_index("term")
    # every simulated effect lowers the CD4 gain, so each raises the odds of non-response
    for term in ("age10", "hcv", "zdv", "ddi_tdf", "prior_aids"):
        assert table.loc[term, "latent_ci_low"] > 1, term
        assert table.loc[term, "estimate"] > 1, term
    assert meta["parameters"]["gain_hcv"] < 0


def rtm_cohort(n: int = 6000, seed: int = 11, cv: float = 0.25):
    """True gain independent of the true baseline; each patient has two baseline counts
    with multiplicative error of coefficient of variation ``cv``."""
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(np.log(1 + cv ** 2))
    true = rng.lognormal(np.log(300), 0.4, n)

    def measure(x):
        return x * rng.lognormal(-sigma ** 2 / 2, sigma, n)

    first, second = measure(true), measure(true)
    follow = measure(true + rng.normal(80, 60, n))
    idx = pd.Index([f"P{i}" for i in range(n)], name="PATIENT")
    frame = pd.DataFrame({"baseline_cd4": first, "assessed_cd4": follow,
                          "age10": rng.normal(4, 1, n)}, index=idx)
    counts = pd.DataFrame({"n_baseline_counts": 2, "mean_baseline_cd4": (first + second) / 2,
                           "within_ss": (first - second) ** 2 / 2}, index=idx)
    return frame, counts


def test_regression_to_the_mean_is_explained_and_corrected():
    frame, counts = rtm_cohort()
    table = riskfactors.regression_to_the_mean(frame, counts, ["age10"], cv=0.25,
                                               cv_source="test").set_index("analysis")
    change = table.loc["change score: gain on baseline", "estimate"]
    assert change < -0.05  # spurious: the truth is 0
    ancova = table.loc["ANCOVA: follow-up count on baseline", "estimate"]
    assert ancova == pytest.approx(change + 1)
    for source in ("this cohort's patients with two or more baseline counts",
                   "published CV 25% (test)"):
        alone = table.loc[f"change-score slope from regression to the mean alone, {source}",
                          "estimate"]
        assert alone == pytest.approx(change, abs=0.06)
        corrected = table.loc[f"change-score slope corrected for measurement error, {source}"]
        assert abs(corrected["estimate"]) < 0.04  # the truth: no dependence
    averaged = table.loc["change score, patients with 2+ baseline counts: mean of counts",
                         "estimate"]
    assert change < averaged < 0


def test_published_cv_reads_the_reference_row():
    assert riskfactors.published_cv("CV11") == pytest.approx(0.166)
    with pytest.raises(ValueError, match="not a coefficient"):
        riskfactors.published_cv("CV02")


def test_regression_to_the_mean_sentence_reads_the_table():
    frame, counts = rtm_cohort()
    table = riskfactors.regression_to_the_mean(frame, counts, ["age10"], cv=0.25,
                                               cv_source="test")
    text = riskfactors.regression_to_the_mean_sentence(table)
    change = table.set_index("analysis").loc["change score: gain on baseline", "estimate"]
    assert f"falls by {-change:.2f}" in text
    assert "Regression to the mean alone would give" in text and "published CV 25%" in text
    no_lambda = riskfactors.regression_to_the_mean_sentence(table.iloc[:2])
    assert "cannot be separated" in no_lambda


def test_oldham_is_free_of_regression_to_the_mean():
    """With no true dependence of the change on the level and equal variances, the change
    regressed on the baseline is biased but Oldham's correlation is not; with a true
    dependence it is positive."""
    rng = np.random.default_rng(11)
    n = 4000
    true = rng.normal(350, 100, n)
    baseline = true + rng.normal(0, 60, n)
    follow = true + rng.normal(0, 60, n)  # no change at all: equal variances
    r, low, high = riskfactors.oldham(pd.Series(baseline), pd.Series(follow))
    assert low < 0 < high
    slope = np.polyfit(baseline, follow - baseline, 1)[0]
    assert slope < -0.1  # the change score's spurious slope
    rising = true + 0.4 * (true - 350) + rng.normal(0, 60, n)
    r, low, high = riskfactors.oldham(pd.Series(baseline), pd.Series(rising))
    assert low > 0
    table = riskfactors.regression_to_the_mean(*rtm_cohort(), ["age10"])
    assert riskfactors.OLDHAM in set(table["analysis"])


def test_regression_to_the_mean_with_too_few_patients_says_not_estimable():
    frame = pd.DataFrame({"baseline_cd4": [200.0, 250.0], "assessed_cd4": [np.nan, 300.0],
                          "age10": [3.0, 4.0]}, index=["a", "b"])
    counts = pd.DataFrame({"n_baseline_counts": [1, 1], "mean_baseline_cd4": [200.0, 250.0],
                           "within_ss": [0.0, 0.0]}, index=["a", "b"])
    table = riskfactors.regression_to_the_mean(frame, counts, ["age10"])
    assert len(table) == 1 and np.isnan(table["estimate"].iloc[0])
    assert table["note"].iloc[0].startswith("not estimable: 1 patients")
    assert riskfactors.regression_to_the_mean_sentence(table).startswith(
        "Regression to the mean could not be examined (not estimable")
    assert riskfactors.baseline_terms(pd.DataFrame({"term": [np.nan, "cd4_per100"]})) \
        ["term"].tolist() == ["cd4_per100"]


@pytest.mark.parametrize(("seed", "n", "p"), [(1, 500, 2), (2, 5000, 6), (3, 40000, 9),
                                              (4, 60, 3)])
def test_the_simex_logistic_fit_is_statsmodels_to_the_last_bit(seed, n, p):
    """SIMEX refits a logistic model 201 times; its lean Newton fit gives statsmodels'
    ``Logit`` coefficient and variance exactly."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.gamma(2, 100, n) / 100,
                         rng.normal(size=(n, p - 2)) > 0.3]).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + 0.5 * x[:, 1] - 0.2 * x[:, -1])))).astype(float)
    fit = sm.Logit(y, x).fit(disp=False, maxiter=100)
    assert riskfactors._logit(y, x) == (float(fit.params[1]), float(fit.cov_params()[1, 1]))
