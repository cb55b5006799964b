"""Meta-analysis: a general library with nothing question-specific in it.

Effect sizes on their analysis scale (:mod:`.effects`); tau^2, its Q-profile CI and
heterogeneity (:mod:`.heterogeneity`); the random-effects model with its diagnostics and
meta-regression, one results type (:mod:`.models`); the three-level model for several
estimates per study (:mod:`.multilevel`); the binomial-normal model for proportions
(:mod:`.glmm`); forest, funnel and influence plots (:mod:`.plots`). As in R metafor, the pieces
live apart; tests/test_metafor.py checks every feature against metafor itself.
"""

from __future__ import annotations

from .effects import (  # noqa: F401 (the library's public names)
    CONTINUITY,
    SCALES,
    log_ratio_from_ci,
    logit_proportion,
    one_per_study,
    se_from_p,
)
from .glmm import BinomialNormalMetaAnalysis  # noqa: F401
from .heterogeneity import (  # noqa: F401
    TAU2_METHODS,
    cochran_q,
    generalized_q,
    h_squared,
    i_squared,
    i_squared_q,
    tau2_estimate,
    tau2_qprofile,
    tau2_reml,
    typical_variance,
)
from .models import (  # noqa: F401
    FRAME_COLUMNS,
    MIN_STUDIES_PREDICTION,
    POOLED_COLUMNS,
    TESTS,
    MetaAnalysis,
    MetaRegression,
    TrimFill,
)
from .multilevel import MultilevelMetaAnalysis  # noqa: F401
from .plots import plot_forest, plot_funnel, plot_influence  # noqa: F401
