"""Linear mixed models on per-patient sufficient statistics.

statsmodels' ``MixedLM`` evaluates its profile log-likelihood, its score and the GLS fixed
effects in a Python loop over the groups (patients): a fit of 600 patients under Powell's
method took about 8 s, nearly all of it in that loop. :class:`SufficientMixedLM` is the same
model with those three computed for all patients at once from statistics summed once per
patient (Z'Z, Z'X, Z'y with Z the random-effects design and X the fixed-effects design) and,
per evaluation, the residuals' Z'r and r'r. The formulas are statsmodels' own (the
Sherman-Morrison-Woodbury identities of ``_smw_solver`` and ``_smw_logdet``, with the scale
profiled out): with Ψ the random-effects covariance relative to the residual variance and
M = Ψ⁻¹ + Z'Z per patient,

* V⁻¹ = I − Z M⁻¹ Z' and log|V| = log|Ψ| + log|M|;
* a'V⁻¹b = a'b − (Z'a)' M⁻¹ (Z'b) for any columns a, b of the patient's rows.

Only the arithmetic's order differs, so values agree with statsmodels to rounding
(``tests/test_mixedlm.py``). Everything else (the optimisers, the Hessian and standard errors,
the random-effects predictions, the results object) is statsmodels'. Models with variance
components or penalties, and singular covariances, are left to statsmodels; where its own
Woodbury step fails at a singular covariance, the log-likelihood there is −∞ (no optimum
there), so that an optimiser such as Powell's steps back rather than stopping with an error.

Reference: Lindstrom MJ, Bates DM. Newton-Raphson and EM algorithms for linear mixed-effects
models for repeated-measures data. J Am Stat Assoc 1988;83:1014-22.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

#: Smallest eigenvalue of the random-effects covariance taken as non-singular (statsmodels'
#: ``get_fe_params`` default).
SINGULAR_TOLERANCE = 1e-10


@dataclass(frozen=True)
class _Sums:
    """Per-patient sums, G patients, q random effects, p fixed effects."""

    code: np.ndarray  # (n,) the patient of each row, 0..G-1 in statsmodels' group order
    ztz: np.ndarray   # (G, q, q)
    ztx: np.ndarray   # (G, q, p)
    zty: np.ndarray   # (G, q)
    xtx: np.ndarray   # (p, p), summed over patients
    xty: np.ndarray   # (p,)


@dataclass(frozen=True)
class _Inverse:
    """V⁻¹ at one random-effects covariance, through M⁻¹ per patient."""

    m_inv: np.ndarray     # (G, q, q)
    logdet_v: float       # Σ log|V_i|
    xvx: np.ndarray       # (p, p) Σ X'V⁻¹X
    zvx: np.ndarray       # (G, q, p) Z'V⁻¹X per patient


def _by_patient(code: np.ndarray, n_groups: int, left: np.ndarray, right: np.ndarray
                ) -> np.ndarray:
    """Σ over each patient's rows of left[:, a] * right[:, b]: (G, a, b)."""
    out = np.empty((n_groups, left.shape[1], right.shape[1]))
    for a in range(left.shape[1]):
        for b in range(right.shape[1]):
            out[:, a, b] = np.bincount(code, left[:, a] * right[:, b], minlength=n_groups)
    return out


class SufficientMixedLM(MixedLM):
    """statsmodels ``MixedLM`` whose log-likelihood, score and GLS step are vectorised over
    patients (see the module docstring); built like it, e.g. ``from_formula``."""

    @property
    def _vectorised(self) -> bool:
        return (self.k_vc == 0 and self.k_re > 0 and self.k_fe > 0
                and getattr(self, "cov_pen", None) is None
                and getattr(self, "fe_pen", None) is None)

    @property
    def _sums(self) -> _Sums:
        if not hasattr(self, "_sums_cache"):
            code = np.empty(self.n_totobs, dtype=np.intp)
            for i, group in enumerate(self.group_labels):
                code[self.row_indices[group]] = i
            z = np.asarray(self.exog_re, dtype=float)
            x = np.asarray(self.exog, dtype=float)
            y = np.asarray(self.endog, dtype=float)[:, None]
            g = len(self.group_labels)
            self._sums_cache = _Sums(code=code, ztz=_by_patient(code, g, z, z),
                                     ztx=_by_patient(code, g, z, x),
                                     zty=_by_patient(code, g, z, y)[:, :, 0],
                                     xtx=x.T @ x, xty=x.T @ y[:, 0])
        return self._sums_cache

    def _inverse(self, cov_re: np.ndarray) -> _Inverse:
        sums = self._sums
        m = sums.ztz + np.linalg.inv(cov_re)
        m_inv = np.linalg.inv(m)
        logdet_m = np.linalg.slogdet(m)[1]
        m_inv_ztx = m_inv @ sums.ztx
        xvx = sums.xtx - np.einsum("gqp,gqr->pr", sums.ztx, m_inv_ztx)
        zvx = sums.ztx - sums.ztz @ m_inv_ztx
        logdet_v = len(m_inv) * np.linalg.slogdet(cov_re)[1] + float(np.sum(logdet_m))
        return _Inverse(m_inv=m_inv, logdet_v=logdet_v, xvx=xvx, zvx=zvx)

    def _residual_sums(self, fe_params: np.ndarray) -> tuple[np.ndarray, float]:
        """Z'r per patient (G, q) and r'r, r = y − Xβ."""
        sums = self._sums
        resid = np.asarray(self.endog, dtype=float) - np.asarray(self.exog) @ fe_params
        ztr = _by_patient(sums.code, len(sums.ztz), np.asarray(self.exog_re, dtype=float),
                          resid[:, None])[:, :, 0]
        return ztr, float(resid @ resid)

    @staticmethod
    def _singular(cov_re: np.ndarray) -> bool:
        return bool(np.linalg.eigvalsh(cov_re).min() < SINGULAR_TOLERANCE)

    def get_fe_params(self, cov_re, vcomp, tol=SINGULAR_TOLERANCE):
        """GLS fixed effects at ``cov_re`` (statsmodels' signature and result)."""
        if not self._vectorised or tol != SINGULAR_TOLERANCE or self._singular(cov_re):
            return super().get_fe_params(cov_re, vcomp, tol)
        inverse = self._inverse(cov_re)
        sums = self._sums
        xvy = sums.xty - np.einsum("gqp,gq->p", sums.ztx,
                                   np.einsum("gqr,gr->gq", inverse.m_inv, sums.zty))
        return np.linalg.solve(inverse.xvx, xvy), False

    def _packed(self, params) -> MixedLMParams:
        if type(params) is not MixedLMParams:
            params = MixedLMParams.from_packed(params, self.k_fe, self.k_re, self.use_sqrt,
                                               has_fe=False)
        return params

    def loglike(self, params, profile_fe=True):
        """The profile log-likelihood (statsmodels' ``MixedLM.loglike``)."""
        params = self._packed(params)
        cov_re = params.cov_re
        if not self._vectorised or self._singular(cov_re):
            try:
                return super().loglike(params, profile_fe)
            except np.linalg.LinAlgError:  # singular Woodbury step: no optimum there
                return -np.inf
        fe_params = self.get_fe_params(cov_re, params.vcomp)[0] if profile_fe \
            else params.fe_params
        inverse = self._inverse(cov_re)
        ztr, rtr = self._residual_sums(fe_params)
        qf = rtr - float(np.einsum("gq,gqr,gr->", ztr, inverse.m_inv, ztr))
        n = self.n_totobs - (self.k_fe if self.reml else 0)
        likeval = -inverse.logdet_v / 2.0 - n * np.log(qf) / 2.0
        if self.reml:
            likeval -= np.linalg.slogdet(inverse.xvx)[1] / 2.0
        return likeval - n * np.log(2 * np.pi) / 2.0 + n * np.log(n) / 2.0 - n / 2.0

    def score_full(self, params, calc_fe):
        """The score in the untransformed parameters (statsmodels' ``score_full``)."""
        cov_re = params.cov_re
        if not self._vectorised or self._singular(cov_re):
            return super().score_full(params, calc_fe)
        sums = self._sums
        inverse = self._inverse(cov_re)
        ztr, rtr = self._residual_sums(params.fe_params)
        m_inv_ztr = np.einsum("gqr,gr->gq", inverse.m_inv, ztr)
        rvir = rtr - float(np.einsum("gq,gq->", ztr, m_inv_ztr))
        zvr = ztr - np.einsum("gqr,gr->gq", sums.ztz, m_inv_ztr)               # Z'V⁻¹r
        zvz = (sums.ztz - sums.ztz @ inverse.m_inv @ sums.ztz).sum(axis=0)   # Σ Z'V⁻¹Z
        rvavr = np.einsum("ga,gb->ab", zvr, zvr)
        xtax = np.einsum("gap,gbr->abpr", inverse.zvx, inverse.zvx)
        xtvixi = np.linalg.inv(inverse.xvx) if self.reml else None
        fac = self.n_totobs - (self.k_fe if self.reml else 0)
        score_re = np.zeros(self.k_re2)
        jj = 0
        for j1 in range(self.k_re):
            for j2 in range(j1 + 1):
                both = 1.0 if j1 == j2 else 2.0
                score_re[jj] = (-0.5 * both * zvz[j2, j1]
                                + 0.5 * fac * both * rvavr[j1, j2] / rvir)
                if self.reml:
                    part = xtax[j1, j2] + (0.0 if j1 == j2 else xtax[j1, j2].T)
                    score_re[jj] += 0.5 * float(np.sum(xtvixi.T * part))
                jj += 1
        score_fe = np.zeros(self.k_fe)
        if calc_fe:
            xvr = (np.asarray(self.exog).T @ (np.asarray(self.endog, dtype=float)
                                              - np.asarray(self.exog) @ params.fe_params)
                   - np.einsum("gqp,gq->p", sums.ztx, m_inv_ztr))
            score_fe = fac * xvr / rvir
        return score_fe, score_re, np.zeros(self.k_vc)

    def hessian(self, params):
        """The Hessian of the profile log-likelihood in the untransformed parameters and
        whether the covariance is singular (statsmodels' ``MixedLM.hessian``): with
        W = Z'V⁻¹Z, w = Z'V⁻¹r and H = Z'V⁻¹X per patient, and E_j the derivative of the
        random-effects covariance by its j-th parameter, each term of statsmodels' loop is a
        product of these (e.g. r'V⁻¹ ∂V_k V⁻¹ ∂V_j V⁻¹r = w'E_k W E_j w)."""
        if type(params) is not MixedLMParams:
            params = MixedLMParams.from_packed(params, self.k_fe, self.k_re,
                                               use_sqrt=self.use_sqrt, has_fe=True)
        cov_re = params.cov_re
        if not self._vectorised or self._singular(cov_re):
            return super().hessian(params)
        sums = self._sums
        inverse = self._inverse(cov_re)
        ztr, rtr = self._residual_sums(params.fe_params)
        m_inv_ztr = np.einsum("gqr,gr->gq", inverse.m_inv, ztr)
        rvir = rtr - float(np.einsum("gq,gq->", ztr, m_inv_ztr))
        w = ztr - np.einsum("gqr,gr->gq", sums.ztz, m_inv_ztr)
        big_w = sums.ztz - sums.ztz @ inverse.m_inv @ sums.ztz
        h = inverse.zvx
        basis = self._derivatives()
        ew = [np.einsum("ab,gb->ga", e, w) for e in basis]
        weh = [np.einsum("gab,bc,gcp->gap", big_w, e, h) for e in basis]
        m = len(basis)
        b = np.array([float(np.einsum("ga,ga->", w, ewj)) for ewj in ew])
        hess_fere = np.array([np.einsum("gqp,gq->p", h, ewj) for ewj in ew])
        d = np.empty((m, m))
        hess_re = np.empty((m, m))
        for j in range(m):
            for k in range(m):
                d[j, k] = 2 * float(np.einsum("ga,gab,gb->", ew[k], big_w, ew[j]))
                hess_re[j, k] = 0.5 * float(np.einsum("ab,gbc,cd,gda->", basis[k], big_w,
                                                      basis[j], big_w))
        fac = self.n_totobs - (self.exog.shape[1] if self.reml else 0)
        hess_re = hess_re - 0.5 * fac * (d / rvir - np.outer(b, b) / rvir ** 2)
        if self.reml:
            ql = [np.linalg.solve(inverse.xvx, np.einsum("gap,ab,gbr->pr", h, e, h))
                  for e in basis]
            for j in range(m):
                for k in range(j + 1):
                    f = np.einsum("gap,ab,gbr->pr", h, basis[k], weh[j])
                    a = 0.5 * (float(np.sum(ql[j].T * ql[k]))
                               - np.trace(np.linalg.solve(inverse.xvx, f + f.T)))
                    hess_re[j, k] += a
                    if j > k:
                        hess_re[k, j] += a
        p = self.k_fe
        hess = np.zeros((p + m, p + m))
        hess[:p, :p] = -fac * inverse.xvx / rvir
        hess[p:, :p] = -fac * hess_fere / rvir
        hess[:p, p:] = hess[p:, :p].T
        hess[p:, p:] = hess_re
        return hess, False

    def _derivatives(self) -> list[np.ndarray]:
        """∂Ψ/∂θ_j for the lower-triangle parameters θ of Ψ in statsmodels' order."""
        out = []
        for j1 in range(self.k_re):
            for j2 in range(j1 + 1):
                e = np.zeros((self.k_re, self.k_re))
                e[j1, j2] = e[j2, j1] = 1.0
                out.append(e)
        return out
