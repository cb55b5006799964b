"""Who fails to respond: multivariable logistic regression of non-response.

The outcome is being a non-responder under one definition, among the patients in that
definition's denominator (see :mod:`immune_recovery.frequency`): immunologic non-responders
against complete responders when a viral-load rule applies, CD4 non-responders against CD4
responders otherwise. Covariates are those of :mod:`immune_recovery.covariates` that the data
set has; categorical covariates get an explicit reference level (the package's one encoder,
:func:`~immune_recovery.covariates.design_matrix`). Fitted with statsmodels ``Logit``; odds
ratios are ``exp(coef)`` with Wald 95% CIs, in the one result shape of
:mod:`immune_recovery.results` (measure ``OR``).
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.api as sm

from .classify import Classification, nonresponder_flags
from .covariates import available, design_matrix, term_label
from .exceptions import ConvergenceWarning
from .plots import forest
from .results import estimates_table


def model_frame(result: Classification, definition_id: str, patients: pd.DataFrame
                ) -> pd.DataFrame:
    """Patients in the definition's denominator with a 0/1 ``nonresponder`` column."""
    denominator, numerator = nonresponder_flags(result, definition_id)
    frame = patients.loc[denominator].copy()
    frame["nonresponder"] = numerator[denominator].astype(int)
    return frame


class NonResponseModel:
    """Logistic regression of non-response on baseline covariates.

    Parameters
    ----------
    covariates : list of str
        Candidate covariates; those absent or constant in the data are dropped (see
        ``dropped_``).
    references : dict
        Reference level of categorical covariates.
    """

    def __init__(self, covariates: list[str], references: dict[str, str] | None = None,
                 alpha: float = 0.05):
        self.covariates = covariates
        self.references = references or {}
        self.alpha = alpha

    def fit(self, frame: pd.DataFrame) -> NonResponseModel:
        self.used_ = available(frame, self.covariates)
        self.dropped_ = [c for c in self.covariates if c not in self.used_]
        data = frame[["nonresponder", *self.used_]].copy()
        for name in self.used_:
            if isinstance(data[name].dtype, pd.CategoricalDtype):
                data[name] = data[name].astype(str).where(data[name].notna())
        complete = data.dropna()
        self.n_missing_ = len(data) - len(complete)
        self.n_ = len(complete)
        self.events_ = int(complete["nonresponder"].sum())
        design = design_matrix(complete, self.used_, self.references)
        self.references_ = design.attrs["references"]
        self.terms_ = list(design.columns)
        self.formula_ = "nonresponder ~ " + " + ".join(self.terms_)  # for messages only
        self.result_ = sm.Logit(complete["nonresponder"].astype(float),
                                sm.add_constant(design, prepend=True, has_constant="add")
                                ).fit(disp=False, maxiter=200)
        if not self.result_.mle_retvals.get("converged", True):
            warnings.warn(f"logistic regression did not converge: {self.formula_}",
                          ConvergenceWarning, stacklevel=2)
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Tidy odds ratios in the one result shape (measure ``OR``)."""
        params = self.result_.params.drop("const")
        ci = self.result_.conf_int(self.alpha).drop("const")
        return estimates_table(
            term=params.index, label=[term_label(t, self.references_) for t in params.index],
            measure="OR", estimate=np.exp(params.to_numpy()), ci_low=np.exp(ci[0].to_numpy()),
            ci_high=np.exp(ci[1].to_numpy()), p=self.result_.pvalues.drop("const").to_numpy(),
            n=self.n_)

    def plot(self, marker: pd.Series | None = None, marker_name: str = "true") -> plt.Figure:
        table = self.summary
        column = None
        if marker is not None:
            column = marker_name
            table[column] = table["term"].map(marker)
        return forest(table, "estimate", "ci_low", "ci_high", xlabel="Adjusted odds ratio of "
                      "non-response (95% CI)", marker_column=column)


def truth_comparison(model: NonResponseModel, frame: pd.DataFrame, truth: pd.DataFrame,
                     true_column: str = "true_inr_gain_le100_m12",
                     suppressed_column: str = "suppressed_m12") -> pd.DataFrame:
    """The same model fitted to the simulator's latent (error-free) non-response status.

    Restricted to patients truly suppressed at the assessment, so the comparison isolates what
    measurement error and visit timing do to the odds ratios. Columns: term, label, measure,
    estimate (measured odds ratio), latent_estimate, latent_ci_low, latent_ci_high.
    """
    aligned = truth.reindex(frame.index)
    latent = frame[aligned[suppressed_column].to_numpy() == 1].copy()
    latent["nonresponder"] = aligned.loc[latent.index, true_column].astype(int)
    refit = NonResponseModel(model.used_, model.references, model.alpha).fit(latent)
    measured = model.summary.set_index("term")
    other = refit.summary.set_index("term")
    return pd.DataFrame({
        "term": measured.index,
        "label": measured["label"].to_numpy(),
        "measure": "OR",
        "estimate": measured["estimate"].to_numpy(),
        "latent_estimate": other["estimate"].reindex(measured.index).to_numpy(),
        "latent_ci_low": other["ci_low"].reindex(measured.index).to_numpy(),
        "latent_ci_high": other["ci_high"].reindex(measured.index).to_numpy(),
    })
