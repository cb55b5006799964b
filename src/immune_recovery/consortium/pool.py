"""Two-stage pooling of site bundles: each estimand across cohorts by random effects.

Stage one happened at each site (:mod:`.bundle`); here every estimate (estimand, definition,
stratum, term) is pooled over the sites that sent it with
:class:`~immune_recovery.meta.MetaAnalysis`: tau^2 by REML, the modified HKSJ interval (t
with k - 1 df, never narrower than the Wald interval; :data:`POOLING_TEST`), the 95% prediction interval from five cohorts on (where a new
cohort's own estimate is expected to fall), I^2, tau^2 and Cochran's Q as heterogeneity
between cohorts. For the primary estimands (:data:`PRIMARY`): leave-one-cohort-out, and
meta-regression on each cohort-level covariate in turn (median baseline CD4 per 100 cells/mm³,
median year of ART start, region), Knapp-Hartung tests, fitted only with at least
:data:`MIN_SITES_REGRESSION` cohorts. The risk-factor model's coefficients are pooled one by
one (their covariance matrices travel in the bundles for a multivariate pooling).

Bundles are pooled only when they share the bundle schema and the definitions' hash (the same
rules classified patients at every site), and each site appears once; a site that withheld an
estimate (a small count) or could not estimate it is counted, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import ParameterError
from ..meta import MetaAnalysis, MetaRegression
from ..pinned import FREQUENCY_DEFINITIONS
from .analyses import OK
from .bundle import Bundle

KEY = ["estimand", "definition", "stratum", "term"]
#: Estimates that get leave-one-cohort-out and meta-regression: every model row and the
#: overall frequency of the coverage study's definitions.
PRIMARY_FREQUENCIES = FREQUENCY_DEFINITIONS
#: Fewest cohorts for a meta-regression on one cohort-level covariate (two coefficients and
#: at least two residual degrees of freedom for the Knapp-Hartung test; ours).
MIN_SITES_REGRESSION = 4
#: Fewest cohorts for leave-one-cohort-out.
MIN_SITES_LOO = 3
#: Interval of a pooled estimate: the modified HKSJ interval (t with k - 1 df, the HKSJ scale
#: truncated at 1; Knapp & Hartung 2003, Jackson et al. Stat Med 2017;36:3923-3934). Sites of
#: one consortium often agree more closely than their SEs imply, and the plain HKSJ interval
#: then shrinks below the Wald one: on 4 sites split at random from one simulated cohort it
#: gave an SE of 0.028 for a log OR whose analysis of all patients together had 0.071.
POOLING_TEST = "adhoc"
POOLED_COLUMNS = [*KEY, "scale", "sites", "sites_withheld", "sites_not_estimable", "patients",
                  "events", "y", "se", "y_ci_low", "y_ci_high", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                  "tau2", "i2", "q_p", "flag"]
MODERATORS = {"median_baseline_cd4": "median baseline CD4 per 100 cells/mm³",
              "median_art_year": "median year of ART start",
              "region": "region"}


class BundleMismatch(ParameterError):
    """Bundles that cannot be pooled together (schema, definitions or a repeated site)."""


@dataclass
class Pooled:
    """Pooled results: ``sites`` (one row per cohort), ``pooled`` (:data:`POOLED_COLUMNS`),
    ``site_estimates`` (every site's row), ``leave_one_out``, ``metaregression``, the fits by
    key (for forest plots) and notes (differences that do not stop the pooling)."""

    sites: pd.DataFrame
    pooled: pd.DataFrame
    site_estimates: pd.DataFrame
    leave_one_out: pd.DataFrame
    metaregression: pd.DataFrame
    fits: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def check_compatible(bundles: list[Bundle]) -> list[str]:
    """Refuse bundles that cannot be pooled (:class:`BundleMismatch` naming each bundle's
    value); return notes on differences that do not stop the pooling (package versions,
    minimum cells)."""
    if len(bundles) < 2:
        raise BundleMismatch(f"pooling needs at least two bundles, got {len(bundles)}")
    sites = pd.Series([b.site for b in bundles])
    repeated = sorted(set(sites[sites.duplicated()]))
    if repeated:
        raise BundleMismatch(f"site(s) given more than once: {', '.join(repeated)} (each "
                             "cohort is counted once)")
    for key, what in (("bundle_schema", "bundle schema"),
                      ("definitions_sha256", "definitions")):
        values = {b.manifest[key] for b in bundles}
        if len(values) > 1:
            listed = "; ".join(f"{b.site} ({b.path or 'bundle'}): {str(b.manifest[key])[:12]}"
                               for b in bundles)
            raise BundleMismatch(f"the bundles differ in their {what} and are not pooled: "
                                 f"{listed}. Every site must run the same package release "
                                 "with the same definitions file.")
    notes = []
    for key, what in (("package_version", "package versions"),):
        values = sorted({b.manifest[key] for b in bundles})
        if len(values) > 1:
            notes.append(f"The sites ran different {what}: {', '.join(values)}.")
    cells = sorted({b.manifest["disclosure"]["min_cell"] for b in bundles})
    if len(cells) > 1:
        notes.append(f"The sites used different minimum cells: {cells}.")
    return notes


def sites_table(bundles: list[Bundle]) -> pd.DataFrame:
    """One row per cohort: region, covariates, close date, version, estimates sent."""
    rows = []
    for b in bundles:
        status = b.estimates["status"]
        rows.append({"site": b.site, "region": b.manifest["region"],
                     **{k: b.manifest["cohort"].get(k) for k in
                        ("patients", "median_baseline_cd4", "median_art_year")},
                     "close_date": b.manifest["close_date"],
                     "package_version": b.manifest["package_version"],
                     "estimates_sent": int((status == OK).sum()),
                     "estimates_withheld": int(status.str.startswith("withheld").sum())})
    return pd.DataFrame(rows)


def pool_bundles(bundles: list[Bundle], method: str = "REML", test: str = POOLING_TEST
                 ) -> Pooled:
    """Pool every estimate of compatible bundles (see the module docstring)."""
    notes = check_compatible(bundles)
    sites = sites_table(bundles)
    estimates = pd.concat([b.estimates.assign(site=b.site) for b in bundles],
                          ignore_index=True)
    rows, fits = [], {}
    for key, group in estimates.groupby(KEY, sort=False):
        row, fit = _pool_one(group, method, test)
        rows.append(dict(zip(KEY, key, strict=True)) | row)
        if fit is not None:
            fits[key] = fit
    pooled = pd.DataFrame(rows).reindex(columns=POOLED_COLUMNS)
    primary = [k for k in fits if is_primary(k)]
    return Pooled(sites, pooled, estimates, _leave_one_out(fits, primary),
                  _metaregression(estimates, sites, primary, method), fits, notes)


def is_primary(key: tuple) -> bool:
    estimand, definition, stratum, _ = key
    return estimand != "frequency" or (stratum == "overall" and
                                       definition in PRIMARY_FREQUENCIES)


def _pool_one(group: pd.DataFrame, method: str, test: str
              ) -> tuple[dict, MetaAnalysis | None]:
    ok = group[group["status"] == OK]
    counts = {"scale": group["scale"].iloc[0], "sites": len(ok),
              "sites_withheld": int(group["status"].str.startswith("withheld").sum()),
              "sites_not_estimable": int(group["status"].str.startswith("not estimable").sum()),
              "patients": ok["n"].sum(), "events": ok["events"].sum()}
    if ok.empty:
        return counts | {"flag": "no site could send this estimate"}, None
    fit = MetaAnalysis(method=method, scale=counts["scale"], test=test).fit(
        ok["estimate"], ok["se"], labels=ok["site"])
    first = fit.pooled_frame().iloc[0]
    analysis = fit.primary
    return counts | {"y": analysis["estimate"], "se": analysis["se"],
                     "y_ci_low": analysis["ci_low"], "y_ci_high": analysis["ci_high"]} | {
        c: first[c] for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2",
                              "i2", "q_p", "flag")}, fit


def _leave_one_out(fits: dict, keys: list) -> pd.DataFrame:
    frames = []
    for key in keys:
        fit = fits[key]
        if fit.k_ < MIN_SITES_LOO:
            continue
        frame = fit.leave_one_out().rename(columns={"study": "site_left_out"})
        frames.append(frame.assign(**dict(zip(KEY, key, strict=True)), scale=fit.scale))
    if not frames:
        return pd.DataFrame(columns=[*KEY, "site_left_out", "estimate", "ci_low", "ci_high"])
    out = pd.concat(frames, ignore_index=True)
    return out[[*KEY, "scale", "site_left_out", "estimate", "se", "ci_low", "ci_high", "tau2",
                "i2"]]


def _moderator(sites: pd.DataFrame, name: str) -> pd.DataFrame | None:
    """The design column(s) of one cohort-level covariate, or None when it does not vary."""
    values = sites.set_index("site")[name]
    if name == "region":
        values = values.fillna("").astype(str)
        if values.nunique() < 2 or (values == "").any():
            return None
        return pd.get_dummies(values, prefix="region", drop_first=True, dtype=float)
    values = pd.to_numeric(values, errors="coerce")
    if values.isna().any() or values.nunique() < 2:
        return None
    return (values / 100).rename(f"{name}_per100").to_frame() \
        if name == "median_baseline_cd4" else values.rename(name).to_frame()


def _metaregression(estimates: pd.DataFrame, sites: pd.DataFrame, keys: list, method: str
                    ) -> pd.DataFrame:
    rows = []
    ok = estimates[estimates["status"] == OK].set_index(KEY)
    for key in keys:
        data = ok.loc[[key]].set_index("site")
        for name in MODERATORS:
            design = _moderator(sites, name)
            if design is None or len(data) < max(MIN_SITES_REGRESSION, design.shape[1] + 3):
                continue
            design = design.loc[data.index]
            if (design.nunique() < 2).any():
                continue
            try:
                fit = MetaRegression(method=method, test="knha").fit(
                    data["estimate"], data["se"] ** 2, design, studies=list(data.index))
            except ValueError:  # collinear or not identified: no row
                continue
            terms = fit.summary_frame().iloc[1:]
            for term in terms.itertuples(index=False):
                rows.append(dict(zip(KEY, key, strict=True)) | {
                    "moderator": MODERATORS[name], "coefficient": term.term,
                    "slope": term.estimate, "se": term.se, "ci_low": term.ci_low,
                    "ci_high": term.ci_high, "p": term.p, "sites": fit.k_, "tau2": fit.tau2_,
                    "r2": fit.r2_})
    columns = [*KEY, "moderator", "coefficient", "slope", "se", "ci_low", "ci_high", "p",
               "sites", "tau2", "r2"]
    return pd.DataFrame(rows, columns=columns)


def differences(pooled: pd.DataFrame, full: pd.DataFrame) -> pd.DataFrame:
    """The pooled estimates beside one analysis of all patients together (analysis scale):
    difference and its size in units of the full analysis's SE."""
    full = full[full["status"] == OK].set_index(KEY)[["estimate", "se"]]
    both = pooled.set_index(KEY)[["y", "se", "sites"]].join(full, how="inner",
                                                            rsuffix="_full")
    both["difference"] = both["y"] - both["estimate"]
    both["in_se_full"] = both["difference"] / both["se_full"]
    return both.reset_index().replace([np.inf, -np.inf], np.nan)
