"""Meta-analysis: the general random-effects library (:mod:`.pooling`) and the IL-2 trials'
synthesis built on the reference tables (:mod:`.il2`)."""

from __future__ import annotations

from .il2 import (  # noqa: F401 (used as meta.<name> by the IL-2 report)
    ENDPOINTS,
    META_COLUMNS,
    cd4_effects,
    clinical_summary,
    comparable_groups,
    hazard_ratio_inputs,
    load_clinical_trials,
    load_il2_trials,
    plot_forest,
    plot_surrogate,
    pool,
)
from .pooling import (  # noqa: F401 (the library's public names)
    CONTINUITY,
    SCALES,
    TAU2_METHODS,
    MetaAnalysis,
    MetaRegression,
    cochran_q,
    i_squared,
    log_ratio_from_ci,
    logit_proportion,
    one_per_study,
    tau2_reml,
    tau2_statsmodels,
)
