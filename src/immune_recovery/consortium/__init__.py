"""Many cohorts, no patient data moved: site bundles and their two-stage pooling.

A consortium runs the same pinned analyses at every site (:mod:`.analyses`); each site sends
only a disclosure-checked bundle of aggregates (:mod:`.bundle`: estimates on their analysis
scale with SEs and covariance matrices, counts that pass the minimum cell, data-quality counts,
a manifest); the coordinating centre pools them with the project's meta-analysis library
(:mod:`.pool`: random effects by REML with HKSJ intervals, prediction intervals,
leave-one-cohort-out, heterogeneity between cohorts, meta-regression on cohort-level
covariates). This is a file-based two-stage individual-participant-data meta-analysis, how
consortia such as COHERE and ART-CC already exchange results.
"""

from __future__ import annotations

from .analyses import ESTIMANDS, site_analyses  # noqa: F401
from .bundle import Bundle, build_bundle, read_bundle  # noqa: F401
from .pool import BundleMismatch, check_compatible, pool_bundles  # noqa: F401
