"""Drop-out: IPCW frequency, the weighted proportion's CI, pattern-mixture, two-stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery import dropout


def informative_cohort(n: int = 20_000, seed: int = 3) -> tuple[pd.DataFrame, float]:
    """Patients whose last CD4 before the window predicts both non-response and being
    missed (low counts drop out): complete-case underestimates the true proportion."""
    rng = np.random.default_rng(seed)
    last = rng.normal(15, 3, n)  # sqrt CD4
    nonresponder = rng.random(n) < 1 / (1 + np.exp(0.8 * (last - 13)))
    assessed = rng.random(n) < 1 / (1 + np.exp(-0.6 * (last - 12)))
    frame = pd.DataFrame({"assessed": assessed.astype(int), "in_denominator": True,
                          "nonresponder": nonresponder.astype(int), "last_sqrt_cd4": last,
                          "sqrt_cd4": last + rng.normal(0, 1, n)},
                         index=[f"P{i}" for i in range(n)])
    return frame, float(nonresponder.mean())


def test_ipcw_is_closer_to_the_truth_than_complete_case():
    frame, truth = informative_cohort()
    weights = dropout.ipcw_weights(frame)
    observed = frame.loc[weights.index, "nonresponder"].to_numpy()
    complete = observed.mean()
    weighted, low, high = dropout.weighted_proportion(observed, weights.to_numpy())
    assert abs(weighted - truth) < abs(complete - truth) / 4
    assert low < truth < high
    assert weights.mean() == pytest.approx(1.0, abs=0.05)  # stabilized
    assert "last_sqrt_cd4" in weights.attrs["covariates"]


def test_weighted_proportion_ci_is_the_sandwich():
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.3).astype(float)
    w = rng.uniform(0.5, 2.0, 500)
    p, low, high = dropout.weighted_proportion(y, w)
    assert p == pytest.approx((w * y).sum() / w.sum())
    se = np.sqrt((w ** 2 * (y - p) ** 2).sum()) / w.sum()  # HC0 on the probability scale
    logit_se = se / (p * (1 - p))
    expected_low = 1 / (1 + np.exp(-(np.log(p / (1 - p)) - 1.959964 * logit_se)))
    assert low == pytest.approx(expected_low, rel=1e-4)
    assert low < p < high


def test_ipcw_frequency_on_the_synthetic_cohort(synthetic):
    from immune_recovery import trajectories as tr
    from immune_recovery.baseline import patient_table
    from immune_recovery.classify import classify
    from immune_recovery.covariates import analysis_frame
    from immune_recovery.definitions import load_catalogue
    from immune_recovery.frequency import frequency_table

    patients = analysis_frame(patient_table(synthetic))
    definition = load_catalogue()["seed_level_le200_m6_12"]
    result = classify(synthetic, [definition])
    long = tr.cd4_long(synthetic, patients)
    estimates, missing, spread = dropout.ipcw_frequency(result, definition.id, patients, long)
    complete = estimates.set_index("method").loc["complete case"]
    freq = frequency_table(result, "synthetic").iloc[0]
    assert complete["n_assessable"] == freq["n_assessable"]
    assert complete["proportion"] == pytest.approx(freq["proportion"])
    assert missing.set_index("status").loc["assessed", "patients"] == spread.loc[0, "n"]
    assert missing["patients"].sum() <= len(patients)
    assert spread.loc[0, "mean"] == pytest.approx(1.0, abs=0.1)


def test_fitted_trajectory_matches_the_mixed_models_fitted_values():
    from immune_recovery.trajectories import fit_mixed_model

    rng = np.random.default_rng(2)
    rows = []
    for pid in range(60):
        a, b = rng.normal(20, 3), rng.normal(-0.2, 0.1)
        arm = "x" if pid % 2 else "y"
        for t in (0, 2, 6, 12):
            rows.append((f"P{pid}", t, arm, a + b * t + rng.normal(0, 1)))
    data = pd.DataFrame(rows, columns=["PATIENT", "months", "arm", "sqrt_cd4"])
    mixed = fit_mixed_model(data, "sqrt_cd4 ~ months + months:arm", "~months")
    fitted = dropout.fitted_trajectory(mixed, data, data, "months")
    np.testing.assert_allclose(fitted, mixed.best.fittedvalues.to_numpy(), rtol=1e-6)


def test_pattern_mixture_marginal_is_the_share_weighted_average():
    rng = np.random.default_rng(4)
    rows = []
    for pid in range(90):
        pattern = ("early", "late", "died")[pid % 3]
        slope = {"early": -1.0, "late": 0.0, "died": -2.0}[pattern]
        for t in range(0, 4 if pattern == "early" else 8):
            rows.append((f"P{pid}", float(t), 20 + slope * t + rng.normal(0, 0.5)))
    data = pd.DataFrame(rows, columns=["PATIENT", "years", "sqrt_cd4"])
    pattern = pd.Series({f"P{p}": ("early", "late", "died")[p % 3] for p in range(90)})
    table = dropout.pattern_mixture_slope(data, "years", pattern).set_index("pattern")
    assert table.loc["died", "slope"] == pytest.approx(-2.0, abs=0.1)
    assert table.loc["late", "slope"] == pytest.approx(0.0, abs=0.1)
    marginal = table.loc["pattern-weighted (marginal)", "slope"]
    assert marginal == pytest.approx(table.iloc[:3]["slope"].mean(), abs=1e-9)


def test_last_value_before_is_the_last_count_by_patient_and_time():
    """Ties in time keep the later row; counts before T0, at or after the cut and missing
    values are not candidates; a patient without one gets NaN (against the plain pandas
    sort-and-take-last)."""
    rng = np.random.default_rng(5)
    n = 3000
    long = pd.DataFrame({"PATIENT": rng.choice([f"p{i}" for i in range(200)], n),
                         "years": rng.integers(-2, 12, n) / 8,
                         "cd4": np.where(rng.random(n) < 0.1, np.nan, rng.normal(300, 90, n))})
    patients = pd.Index([f"p{i}" for i in range(210)], name="PATIENT")
    got = dropout.last_value_before(long, "cd4", patients, 1.0)
    data = long[(long["years"] > 0) & (long["years"] < 1.0)]
    expected = (data.sort_values(["PATIENT", "years"], kind="stable").groupby("PATIENT")["cd4"]
                .last().reindex(patients))
    pd.testing.assert_series_equal(got, expected, check_exact=True)
    assert got.isna().any() and got.notna().sum() > 150
