"""Cox models on (start, stop] counting-process data: a follow-up split on an event day is not
in that day's risk set twice (issue 34: statsmodels PHReg counts a row at risk from its entry
time, so time-split log hazard ratios differed from R's by up to 0.003)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from immune_recovery.outcomes import counting_process_ranks, time_split_cox

SCRIPT = Path(__file__).parent / "r" / "survival_coxph.R"


def _r_reason() -> str:
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    run = subprocess.run(["Rscript", "-e", "library(survival)"], capture_output=True)
    return "" if run.returncode == 0 else "R package survival not installed"


def survival_data(seed: int = 1, n: int = 400) -> pd.DataFrame:
    """Times on a 0.1-year grid (ties), one covariate with an effect, events at the split."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    time = np.round(rng.exponential(np.exp(-0.5 * x)), 1) + 0.1
    event = (rng.random(n) < 0.7).astype(int)
    return pd.DataFrame({"x": x, "time_years": time, "event": event})


def split(data: pd.DataFrame, cut: float) -> pd.DataFrame:
    """Each patient's follow-up split at ``cut`` into (0, cut] and (cut, time]."""
    first = pd.DataFrame({"start": 0.0, "stop": np.minimum(data["time_years"], cut),
                          "event": np.where(data["time_years"] > cut, 0, data["event"]),
                          "x1": data["x"]})
    later = data[data["time_years"] > cut]
    second = pd.DataFrame({"start": cut, "stop": later["time_years"], "event": later["event"],
                           "x1": later["x"]})
    return pd.concat([first, second], ignore_index=True)


def phreg(frame: pd.DataFrame, ranks: bool) -> float:
    entry, stop = (counting_process_ranks(frame["start"], frame["stop"]) if ranks
                   else (frame["start"].to_numpy(), frame["stop"].to_numpy()))
    return float(sm.PHReg(stop, frame[["x1"]].to_numpy(), status=frame["event"].to_numpy(),
                          entry=entry, ties="breslow").fit().params[0])


def test_splitting_on_an_event_day_leaves_the_fit_unchanged():
    data = survival_data()
    cut = float(np.median(data.loc[data["event"] == 1, "time_years"]))
    assert ((data["time_years"] == cut) & (data["event"] == 1)).sum() > 0  # events at the cut
    whole = float(sm.PHReg(data["time_years"].to_numpy(), data[["x"]].to_numpy(),
                           status=data["event"].to_numpy(), ties="breslow").fit().params[0])
    episodes = split(data, cut)
    assert phreg(episodes, ranks=True) == pytest.approx(whole, abs=1e-10)
    assert abs(phreg(episodes, ranks=False) - whole) > 1e-3  # the rule this replaces


def test_ranks_keep_order_and_put_entries_after_same_day_events():
    entry, stop = counting_process_ranks([0.0, 1.0, 1.0], [1.0, 2.0, 1.5])
    assert (entry < stop).all()
    assert entry[1] > stop[0]  # entry at 1.0 after the event at 1.0


@pytest.mark.skipif(bool(_r_reason()), reason=f"{_r_reason()} (make test installs it)")
def test_time_split_cox_equals_r_coxph_with_start_stop_counting(tmp_path):
    """The package's time-split Cox model on tied data, cut on an event day, against R's
    ``coxph(Surv(start, stop, event) ~ ...)`` on the same episodes."""
    data = survival_data(seed=2, n=500)
    cut = float(np.median(data.loc[data["event"] == 1, "time_years"]))
    table = time_split_cox(data, ["x"], ["x"], [cut]).set_index("term")
    episodes = split(data, cut)
    episodes["x1"] = episodes["x1"] * (episodes["start"] == 0)
    episodes["x2"] = split(data, cut)["x1"] * (episodes["start"] == cut)
    episodes.to_csv(tmp_path / "in.csv", index=False)
    subprocess.run(["Rscript", str(SCRIPT), str(tmp_path / "in.csv"), str(tmp_path / "out.csv")],
                   check=True, capture_output=True)
    r = pd.read_csv(tmp_path / "out.csv")
    ours = np.log(table["estimate"].to_numpy())
    assert np.abs(ours - r["coef"].to_numpy()).max() < 1e-6
