"""The package's floors: shared conventions defined once, every module in a layer and no import
running upward or in a cycle, analyses apart from reports, the simulator apart from the
analyses, the meta-analysis library apart from the evidence, imports at the top. Read from the
source with ``ast`` and ``tokenize``."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from immune_recovery.paths import project_root

PACKAGE = project_root() / "src" / "immune_recovery"

#: Names that have exactly one home (module relative to the package).
ONE_HOME = {
    "DAYS_PER_YEAR": "conventions", "DAYS_PER_MONTH": "conventions",
    "MISSING_DAY": "conventions", "BASELINE_WINDOW_DAYS": "conventions", "Z95": "conventions",
    "CD4_ABSOLUTE_UNIT": "conventions", "EPOCH": "conventions",
    "round_half_up": "conventions", "months_to_days": "conventions", "to_days": "conventions",
    "from_days": "conventions",
    "wilson": "intervals", "exact_poisson_ci": "intervals", "rate_ratio_ci": "intervals",
    "cohen_kappa": "intervals",
    "AIDS_DEFINING": "events", "aids_events": "events", "event_dates": "events",
    "sha256_file": "checksums", "write_if_changed": "paths",
    "nonresponder_flags": "classify", "absolute_cd4": "cohort", "published_cv": "reference",
    "SERIOUS_NON_AIDS": "schemas", "published_rates": "reference",
    "published_outcomes": "reference", "published_figure": "reference",
    "SOURCE_PATTERN": "reference", "load_claims": "reference", "Stopwatch": "timing",
    "folder_sha256": "checksums", "key_of": "staleness", "publish_staged": "staleness",
    "format_ci": "formatting", "format_interval": "formatting", "judge": "evidence.rules",
    "certainty": "evidence.rules", "MetaAnalysis": "meta.models", "plot_forest": "meta.plots",
    "select_definitions": "definitions", "coefficients_table": "results",
}

#: Every module's layer (by dotted prefix; the longest prefix wins). A module imports only
#: modules of its own layer or below.
LAYERS = {
    # 0: the floor: conventions and helpers every layer may use
    "conventions": 0, "exceptions": 0, "paths": 0, "checksums": 0, "staleness": 0,
    "formatting": 0, "timing": 0, "intervals": 0, "parallel": 0, "resources": 0, "runs": 0,
    # 1: data: tables, their schemas and readers, disclosure control, the result shapes
    "schemas": 1, "hicdep": 1, "reference": 1, "disclosure": 1, "definitions": 1, "cohort": 1,
    "measurements": 1, "events": 1, "covariates": 1, "estimable": 1, "results": 1,
    "baseline": 1, "plots": 1, "pinned": 1, "workcopy": 1, "schoenfeld": 1, "phreg": 1, "efron": 1,
    "mixedlm": 1,
    # 2: the simulator and the bundled data sets
    "simulate": 2, "datasets": 2,
    # 3: analyses, and the general meta-analysis library
    "classify": 3, "partitioned": 3, "frequency": 3, "riskfactors": 3, "outcomes": 3,
    "trajectories": 3, "lateresponse": 3, "dropout": 3, "rates": 3, "power": 3,
    "acrossdefs": 3, "meta": 3, "competing": 3,
    # 4: the evidence on the background's claims
    "evidence": 4,
    # 5: reports and checks
    "overview": 5, "quality": 5, "simcheck": 5, "reporting": 5, "consortium": 5,
    # 6: entry points
    "cli": 6, "__main__": 6, "__init__": 6,
}
#: Where an import may sit inside a function: start-up time of the command line and of the
#: report builder, optional backends.
LAZY_IMPORTS = {"cli": None, "parallel": {"dask.distributed"},
                "reporting.printed": {"playwright", "pypandoc"},
                "reporting.printserver": {"playwright"},
                "reporting.build": {"papermill", "nbconvert"},
                "reporting.notebook": {"IPython"}}
#: Longest module (lines).
MAX_LINES = 600

#: Numbers that may be written only in ``conventions.py`` (days per year and month, z 95%).
MAGIC = {"365.25", "30.4375", "1.96", "1.959964"}

#: Modules that present results (reports, checks of the simulator) rather than compute them.
REPORT_MODULES = {"overview", "evidence", "quality", "reporting", "simcheck"}
#: Analysis modules: they compute, and import no report module.
ANALYSIS_MODULES = {"baseline", "classify", "frequency", "riskfactors", "outcomes",
                    "trajectories", "power", "meta", "events", "intervals", "measurements",
                    "covariates", "definitions", "cohort", "partitioned", "lateresponse",
                    "dropout", "rates", "acrossdefs", "estimable", "results"}
#: What the simulator may import from the package.
#: (``reference`` is the published-data loader: the CD4 error model is fitted to its rows.)
SIMULATOR_MAY_IMPORT = {"conventions", "exceptions", "hicdep", "simulate", "paths", "schemas",
                        "reference", "timing"}
#: The bottom floor imports nothing of the package but itself.
BOTTOM_FLOOR = {"conventions": set(), "intervals": {"conventions"}, "checksums": set()}


def modules() -> dict[str, Path]:
    """Dotted module name (relative to the package) -> file."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(p for p in parts if p != "__init__") or "__init__"] = path
    return out


def imported(module: str, path: Path) -> set[str]:
    """First component of every package module ``module`` imports (at any depth)."""
    package = module.split(".")[:-1] if not path.name == "__init__.py" else module.split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("immune_recovery."):
                    found.add(node.module.split(".")[1])
                continue
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            target = [*base, *(node.module.split(".") if node.module else [])]
            if target:
                found.add(target[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("immune_recovery."):
                    found.add(alias.name.split(".")[1])
    return found


def targets(module: str, path: Path, known: set[str]) -> set[str]:
    """Every package module ``module`` imports, dotted (``from .x import name`` counts as
    ``x.name`` where that is a module, else ``x``)."""
    package = [] if module == "__init__" else (
        module.split(".") if path.name == "__init__.py" else module.split(".")[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if not (node.module or "").startswith("immune_recovery."):
                    continue
                base = node.module.split(".")[1:]
            else:
                base = package[: len(package) - (node.level - 1)] + (
                    node.module.split(".") if node.module else [])
            for alias in node.names:
                candidate = ".".join([*base, alias.name])
                found.add(candidate if candidate in known else ".".join(base) or alias.name)
        elif isinstance(node, ast.Import):
            found.update(".".join(a.name.split(".")[1:]) for a in node.names
                         if a.name.startswith("immune_recovery."))
    return {t for t in found if t in known and t != module}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {m: targets(m, p, set(found)) for m, p in found.items()}


def layer(module: str) -> int | None:
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)] if prefixes else None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles (each as the path that closes it), by depth-first search."""
    state, found, stack = {}, [], []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_every_module_has_a_layer_and_no_import_runs_upward_or_in_a_cycle():
    edges = graph()
    unplaced = sorted(m for m in edges if layer(m) is None)
    assert not unplaced, f"modules outside the layering: {unplaced}"
    upward = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
              for m, ts in edges.items() for t in ts if layer(t) > layer(m)]
    assert not upward, upward
    assert not cycles(edges), cycles(edges)
    imports = sum(len(t) for t in edges.values())
    print(f"\nimport graph: {len(edges)} modules, {len(set(LAYERS.values()))} layers, "
          f"{imports} imports, {len(upward)} upward, {len(cycles(edges))} cycles")


def test_the_meta_analysis_library_knows_nothing_of_the_evidence():
    edges = graph()
    for module, found in edges.items():
        if module == "meta" or module.startswith("meta."):
            assert not {t for t in found if t.split(".")[0] in {"evidence", "reference"}}, module


def test_the_assessment_computes_and_never_formats():
    edges = graph()
    presentation = {"evidence.presentation", "evidence.figures", "plots", "reporting"}
    for module in ("evidence.assessment", "evidence.evaluators", "evidence.therapy",
                   "evidence.registry", "evidence.rules",
                   "evidence.questions", "evidence.decision", "evidence.sources"):
        assert not {t for t in edges[module] if t in presentation
                    or t.startswith("reporting.")}, module


def test_no_module_is_longer_than_the_limit():
    long = {m: n for m, p in modules().items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_imports_sit_at_the_top_of_modules():
    inside = []
    for module, path in modules().items():
        allowed = LAZY_IMPORTS.get(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    name = sub.module if isinstance(sub, ast.ImportFrom) else sub.names[0].name
                    if allowed is not None and (name or "").split(".")[0] not in {
                            a.split(".")[0] for a in allowed}:
                        inside.append(f"{module}:{sub.lineno} {name}")
    assert not inside, inside


def test_the_graph_checks_see_a_cycle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert layer("evidence.rules") == 4 and layer("conventions") == 0
    assert layer("reporting.stale") > layer("staleness")


def definitions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ClassDef):
            pass
    for node in ast.walk(tree):  # methods count as definitions too
        if isinstance(node, ast.ClassDef):
            names.update(n.name for n in node.body if isinstance(n, ast.FunctionDef))
    return names


def test_each_shared_name_has_one_home():
    homes: dict[str, list[str]] = {name: [] for name in ONE_HOME}
    for module, path in modules().items():
        for name in definitions(path) & set(ONE_HOME):
            homes[name].append(module)
    wrong = {name: found for name, found in homes.items() if found != [ONE_HOME[name]]}
    assert not wrong, f"defined elsewhere or more than once: {wrong}"


def test_magic_numbers_only_in_conventions():
    hits = []
    for module, path in modules().items():
        if module == "conventions":
            continue
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        hits += [f"{module}:{t.start[0]} {t.string}" for t in tokens
                 if t.type == tokenize.NUMBER and t.string in MAGIC]
    assert not hits, hits


def test_no_inline_absolute_count_filter_or_int64_sentinel():
    pattern = re.compile(r'CD4_U"\]\s*==\s*1\b|iinfo\(np\.int64\)\.min')
    hits = [f"{m}:{i}" for m, p in modules().items() if m != "conventions"
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if pattern.search(line)]
    assert not hits, hits


@pytest.mark.parametrize("module", sorted(ANALYSIS_MODULES))
def test_analysis_modules_import_no_report_module(module):
    path = modules()[module]
    assert not imported(module, path) & REPORT_MODULES


def test_simulator_imports_no_analysis():
    for module, path in modules().items():
        if module.startswith("simulate"):
            extra = imported(module, path) - SIMULATOR_MAY_IMPORT
            assert not extra, f"{module} imports {extra}"


@pytest.mark.parametrize("module", sorted(BOTTOM_FLOOR))
def test_bottom_floor_imports_nothing_above_it(module):
    assert imported(module, modules()[module]) <= BOTTOM_FLOOR[module]


def test_the_checks_see_a_violation(tmp_path):
    """The import reader finds relative imports at any depth (so the checks can fail)."""
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from ..overview import table_one\n")
    assert imported("simulate.m", bad) == {"overview"}
    bad.write_text("from .frequency import wilson\n")
    assert imported("outcomes", bad) == {"frequency"}
