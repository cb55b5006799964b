"""Meta-analysis: a general library with nothing question-specific in it.

Effect sizes on their analysis scale (:mod:`.effects`), tau^2 and heterogeneity
(:mod:`.heterogeneity`), the random-effects model and meta-regression with one results type
(:mod:`.models`), and the forest plot (:mod:`.forest`). As in R metafor, the pieces live apart.
"""

from __future__ import annotations

from .effects import (  # noqa: F401 (the library's public names)
    CONTINUITY,
    SCALES,
    log_ratio_from_ci,
    logit_proportion,
    one_per_study,
)
from .forest import plot_forest  # noqa: F401
from .heterogeneity import (  # noqa: F401
    TAU2_METHODS,
    cochran_q,
    i_squared,
    tau2_reml,
    tau2_statsmodels,
)
from .models import FRAME_COLUMNS, POOLED_COLUMNS, MetaAnalysis, MetaRegression  # noqa: F401
