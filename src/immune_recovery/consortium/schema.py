"""The bundle's tables and manifest, stated once (pandera schema and manifest keys)."""

from __future__ import annotations

import pandera.pandas as pa

from ..exceptions import ParameterError
from ..meta import SCALES
from .analyses import ESTIMANDS

#: Version of the bundle's layout; bundles of different versions are never pooled.
BUNDLE_SCHEMA = 1
#: Members of the archive, in the order they are written.
MEMBERS = ("manifest.json", "estimates.csv", "covariance.csv", "quality.csv", "summary.html")
#: Keys every manifest has.
MANIFEST_KEYS = ("bundle_schema", "package_version", "source_sha256", "site", "region",
                 "close_date", "definitions", "definitions_sha256", "disclosure", "cohort",
                 "estimands", "files")

ESTIMATES_SCHEMA = pa.DataFrameSchema(
    {
        "estimand": pa.Column(str, pa.Check.isin(list(ESTIMANDS))),
        "definition": pa.Column(str),
        "stratum": pa.Column(str),
        "term": pa.Column(str),
        "scale": pa.Column(str, pa.Check.isin(list(SCALES))),
        "estimate": pa.Column(float, nullable=True),
        "se": pa.Column(float, pa.Check.gt(0), nullable=True),
        "n": pa.Column(float, pa.Check.ge(0), nullable=True),
        "events": pa.Column(float, pa.Check.ge(0), nullable=True),
        "status": pa.Column(str),
    },
    strict=True, ordered=True, coerce=True,
    unique=["estimand", "definition", "stratum", "term"],
)


def validate_manifest(manifest: dict, name: str) -> dict:
    """The manifest if it has every key (:data:`MANIFEST_KEYS`), else a clear error."""
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ParameterError(f"{name}: the manifest lacks {', '.join(missing)} (not a bundle "
                             "of this package, or of an older bundle schema)")
    return manifest
