"""Notebooks stay thin, every parameter file is valid, every report is committed."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

from immune_recovery.paths import project_root
from immune_recovery.reporting.build import MACHINE_PATH
from immune_recovery.reporting.outputcheck import printed_raw, printed_text
from immune_recovery.reporting.spec import all_specs

NOTEBOOKS = sorted((project_root() / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell holds parameters"
    params = ast.parse(code[0].source)
    for node in params.body:
        assert isinstance(node, ast.Assign), "parameters cell holds assignments only"
        ast.literal_eval(node.value)  # literals only
    for cell in code[1:]:
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Lambda,
                                         ast.AsyncFunctionDef)), f"definition in {path.name}"
            if isinstance(node, ast.ImportFrom):
                assert not any(a.name.startswith("_") for a in node.names)
                assert (node.module or "").startswith("immune_recovery"), node.module
            if isinstance(node, ast.Import):
                assert all(a.name.startswith("immune_recovery") for a in node.names)
    assert all(not c.get("outputs") for c in code), "templates are committed without outputs"
    assert nb.metadata["kernelspec"]["name"] == "immune-recovery"


#: Report methods whose value is the page's text: shown only when displayed.
SHOWN_BY_VALUE = {"note", "summary"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_sentence_a_cell_makes_is_shown(path):
    """A ``report.note(...)`` or ``report.summary(...)`` that is not the last top-level
    expression of its cell is computed and never shown (IPython displays only that one):
    it must be passed to ``display``. Three sentences were lost that way (the RTM sentence,
    the non-proportional hazards sentence and the spline knots)."""
    for cell in [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]:
        tree = ast.parse(cell.source)
        last = tree.body[-1] if tree.body else None
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                    isinstance(node.value.func, ast.Attribute) and \
                    node.value.func.attr in SHOWN_BY_VALUE and node is not last:
                pytest.fail(f"{path.name}: {ast.unparse(node)} is never shown")


def test_every_parameter_file_is_valid_and_every_notebook_used():
    specs = all_specs()
    assert specs
    used = {s.notebook for s in specs}
    assert used == {p.stem for p in NOTEBOOKS}
    ids = {s.id for s in specs}
    for spec in specs:
        nb = nbformat.read(spec.notebook_path, as_version=4)
        params_cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        declared = {t.id for n in ast.parse(params_cell.source).body for t in n.targets}
        assert "report_id" in declared
        assert set(spec.parameters) <= declared, f"{spec.id}: unknown parameters"
        assert set(spec.depends_on) <= ids


def test_every_report_is_committed_with_its_outputs():
    root = project_root() / "reports"
    manifest = json.loads((root / "manifest.json").read_text())
    listed = {r["id"] for r in manifest["reports"]}
    assert listed == {s.id for s in all_specs()}
    for record in manifest["reports"]:
        folder = root / record["id"]
        for key in ("notebook", "html"):
            assert (folder / record["outputs"][key]).is_file()
        for rel in record["outputs"]["tables"] + record["outputs"]["figures"]:
            assert (folder / rel).is_file(), rel
        assert record["inputs"], "every report records the checksums of its inputs"
    index = (root / "index.html").read_text()
    for rid in listed:
        assert f'href="{rid}/{rid}.html"' in index


def test_published_reports_hold_no_machine_paths():
    for path in (project_root() / "reports").rglob("*"):
        if path.suffix in (".ipynb", ".html", ".json", ".csv", ".pdf", ".docx"):
            hit = MACHINE_PATH.search(
                printed_text(path) + printed_raw(path) if path.suffix in (".pdf", ".docx")
                else path.read_text())  # a PDF's link targets are in its bytes
            assert hit is None, f"{path.name} contains {hit.group(0)}"
