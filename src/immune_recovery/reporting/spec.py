"""Report parameter files: ``params/<report-id>.yaml``.

Each file describes one report variant::

    notebook: cohort_overview          # notebooks/<notebook>.ipynb
    title: "Cohort overview: ACTG 175"
    group: cohorts                     # section of the index page
    question: "Who was in the trial ...?"
    data: data/hicdep/actg175          # inputs (space-separated paths), for Make and checksums
    depends_on:                        # other report ids whose outputs this one reads
    parameters:                        # passed to the notebook by papermill
      cohort_path: data/hicdep/actg175
    with_sources: true                 # optional: also a PDF with its sources (evidence)

The file is read as YAML (``data`` and ``depends_on`` are space-separated lists and may be
folded over several lines); the Makefile's rules are generated from it by
:mod:`immune_recovery.reporting.stale`.

**Parameters are stated once.** The notebook's ``parameters`` cell states every parameter and
its default (:func:`notebook_defaults`); a parameter file states only what this variant
changes, and a parameter the notebook does not have is an error. The report shows the
effective parameters (:attr:`ReportSpec.effective_parameters`).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import ParameterError
from ..paths import notebooks_dir, project_root

REPORT_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
GROUPS = ("evidence", "consortium", "cohorts", "frequency", "risk-factors", "outcomes",
          "trajectories", "therapy", "simulation", "data-quality")


@dataclass(frozen=True)
class ReportSpec:
    id: str
    notebook: str
    title: str
    group: str
    question: str
    data: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    params_file: str = ""
    rerun: str = ""  #: the command that rebuilds the report (default: its make target)
    #: Also a PDF of the report with its sources (:mod:`~.sources`).
    with_sources: bool = False

    @property
    def notebook_path(self) -> Path:
        return notebooks_dir() / f"{self.notebook}.ipynb"

    @property
    def make_target(self) -> str:
        return self.rerun or f"make report-{self.id}"

    @property
    def effective_parameters(self) -> dict[str, Any]:
        """The notebook's defaults (``report_id`` aside) updated with this file's
        parameters: what the report runs with."""
        defaults = notebook_defaults(self.notebook_path)
        return {**{k: v for k, v in defaults.items() if k != "report_id"}, **self.parameters}


def notebook_defaults(path: Path) -> dict[str, Any]:
    """The parameters a notebook's ``parameters`` cell states, with their default values
    (each a ``name = <literal>`` line)."""
    return dict(_defaults(str(path), Path(path).stat().st_mtime_ns))


@lru_cache(maxsize=None)
def _defaults(path: str, mtime_ns: int) -> tuple[tuple[str, Any], ...]:
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    cell = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])),
                None)
    if cell is None:
        raise ParameterError(f"{Path(path).name}: no cell tagged 'parameters'")
    out = []
    for node in ast.parse("".join(cell["source"])).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            out.append((node.targets[0].id, ast.literal_eval(node.value)))
    return tuple(out)


def _words(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    raise ParameterError(f"{path.name}: '{key}' must be a space-separated list on one line, "
                         f"got {value!r}")


def load_spec(path: str | Path) -> ReportSpec:
    """Read and check one parameter file; errors name the file, the key and the value."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ParameterError(f"{path}: cannot read parameter file: {err}") from None
    if not isinstance(raw, dict):
        raise ParameterError(f"{path.name}: expected a mapping of keys, got {type(raw).__name__}")
    report_id = path.stem
    if not REPORT_ID.match(report_id):
        raise ParameterError(f"{path.name}: report id {report_id!r} must be lower-case letters, "
                             "digits and dashes")
    for key in ("notebook", "title", "group", "question"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ParameterError(f"{path.name}: '{key}' is required (a non-empty string)")
    if raw["group"] not in GROUPS:
        raise ParameterError(f"{path.name}: group {raw['group']!r} is not one of "
                             f"{', '.join(GROUPS)}")
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ParameterError(f"{path.name}: 'parameters' must be a mapping")
    unknown = set(raw) - {"notebook", "title", "group", "question", "data", "depends_on",
                          "parameters", "rerun", "with_sources"}
    if unknown:
        raise ParameterError(f"{path.name}: unknown key(s) {', '.join(sorted(unknown))}")
    spec = ReportSpec(
        id=report_id,
        notebook=raw["notebook"],
        title=raw["title"],
        group=raw["group"],
        question=" ".join(raw["question"].split()),
        data=_words(raw.get("data"), "data", path),
        depends_on=_words(raw.get("depends_on"), "depends_on", path),
        parameters=parameters,
        params_file=f"params/{path.name}",
        rerun=str(raw.get("rerun") or ""),
        with_sources=raw.get("with_sources") is True,
    )
    if not spec.notebook_path.is_file():
        raise ParameterError(f"{path.name}: notebook {spec.notebook!r} not found at "
                             f"notebooks/{spec.notebook}.ipynb")
    known = notebook_defaults(spec.notebook_path)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ParameterError(f"{path.name}: parameter(s) {', '.join(unknown)} not in the "
                             f"parameters cell of notebooks/{spec.notebook}.ipynb")
    return spec


def all_specs() -> list[ReportSpec]:
    return [load_spec(p) for p in sorted((project_root() / "params").glob("*.yaml"))]
