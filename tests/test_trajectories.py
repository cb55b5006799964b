"""CD4 trajectories: mixed models against the simulator's truth and across optimisers,
summaries against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from immune_recovery import load_cohort, patient_table
from immune_recovery import trajectories as tr
from immune_recovery.simulate.truth import load_truth

from .conftest import require_dataset


def test_cpcra002_fixed_effects_are_stable_across_optimisers():
    cohort = load_cohort(require_dataset("cpcra002"))
    patients = patient_table(cohort)
    long = tr.cd4_long(cohort, patients, ["arm"])
    fit = tr.fit_mixed_model(long, "sqrt_cd4 ~ months + months:C(arm, Treatment('ddC'))",
                             "~months")
    assert fit.best.converged
    best = fit.best.fe_params
    near = [f for f in fit.fits.values() if abs(f.llf - fit.best.llf) < 0.5]
    assert len(near) >= 1
    for other in near:
        assert other.fe_params.to_numpy() == pytest.approx(best.to_numpy(), abs=2e-3)
    # a fit stuck at a worse optimum is never the one chosen
    assert fit.best.llf == max(f.llf for f in fit.fits.values() if f.converged)
    summary = fit.summary.set_index("term")
    assert summary.loc["months", "estimate"] == pytest.approx(-0.164, abs=0.002)
    assert summary.loc["Intercept", "estimate"] == pytest.approx(7.19, abs=0.01)


@pytest.mark.slow
def test_mixed_model_recovers_the_simulated_plateau_and_slope():
    """Responders with no regimen effect and no failure, years 2.5-6: sqrt CD4 is at its
    plateau b + G (1 - exp(-t/tau)); the fixed intercept (at year 4) and slope must cover the
    true mean level and mean slope of the same patients."""
    path = require_dataset("synthetic")
    cohort = load_cohort(path)
    truth, _ = load_truth(path)
    clean = truth[(truth["latent_class"] == "responder")
                  & ~truth["backbone"].isin(["ZDV+3TC", "ddI+TDF"])
                  & (truth["primary_failure"] == 0) & (truth["failure_start_years"] > 6.5)
                  & (truth["switch_years"] > 6.5)]
    ids = clean.sample(400, random_state=3).index
    long = tr.cd4_long(cohort, patient_table(cohort))
    data = long[long["PATIENT"].isin(ids) & long["years"].between(2.5, 6)].copy()
    data["years_c"] = data["years"] - 4
    fit = tr.fit_mixed_model(data, "sqrt_cd4 ~ years_c", "~years_c", methods=("powell", "bfgs"))
    est = fit.summary.set_index("term")
    used = clean.loc[data["PATIENT"].unique()]
    b, g, tau = np.sqrt(used["latent_baseline_cd4"]), used["gain_sqrt"], used["tau_years"]
    true_level = float((b + g * (1 - np.exp(-4 / tau))).mean())
    true_slope = float((g * np.exp(-4 / tau) / tau).mean())
    assert est.loc["Intercept", "ci_low"] <= true_level <= est.loc["Intercept", "ci_high"]
    assert est.loc["years_c", "ci_low"] <= true_slope <= est.loc["years_c", "ci_high"]


def test_mean_trajectory_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    long = pd.DataFrame({"PATIENT": np.repeat(np.arange(60), 3), "months": np.tile([0, 6, 12], 60)
                         + rng.normal(0, 1, 180), "cd4": rng.normal(300, 80, 180),
                         "g": np.repeat(rng.choice(["a", "b"], 60), 3)})
    table = tr.mean_trajectory(long, "g", bin_months=6, min_n=1).set_index(["group", "month"])
    part = long[(long["g"] == "a") & (np.floor(long["months"] / 6 + 0.5) * 6 == 6)]["cd4"]
    row = table.loc[("a", 6)]
    assert row["mean"] == pytest.approx(part.mean())
    half = stats.t.ppf(0.975, len(part) - 1) * part.std(ddof=1) / np.sqrt(len(part))
    assert row["ci_high"] - row["mean"] == pytest.approx(half)


def test_patient_slopes_match_polyfit():
    rng = np.random.default_rng(1)
    rows = []
    for pid in range(20):
        years = np.sort(rng.uniform(2.1, 6, 5))
        rows += [(pid, y, 300 + 15 * pid * y + rng.normal(0, 20)) for y in years]
    long = pd.DataFrame(rows, columns=["PATIENT", "years", "cd4"])
    slopes = tr.patient_slopes(long, after_years=2.0)
    for pid, part in long.groupby("PATIENT"):
        assert slopes.loc[pid, "slope_per_year"] == pytest.approx(
            np.polyfit(part["years"], part["cd4"], 1)[0])
    flat = tr.stalled(slopes, flat=20.0)
    assert flat.loc[0, "flat_slope"] == int((slopes["slope_per_year"].abs() < 20).sum())


def test_knots_beyond_the_follow_up_are_left_out_and_said():
    import pandas as pd

    from immune_recovery import trajectories as tr
    data = pd.DataFrame({"years": [0.0, 0.4, 0.8, 1.2, 1.6, 1.8] * 10})
    assert tr.usable_knots(data, [0.5, 2.0]) == (0.5,)
    assert tr.knots_sentence([0.5, 2.0], (0.5,)) == (
        "Spline knots at 0.5 years (left out, too few counts after them: 2 years).")
    assert tr.usable_knots(data.iloc[:0], [0.5]) == ()


def test_a_level_is_never_predicted_beyond_the_follow_up():
    import pandas as pd

    from immune_recovery import trajectories as tr
    data = pd.DataFrame({"years": [0.0, 0.8, 1.84]})
    assert tr.prediction_time(data, 5.0) == 1.84 and tr.prediction_time(data, 1.0) == 1.0
