"""The Cox fitter with compiled Efron sums (:mod:`immune_recovery.efron`) against lifelines'
own and R survival's coxph (Efron ties)."""

from __future__ import annotations

import subprocess

import lifelines
import numpy as np
import pandas as pd
import pytest

from immune_recovery import efron
from immune_recovery.efron import CoxPHFitter

from .test_counting_cox import SCRIPT, _r_reason


def _data(n: int, seed: int, rounding: int, weights: bool = False) -> pd.DataFrame:
    """Three covariates (one binary) with effects, times rounded to ``rounding`` decimals
    (ties: many at 1, few at 3), censoring ~30%."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x[:, 2] = x[:, 2] > 0.3
    time = np.round(rng.exponential(np.exp(-(0.5 * x[:, 0] - 0.3 * x[:, 2]))), rounding) + 0.01
    frame = pd.DataFrame(x, columns=["x1", "x2", "x3"]).assign(
        time=time, event=(rng.random(n) < 0.7).astype(int),
        group=rng.integers(0, 2, n))
    if weights:
        frame["w"] = rng.uniform(0.5, 2.0, n)
    return frame


def _fit(cls, frame: pd.DataFrame, **kwargs):
    return cls().fit(frame, "time", "event", batch_mode=True, **kwargs)


@pytest.mark.parametrize(("n", "seed", "rounding", "options"), [
    (300, 1, 1, {}), (2000, 2, 3, {}), (1500, 3, 2, {"strata": ["group"]}),
    (1000, 4, 1, {"weights_col": "w", "robust": True})])
def test_the_fit_is_lifelines_fit(n, seed, rounding, options):
    frame = _data(n, seed, rounding, weights="weights_col" in options)
    if "strata" not in options:
        frame = frame.drop(columns="group")
    ours, theirs = _fit(CoxPHFitter, frame, **options), _fit(lifelines.CoxPHFitter, frame,
                                                             **options)
    pd.testing.assert_series_equal(ours.params_, theirs.params_, rtol=1e-12, atol=0)
    pd.testing.assert_series_equal(ours.standard_errors_, theirs.standard_errors_,
                                   rtol=1e-12, atol=0)
    assert ours.log_likelihood_ == pytest.approx(theirs.log_likelihood_, rel=1e-13)
    pd.testing.assert_frame_equal(ours.baseline_hazard_, theirs.baseline_hazard_, rtol=1e-11)


def test_the_compiled_sums_are_lifelines_sums_and_are_used(monkeypatch):
    frame = _data(800, 5, 1)
    fitted = _fit(lifelines.CoxPHFitter, frame.drop(columns="group"))
    model = fitted._model
    x = (frame[["x1", "x2", "x3"]] - model._norm_mean) / model._norm_std
    order = np.lexsort((frame["event"].to_numpy(), frame["time"].to_numpy()))
    args = (x.iloc[order], frame["time"].iloc[order], frame["event"].iloc[order].astype(bool),
            pd.Series(np.ones(len(frame))), None, np.array([0.3, -0.2, 0.1]))
    expected = model._get_efron_values_batch(*args)
    got = efron._SemiParametricPHFitter._compiled_efron_values(*args)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-10)
    calls = []
    original = efron._efron_values
    monkeypatch.setattr(efron, "_efron_values", lambda *a: calls.append(1) or original(*a))
    _fit(CoxPHFitter, frame.drop(columns="group"))
    assert calls  # the compiled sums did the fit


@pytest.mark.skipif(bool(_r_reason()), reason=_r_reason() or "R available")
def test_the_fit_is_r_coxph_efron(tmp_path):
    frame = _data(1200, 6, 1).drop(columns="group")
    ours = _fit(CoxPHFitter, frame)
    frame.assign(start=0.0, stop=frame["time"]).to_csv(tmp_path / "in.csv", index=False)
    subprocess.run(["Rscript", str(SCRIPT), str(tmp_path / "in.csv"),
                    str(tmp_path / "out.csv"), "efron"], check=True)
    r = pd.read_csv(tmp_path / "out.csv").set_index("term")
    np.testing.assert_allclose(ours.params_.to_numpy(), r["coef"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.standard_errors_.to_numpy(), r["se"].to_numpy(), rtol=1e-5)
