"""Benchmark: the trajectory report's mixed model, statsmodels' ``MixedLM`` against
:class:`immune_recovery.mixedlm.SufficientMixedLM`, under each optimiser.

The model is the report's (``sqrt_cd4 ~ years``, random intercept and slope per patient,
REML) on the CD4 counts of a simulated cohort (the simulator's default design, seed 2026),
the first ``patients`` patients by the report's seeded sample. Each optimiser's fit is timed
with both classes in the same run, and the log-likelihood and fixed effects they reach are
compared. Writes ``benchmarks/mixedlm.csv``.

Usage: ``.venv/bin/python benchmarks/mixedlm.py [patients ...]`` (default 600 3000).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.regression.mixed_linear_model import MixedLM

from immune_recovery.baseline import patient_table
from immune_recovery.cohort import Cohort
from immune_recovery.mixedlm import SufficientMixedLM
from immune_recovery.simulate import simulate_cohort
from immune_recovery.trajectories import OPTIMISERS, cd4_long, sample_patients

HERE = Path(__file__).parent
SEED = 2026
#: The database close date of the simulated cohort (as the suite benchmark's).
CLOSE = "2026-01-01"


def _fit(cls, data: pd.DataFrame, method: str):
    model = cls.from_formula("sqrt_cd4 ~ years", data, groups=data["PATIENT"],
                             re_formula="~years")
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(method=[method], reml=True)
    return time.perf_counter() - started, fit


def run(sizes: list[int]) -> pd.DataFrame:
    cohort = Cohort.from_tables(simulate_cohort(max(sizes) * 2, SEED).tables,
                                close_date=CLOSE)
    long = cd4_long(cohort, patient_table(cohort))
    rows = []
    for n in sizes:
        data = sample_patients(long, n, seed=1)
        for method in OPTIMISERS:
            reference_seconds, reference = _fit(MixedLM, data, method)
            seconds, fit = _fit(SufficientMixedLM, data, method)
            rows.append({
                "patients": data["PATIENT"].nunique(), "counts": len(data), "optimiser": method,
                "statsmodels_seconds": round(reference_seconds, 3),
                "sufficient_seconds": round(seconds, 3),
                "ratio": round(seconds / reference_seconds, 3),
                "converged_both": bool(fit.converged) and bool(reference.converged),
                "llf_difference": float(fit.llf - reference.llf),
                "max_fixed_effect_difference": float(np.max(np.abs(
                    fit.fe_params.to_numpy() - reference.fe_params.to_numpy())))})
    return pd.DataFrame(rows)


def main(argv: list[str]) -> None:
    table = run([int(a) for a in argv] or [600, 3000])
    print(table.to_string(index=False))
    table.to_csv(HERE / "mixedlm.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
