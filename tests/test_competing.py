"""The Aalen-Johansen estimator without jitter: equal to R survival's multi-state survfit on
tied data with delayed entry, to lifelines on untied data (estimate and CI), and never stopped
by a row censored on its entry day (issue 34: lifelines' jitter stopped the trajectories report
with "birth time must be less than time of death")."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter

from immune_recovery.competing import AalenJohansen

SCRIPT = Path(__file__).parent / "r" / "survival_aj.R"


def _r_reason() -> str:
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    run = subprocess.run(["Rscript", "-e", "library(survival)"], capture_output=True)
    return "" if run.returncode == 0 else "R package survival not installed"


def tied_cohort(seed: int = 3, n: int = 500) -> pd.DataFrame:
    """Delayed entry and event times on a 0.01-year grid: ties at entry, between causes, and
    entries on other rows' event times; some rows censored or dead on their entry day."""
    rng = np.random.default_rng(seed)
    entry = np.round(rng.uniform(0.0, 0.5, n), 2)
    time = np.round(entry + rng.exponential(1.0, n), 2)
    cause = rng.choice([0, 1, 2], n, p=[0.4, 0.4, 0.2])
    return pd.DataFrame({"entry": entry, "time": time, "cause": cause})


@pytest.mark.skipif(bool(_r_reason()), reason=f"{_r_reason()} (make test installs it)")
def test_equal_to_r_survival_on_tied_data(tmp_path):
    data = tied_cohort()
    zero = data["time"] <= data["entry"]
    assert zero.any()  # R refuses zero-length rows; the estimator leaves them out and counts
    fit = AalenJohansen().fit(data["entry"], data["time"], data["cause"], 1)
    assert fit.dropped_ == int(zero.sum())
    data[~zero].to_csv(tmp_path / "in.csv", index=False)
    subprocess.run(["Rscript", str(SCRIPT), str(tmp_path / "in.csv"), str(tmp_path / "out.csv")],
                   check=True, capture_output=True)
    r = pd.read_csv(tmp_path / "out.csv")
    ours = np.array([fit.at(t)[0] for t in r["time"]])
    assert np.abs(ours - r["cif"].to_numpy()).max() < 1e-12


def test_equal_to_lifelines_on_untied_data():
    rng = np.random.default_rng(5)
    n = 300
    entry = rng.uniform(0, 1, n)
    time = entry + rng.exponential(2, n)
    cause = rng.choice([0, 1, 2], n, p=[0.3, 0.5, 0.2])
    ours = AalenJohansen().fit(entry, time, cause, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = AalenJohansenFitter().fit(time, cause, event_of_interest=1, entry=entry)
    for t in (0.5, 1.0, 2.0, 4.0):
        known = theirs.cumulative_density_.index[theirs.cumulative_density_.index <= t][-1]
        estimate, low, high = ours.at(t)
        assert estimate == pytest.approx(float(theirs.cumulative_density_.loc[known].iloc[0]))
        assert [low, high] == pytest.approx(sorted(theirs.confidence_interval_.loc[known]))


def test_rows_censored_at_entry_and_ties_never_stop_the_estimate():
    data = tied_cohort(seed=11, n=3000)
    data.loc[data.index[:200], "time"] = data.loc[data.index[:200], "entry"]  # no follow-up
    fit = AalenJohansen().fit(data["entry"], data["time"], data["cause"], 1)
    table = fit.table_
    assert fit.dropped_ >= 200 and not fit.degenerate_
    assert table["cumulative_incidence"].is_monotonic_increasing
    inside = table["ci_low"].notna()
    assert (table.loc[inside, "ci_low"] <= table.loc[inside, "cumulative_incidence"]).all()
    again = AalenJohansen().fit(data["entry"], data["time"], data["cause"], 1).table_
    pd.testing.assert_frame_equal(table, again)  # deterministic: nothing random
