"""Claims and their declared sources.

``data/reference/claims.csv`` (read through its schema, :func:`immune_recovery.reference.
load_claims`) holds one row per checkable claim of the background text: its id, a short
paraphrase, the quoted passage, the kind of evidence that would test it, the tables that hold
that evidence (``sources``) and the data that would test it where ours cannot
(``data_needed``). A source is written ``<report-id>/<table>.csv[col col ...]`` (a table of
another report, found through ``reports/manifest.json``) or ``reference/<file>.csv[col ...]``
(a reference table under ``data/reference/``). A claim's evaluator may read only what its claim
declares (:class:`ClaimSources`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..exceptions import EvidenceError
from ..paths import reference_dir, relative_to_root, resolve
from ..reference import SOURCE_PATTERN, load


@dataclass(frozen=True)
class SourceRef:
    """One declared source: a report's table (``location`` = report id) or a reference table
    (``location`` = ``"reference"``), and the columns the claim reads."""

    location: str
    table: str
    columns: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.location}/{self.table}"

    @property
    def is_reference(self) -> bool:
        return self.location == "reference"


def parse_sources(text: str, claim_id: str = "") -> tuple[SourceRef, ...]:
    """Parse a ``sources`` cell; a malformed entry raises :class:`EvidenceError`."""
    refs = []
    for entry in str(text).split(";"):
        if not entry.strip():
            continue
        match = SOURCE_PATTERN.match(entry)
        if match is None:
            raise EvidenceError(f"claims.csv, claim {claim_id!r}, column sources: {entry.strip()!r} "
                                "is not of the form <report-id>/<table>.csv[col col ...]")
        columns = tuple(match["columns"].split())
        if not columns:
            raise EvidenceError(f"claims.csv, claim {claim_id!r}: source {entry.strip()!r} "
                                "names no columns")
        refs.append(SourceRef(match["location"], match["table"], columns))
    return tuple(refs)


class TableStore:
    """Reads report tables through ``manifest.json`` and reference tables from
    ``data/reference`` (through their schemas, :func:`immune_recovery.reference.load`). ``reports_root`` is where the reports being cited live (the committed
    ``reports/``), not where this report writes its own outputs."""

    def __init__(self, reports_root: str | Path = "reports",
                 reference_root: str | Path | None = None):
        self.reports_root = resolve(reports_root)
        self.reference_root = Path(reference_root) if reference_root else reference_dir()
        manifest_path = self.reports_root / "manifest.json"
        if not manifest_path.is_file():
            raise EvidenceError(f"{manifest_path.name} not found in the reports folder: build "
                                "the reports first (make reports)")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        self.records = {r["id"]: r for r in manifest["reports"]}
        self._cache: dict[str, pd.DataFrame] = {}

    def path(self, ref: SourceRef) -> Path:
        """The file a source points to; :class:`EvidenceError` if the manifest lacks it."""
        if ref.is_reference:
            path = self.reference_root / ref.table
        else:
            record = self.records.get(ref.location)
            if record is None:
                raise EvidenceError(f"source {ref.key}: no report {ref.location!r} in "
                                    "manifest.json")
            if f"tables/{ref.table}" not in record["outputs"]["tables"]:
                raise EvidenceError(f"source {ref.key}: report {ref.location!r} has no table "
                                    f"{ref.table!r} (it has: "
                                    f"{', '.join(Path(t).name for t in record['outputs']['tables'])})")
            path = self.reports_root / ref.location / "tables" / ref.table
        if not path.is_file():
            raise EvidenceError(f"source {ref.key}: file not found")
        return path

    def read(self, ref: SourceRef) -> pd.DataFrame:
        """The declared columns of a source; :class:`EvidenceError` names any missing one."""
        if ref.key not in self._cache:
            path = self.path(ref)
            self._cache[ref.key] = (load(path.stem, path) if ref.is_reference
                                    else pd.read_csv(path))
        table = self._cache[ref.key]
        missing = [c for c in ref.columns if c not in table.columns]
        if missing:
            raise EvidenceError(f"source {ref.key}: no column(s) {', '.join(missing)}")
        return table[list(ref.columns)].copy()

    def input_files(self, claims: pd.DataFrame) -> list[str]:
        """Every distinct file the claims cite, project-relative (for provenance checksums)."""
        files = {relative_to_root(self.path(ref)) for claim in claims.itertuples(index=False)
                 for ref in parse_sources(claim.sources, claim.claim_id)}
        return sorted(files)

    def parameters(self, report_id: str) -> dict:
        """The parameters a cited report was built with (from the manifest)."""
        if report_id not in self.records:
            raise EvidenceError(f"no report {report_id!r} in manifest.json")
        return self.records[report_id]["parameters"]


def check_sources(claims: pd.DataFrame, store: TableStore) -> pd.DataFrame:
    """One row per declared source: claim, source, whether it resolves, and the problem if not.

    Used by the tests (a claim pointing to a missing table or column fails) and shown in the
    report.
    """
    rows = []
    for claim in claims.itertuples(index=False):
        for ref in parse_sources(claim.sources, claim.claim_id):
            try:
                store.read(ref)
                problem = ""
            except EvidenceError as err:
                problem = str(err)
            rows.append({"claim_id": claim.claim_id, "source": ref.key,
                         "columns": " ".join(ref.columns), "ok": problem == "",
                         "problem": problem})
    return pd.DataFrame(rows, columns=["claim_id", "source", "columns", "ok", "problem"])


@dataclass
class ClaimSources:
    """The sources one claim declares; reading anything else is an error."""

    claim_id: str
    refs: tuple[SourceRef, ...]
    store: TableStore

    def table(self, key: str) -> pd.DataFrame:
        for ref in self.refs:
            if ref.key == key:
                return self.store.read(ref)
        raise EvidenceError(f"claim {self.claim_id!r} reads {key}, which its sources in "
                            "claims.csv do not declare")

    def parameter(self, report_id: str, name: str) -> object:
        return self.store.parameters(report_id).get(name)
