"""The mixed model on sufficient statistics against statsmodels' own ``MixedLM``: the same
log-likelihood, score and GLS fixed effects at any parameter, the same fits under every
optimiser, and statsmodels itself where the vectorised formulas do not apply."""

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

from immune_recovery.mixedlm import SufficientMixedLM
from immune_recovery.trajectories import OPTIMISERS


def _data(patients: int = 80, seed: int = 3) -> pd.DataFrame:
    """Unbalanced repeated counts: 1 to 12 rows per patient, a random intercept and slope,
    two arms."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(1, 13, patients)
    pid = np.repeat(np.arange(patients), rows)
    years = np.concatenate([np.sort(rng.uniform(0, 5, k)) for k in rows])
    arm = np.repeat(rng.integers(0, 2, patients), rows)
    b0, b1 = rng.normal(0, 3, patients), rng.normal(0, 0.5, patients)
    y = 15 + b0[pid] + (0.8 + 0.3 * arm + b1[pid]) * years + rng.normal(0, 1.5, len(pid))
    return pd.DataFrame({"PATIENT": pid, "years": years, "arm": arm, "sqrt_cd4": y,
                         "site": pid % 4})


MODELS = [("sqrt_cd4 ~ years", "~1"), ("sqrt_cd4 ~ years * C(arm)", "~years"),
          ("sqrt_cd4 ~ years + I(years ** 2)", "~years + I(years ** 2)")]


def _pair(data, formula, re_formula, reml, **kwargs):
    models = [cls.from_formula(formula, data, groups=data["PATIENT"], re_formula=re_formula,
                               **kwargs) for cls in (MixedLM, SufficientMixedLM)]
    for model in models:  # what ``fit`` sets before it evaluates anything
        model.reml, model.cov_pen, model.fe_pen, model._freepat = reml, None, None, None
        model._cov_sing = 0
    return models


def _random_covariance(model, rng) -> np.ndarray:
    """Packed (Cholesky) random-effects parameters near a diagonal covariance."""
    lower = np.tril_indices(model.k_re)
    return np.eye(model.k_re)[lower] * rng.uniform(0.3, 2) + rng.normal(0, 0.3, model.k_re2)


def _cov(model, packed):
    return MixedLMParams.from_packed(packed, model.k_fe, model.k_re, model.use_sqrt,
                                     has_fe=False).cov_re


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("formula", "re_formula"), MODELS)
def test_the_likelihood_score_and_gls_step_are_statsmodels(formula, re_formula, reml):
    statsmodels_model, model = _pair(_data(), formula, re_formula, reml)
    rng = np.random.default_rng(7)
    for _ in range(5):
        packed = _random_covariance(model, rng)
        assert model.loglike(packed) == pytest.approx(statsmodels_model.loglike(packed),
                                                      rel=1e-12)
        np.testing.assert_allclose(model.score(packed), statsmodels_model.score(packed),
                                   rtol=1e-8, atol=1e-8)
        cov_re = _cov(model, packed)
        np.testing.assert_allclose(model.get_fe_params(cov_re, np.array([]))[0],
                                   statsmodels_model.get_fe_params(cov_re, np.array([]))[0],
                                   rtol=1e-8, atol=1e-9)
        full = MixedLMParams.from_packed(np.concatenate(
            [rng.normal(0, 1, model.k_fe), packed]), model.k_fe, model.k_re, model.use_sqrt,
            has_fe=True)
        assert model.loglike(full, profile_fe=False) == pytest.approx(
            statsmodels_model.loglike(full, profile_fe=False), rel=1e-12)
        for got, want in zip(model.score_full(full, calc_fe=True),
                             statsmodels_model.score_full(full, calc_fe=True)):
            np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("method", OPTIMISERS)
def test_each_optimiser_finds_the_fit_statsmodels_finds(method):
    data = _data(patients=150)
    fits = []
    for cls in (MixedLM, SufficientMixedLM):
        model = cls.from_formula("sqrt_cd4 ~ years * C(arm)", data, groups=data["PATIENT"],
                                 re_formula="~years")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(model.fit(method=[method], reml=True))
    want, got = fits
    assert got.converged == want.converged
    assert got.llf == pytest.approx(want.llf, rel=1e-10)
    np.testing.assert_allclose(got.fe_params, want.fe_params, rtol=1e-6)
    np.testing.assert_allclose(got.bse_fe, want.bse_fe, rtol=1e-5)
    np.testing.assert_allclose(got.cov_re, want.cov_re, rtol=1e-5)
    assert got.scale == pytest.approx(want.scale, rel=1e-6)


def test_variance_components_and_singular_covariances_are_left_to_statsmodels():
    data = _data()
    statsmodels_model, model = _pair(data, "sqrt_cd4 ~ years", "~1", True,
                                     vc_formula={"site": "0 + C(site)"})
    packed = np.array([1.0, 0.5])
    assert model.loglike(packed) == statsmodels_model.loglike(packed)
    statsmodels_model, model = _pair(data, "sqrt_cd4 ~ years", "~years", True)
    singular = np.array([1.0, 0.0, 0.0])  # a zero slope variance
    assert model.loglike(singular) == statsmodels_model.loglike(singular)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that the covariance is singular
        np.testing.assert_array_equal(model.score(singular), statsmodels_model.score(singular))


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("formula", "re_formula"), MODELS)
def test_the_hessian_is_statsmodels(formula, re_formula, reml):
    statsmodels_model, model = _pair(_data(), formula, re_formula, reml)
    rng = np.random.default_rng(11)
    for _ in range(3):
        packed = np.concatenate([rng.normal(0, 1, model.k_fe), _random_covariance(model, rng)])
        full = MixedLMParams.from_packed(packed, model.k_fe, model.k_re, model.use_sqrt,
                                         has_fe=True)
        got, got_singular = model.hessian(full)
        want, want_singular = statsmodels_model.hessian(full)
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * np.abs(want).max())
        assert got_singular == want_singular
