"""The package's floors: shared conventions defined once, analyses apart from reports, the
simulator apart from the analyses. Read from the source with ``ast`` and ``tokenize``."""

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
    "SERIOUS_NON_AIDS": "schemas",
}

#: Numbers that may be written only in ``conventions.py`` (days per year and month, z 95%).
MAGIC = {"365.25", "30.4375", "1.96", "1.959964"}

#: Modules that present results (reports, checks of the simulator) rather than compute them.
REPORT_MODULES = {"overview", "evidence", "quality", "reporting", "simcheck"}
#: Analysis modules: they compute, and import no report module.
ANALYSIS_MODULES = {"baseline", "classify", "frequency", "riskfactors", "outcomes",
                    "trajectories", "power", "sensitivity", "meta", "events", "intervals",
                    "measurements", "covariates", "definitions", "cohort", "partitioned"}
#: What the simulator may import from the package.
#: (``reference`` is the published-data loader: the CD4 error model is fitted to its rows.)
SIMULATOR_MAY_IMPORT = {"conventions", "exceptions", "hicdep", "simulate", "paths", "schemas",
                        "reference"}
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
