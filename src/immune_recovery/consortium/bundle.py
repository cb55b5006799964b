"""A site bundle: the aggregates one cohort sends to a consortium, nothing patient-level.

``immune-recovery bundle COHORT --name SITE --out FILE`` reads the cohort's HICDEP export (as
every report reads it: :func:`immune_recovery.cohort.load_cohort`, unreadable values read as
missing and counted), runs the pinned analyses (:mod:`.analyses`) and writes ``FILE``, a zip
archive of

``manifest.json``
    bundle schema version, package version and source hash, the definitions (ids and hash),
    the site's name and region, the database close date, the disclosure rules, the cohort-level
    covariates (patients, median baseline CD4, median year of ART start) and each member's
    sha256;
``estimates.csv``
    every estimate on its analysis scale with its SE, patients and events
    (:data:`~.analyses.ESTIMATE_COLUMNS` but the internal ``smallest_cell``);
``covariance.csv``
    the covariance matrices of the multi-parameter models;
``quality.csv``
    the data-quality checks with the rows each excluded or flagged (no example rows);
``summary.html``
    the same, to read before the bundle leaves (also written beside ``FILE``).

**Disclosure** (the rules of :mod:`immune_recovery.disclosure`): an estimate leaves the site
only when every count it reveals (patients, events and non-events; each group's patients and
events of a hazard ratio) is 0 or at least ``min_cell``, and a model only with at least
``min_dof`` residual degrees of freedom; otherwise its value, SE and counts are withheld and
its status says so. When one level of a stratified frequency, or the patients outside every
level, is withheld, the smallest other level is withheld too (secondary suppression: one
withheld level could be recovered from the overall row). Quality counts below the minimum are shown as ``<k``. Before
the archive is written, the output checker (:mod:`immune_recovery.reporting.outputcheck`)
reads every member for patient ids and dates of the export, identifier columns and small
counts; a finding stops the bundle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..cohort import Cohort, load_cohort
from ..conventions import Z95
from ..definitions import Definition, select_definitions
from ..disclosure import (
    DEFAULT_MIN_CELL,
    DEFAULT_MIN_DOF,
    DisclosureError,
    below_min_cell,
    check_min_cell,
    lone_partner,
    protect,
    rules,
    set_min_cell,
)
from ..exceptions import ParameterError
from ..meta import SCALES
from ..quality import check_table
from ..reporting.outputcheck import Secrets, check_site
from ..reporting.stale import source_sha256
from .analyses import COVARIANCE_COLUMNS, ESTIMANDS, ESTIMATE_COLUMNS, OK, site_analyses
from .schema import BUNDLE_SCHEMA, ESTIMATES_SCHEMA, MEMBERS, validate_manifest

#: Columns of ``estimates.csv`` (the internal ``smallest_cell`` stays at the site).
PUBLISHED_COLUMNS = [c for c in ESTIMATE_COLUMNS if c != "smallest_cell"]
#: A fixed time for the archive's members, so that the same aggregates give the same bytes.
ZIP_TIME = (2000, 1, 1, 0, 0, 0)


@dataclass
class Bundle:
    """A bundle as read back: its manifest and tables (and the file it came from)."""

    manifest: dict
    estimates: pd.DataFrame
    covariance: pd.DataFrame
    quality: pd.DataFrame
    path: str = ""

    @property
    def site(self) -> str:
        return self.manifest["site"]


def definitions_sha256(definitions: list[Definition]) -> str:
    """sha256 of the definitions' operational fields (ids, rules, windows; not citations), in
    id order: two sites with the same hash classified patients by the same rules."""
    fields = [{k: v for k, v in dataclasses.asdict(d).items() if k not in ("info", "source")}
              for d in sorted(definitions, key=lambda d: d.id)]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def disclose(estimates: pd.DataFrame, min_cell: int, min_dof: int, terms: int
             ) -> pd.DataFrame:
    """The rows that may leave the site (see the module docstring); ``terms``: coefficients of
    the risk-factor model (with its intercept) for the degrees-of-freedom rule."""
    out = estimates.copy()
    k = min_cell
    small = pd.Series(below_min_cell(out["smallest_cell"].to_numpy(), k), index=out.index)
    reason = pd.Series("", index=out.index, dtype=object)
    reason[small] = f"withheld: a count below the minimum cell ({k})"
    models = (out["estimand"] == "risk_factors") & (out["n"] - terms < min_dof)
    reason[models & ~small] = f"withheld: fewer than {min_dof} residual degrees of freedom"
    if k:
        reason = _strata_together(out, reason, k)
    withheld = (reason != "") & (out["status"] == OK)
    out.loc[withheld, "status"] = reason[withheld]
    out.loc[out["status"] != OK, ["estimate", "se"]] = np.nan
    out.loc[reason != "", ["n", "events"]] = np.nan  # also where not estimable anyway
    return out[PUBLISHED_COLUMNS]


def sendable(estimates: pd.DataFrame, min_cell: int = DEFAULT_MIN_CELL,
             min_dof: int = DEFAULT_MIN_DOF) -> pd.DataFrame:
    """The rows of :func:`~.analyses.site_analyses` that may leave the site (:func:`disclose`
    with the risk-factor model's coefficients counted from the rows)."""
    terms = 1 + int((estimates["estimand"] == "risk_factors").sum())
    return disclose(estimates, min_cell, min_dof, terms)


def _strata_together(estimates: pd.DataFrame, reason: pd.Series, k: int) -> pd.Series:
    """Secondary suppression of a definition's stratified rows: the levels and the patients
    outside every level (overall minus the levels) partition the overall row, so when exactly
    one of them is small or withheld, the smallest other level is withheld too (one withheld
    cell could be recovered by subtraction)."""
    freq = estimates[estimates["estimand"] == "frequency"]
    for _, rows in freq.groupby("definition", sort=False):
        overall = rows[rows["stratum"] == "overall"]
        levels = rows[rows["stratum"] != "overall"]
        if overall.empty or levels.empty:
            continue
        o = overall.iloc[0]
        rest_n, rest_x = o["n"] - levels["n"].sum(), o["events"] - levels["events"].sum()
        rest_small = below_min_cell(np.array([rest_n, rest_x, rest_n - rest_x]), k).any()
        hidden = [*(reason[levels.index] != ""), rest_small]
        partner = lone_partner(hidden, [*levels["n"], 0], [*[True] * len(levels), False])
        if partner is not None:
            reason[levels.index[partner]] = (
                "withheld: with another level it would reveal a count below the minimum cell "
                f"({k}) by subtraction")
    return reason


def build_bundle(cohort_dir: str | Path, site: str, out: str | Path, region: str = "",
                 definitions_file: str | Path | None = None, close_date: str | None = None,
                 min_cell: int = DEFAULT_MIN_CELL, min_dof: int = DEFAULT_MIN_DOF,
                 encoding: str | None = None, sep: str | None = None,
                 date_format: str | None = None) -> Bundle:
    """Run the pinned analyses on one cohort and write its bundle to ``out`` (and
    ``out``'s ``.html`` summary beside it); see the module docstring."""
    check_min_cell(min_cell)
    if not site or not site.replace("-", "").isalnum():
        raise ParameterError(f"--name {site!r}: use letters, digits and dashes")
    cohort_dir, out = Path(cohort_dir), Path(out)
    close = close_date or pd.Timestamp.today().date().isoformat()
    cohort = load_cohort(cohort_dir, name=site, close_date=close, encoding=encoding, sep=sep,
                         unreadable="missing", date_format=date_format)
    definitions = select_definitions(definitions_file=definitions_file)
    secrets = Secrets.of_export(cohort_dir, [], close)
    bundle, members = bundle_cohort(cohort, site, region, definitions, close, secrets,
                                    min_cell, min_dof)
    bundle.path = str(write_members(members, out))
    return bundle


def write_members(members: dict[str, str], out: str | Path) -> Path:
    """Write a bundle's members as the archive ``out`` (deterministic bytes) and its summary
    beside it (``.html``); returns ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_zip(out, members)
    out.with_suffix(".html").write_text(members["summary.html"], encoding="utf-8")
    return out


def bundle_cohort(cohort: Cohort, site: str, region: str, definitions: list[Definition],
                  close: str, secrets: Secrets, min_cell: int = DEFAULT_MIN_CELL,
                  min_dof: int = DEFAULT_MIN_DOF) -> tuple[Bundle, dict[str, str]]:
    """A validated cohort's bundle and its members (file name to text), the output checker
    passed over them with ``secrets`` (the export's ids and dates): what a file bundle and a
    federated site (:mod:`.federated`) both send."""
    estimates, covariance, covariates = site_analyses(cohort, definitions)
    bundle = assemble(site, region, definitions, estimates, covariance, covariates,
                      _quality(cohort.ledger, min_cell, min_dof), close, min_cell, min_dof)
    members = _members(bundle)
    _check_members(members, secrets, min_cell, min_dof)
    return bundle, members


def assemble(site: str, region: str, definitions: list[Definition],
             estimates: pd.DataFrame, covariance: pd.DataFrame, covariates: dict,
             quality: pd.DataFrame, close_date: str, min_cell: int = DEFAULT_MIN_CELL,
             min_dof: int = DEFAULT_MIN_DOF) -> Bundle:
    """A site's bundle from its analyses (:func:`~.analyses.site_analyses`): the rows that
    may leave (:func:`disclose`), the covariance of a model only when all its rows leave, the
    cohort-level covariates only for a cohort of at least ``min_cell`` patients, and the
    manifest (without the members' hashes, added when the archive is written)."""
    published = sendable(estimates, min_cell, min_dof)
    if published.loc[published["estimand"] == "risk_factors", "status"].ne(OK).any():
        covariance = covariance.iloc[0:0]
    if min_cell and covariates["patients"] < min_cell:
        covariates = dict.fromkeys(covariates, None)
    manifest = {
        "bundle_schema": BUNDLE_SCHEMA, "package_version": __version__,
        "source_sha256": source_sha256(), "site": site, "region": region,
        "close_date": str(pd.Timestamp(close_date).date()),
        "definitions": [d.id for d in definitions],
        "definitions_sha256": definitions_sha256(definitions),
        "disclosure": {"min_cell": min_cell, "min_dof": min_dof},
        "cohort": covariates, "estimands": ESTIMANDS, "files": {}}
    return Bundle(manifest, published, covariance, quality)


def _quality(ledger, min_cell: int, min_dof: int) -> pd.DataFrame:
    """Rows each data-quality check excluded or flagged, counts below the minimum as ``<k``."""
    before = rules()
    set_min_cell(min_cell, min_dof)
    try:
        return protect(check_table(ledger, with_examples=False)
                       [["rule", "hicdep", "action", "severity", "rows"]], "quality")
    finally:
        set_min_cell(before.min_cell, before.min_dof)


def _members(bundle: Bundle) -> dict[str, str]:
    tables = {"estimates.csv": bundle.estimates, "covariance.csv": bundle.covariance,
              "quality.csv": bundle.quality}
    members = {name: frame.to_csv(index=False, lineterminator="\n")
               for name, frame in tables.items()}
    members["summary.html"] = summary_html(bundle)
    manifest = {**bundle.manifest, "files": {
        name: hashlib.sha256(text.encode()).hexdigest() for name, text in members.items()}}
    bundle.manifest = manifest
    members["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    return members


def _check_members(members: dict[str, str], secrets: Secrets, min_cell: int, min_dof: int
                   ) -> None:
    """The output checker over every member; a finding stops the bundle."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bundle"
        root.mkdir()
        for name, text in members.items():
            (root / name).write_text(text, encoding="utf-8")
        check = check_site(root, min_cell, secrets, min_dof)
    if check.findings:
        found = "; ".join(f.describe(with_value=False) for f in check.findings[:10])
        raise DisclosureError(f"the bundle would disclose ({len(check.findings)} findings): "
                              f"{found}")


def _write_zip(path: Path, members: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in MEMBERS:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name])


def read_bundle(path: str | Path) -> Bundle:
    """Read and check a bundle (its members, their hashes, the manifest and the estimates'
    schema); a damaged or foreign file raises :class:`~immune_recovery.exceptions.
    ParameterError` naming it."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name).decode("utf-8") for name in MEMBERS}
    except (OSError, zipfile.BadZipFile, KeyError, UnicodeDecodeError) as err:
        raise ParameterError(f"{path.name}: not a bundle of immune-recovery ({err})") from err
    bundle = bundle_from_members(members, path.name)
    bundle.path = str(path)
    return bundle


def bundle_from_members(members: dict[str, str], name: str) -> Bundle:
    """A bundle from its members' texts (a file's, or a federated site's answer), checked
    as :func:`read_bundle` checks a file; ``name`` names it in errors."""
    missing = [m for m in MEMBERS if not isinstance(members.get(m), str)]
    if missing:
        raise ParameterError(f"{name}: not a bundle of immune-recovery (lacks "
                             f"{', '.join(missing)})")
    try:
        manifest = validate_manifest(json.loads(members["manifest.json"]), name)
    except ValueError as err:
        raise ParameterError(f"{name}: manifest.json is not JSON ({err})") from err
    for member, digest in manifest["files"].items():
        if hashlib.sha256(members.get(member, "").encode()).hexdigest() != digest:
            raise ParameterError(f"{name}: {member} does not match its sha256 in the "
                                 "manifest (changed after it was written)")
    estimates = ESTIMATES_SCHEMA.validate(pd.read_csv(io.StringIO(members["estimates.csv"]),
                                                      keep_default_na=False, na_values=[""]))
    covariance = pd.read_csv(io.StringIO(members["covariance.csv"]))
    quality = pd.read_csv(io.StringIO(members["quality.csv"]), dtype=str,
                          keep_default_na=False)
    return Bundle(manifest, estimates, covariance.reindex(columns=COVARIANCE_COLUMNS), quality)


def reporting_scale(estimates: pd.DataFrame) -> pd.DataFrame:
    """Estimates with their 95% Wald CI back on the reporting scale (proportion, ratio)."""
    z = Z95
    out = estimates.copy()
    for column, sign in (("value", 0), ("ci_low", -1), ("ci_high", 1)):
        y = out["estimate"] + sign * z * out["se"]
        out[column] = [SCALES[s](v) for s, v in zip(out["scale"], y, strict=True)]
    return out


def summary_html(bundle: Bundle) -> str:
    """The bundle as a page to read before it leaves: manifest, estimates, quality."""
    m = bundle.manifest
    shown = reporting_scale(bundle.estimates)
    counts = shown["status"].map(lambda s: "sent" if s == OK else s.split(":")[0])
    facts = pd.DataFrame({"item": ["site", "region", "close date", "package version",
                                   "definitions", "minimum cell", "estimates sent",
                                   "estimates withheld", "not estimable"],
                          "value": [m["site"], m["region"] or "(not given)", m["close_date"],
                                    m["package_version"], str(len(m["definitions"])),
                                    str(m["disclosure"]["min_cell"]),
                                    str(int((counts == "sent").sum())),
                                    str(int((counts == "withheld").sum())),
                                    str(int((counts == "not estimable").sum()))]})
    table = shown[["estimand", "definition", "stratum", "term", "value", "ci_low", "ci_high",
                   "n", "events", "status"]]
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>Bundle of {html.escape(m['site'])}</title>",
             "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
             "table{border-collapse:collapse;font-size:90%}td,th{padding:2px 8px;"
             "border-bottom:1px solid #ddd;text-align:left}</style></head><body>",
             f"<h1>Bundle of site {html.escape(m['site'])}</h1>",
             "<p>Everything this file sends to the consortium: aggregates only, each checked "
             "against the disclosure rules. Read it before it leaves the site.</p>",
             facts.to_html(index=False, border=0),
             "<h2>Estimates</h2><p>On the reporting scale (proportion, odds or hazard ratio) "
             "with a 95% Wald CI; the bundle itself holds them on the analysis scale with "
             "their SE.</p>",
             table.to_html(index=False, border=0, float_format=lambda v: f"{v:.3f}",
                           na_rep=""),
             "<h2>Data quality</h2>", bundle.quality.to_html(index=False, border=0),
             "</body></html>\n"]
    return "\n".join(parts)
