"""Report pipeline: parameter files, publishing, failure handling, manifest and index."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from immune_recovery.exceptions import ParameterError
from immune_recovery.paths import project_root
from immune_recovery.reporting import build, cohort_site, site, stale
from immune_recovery.reporting.spec import all_specs, load_spec, notebook_defaults

PARAMS = """\
notebook: {notebook}
title: "A test report"
group: cohorts
question: "Does it work?"
data: data/manifest
depends_on:
parameters:
  value: 3
"""


def make_project(tmp_path: Path, cells: list[str]) -> Path:
    """A scratch project root with one notebook and one parameter file."""
    root = tmp_path / "proj"
    for sub in ("notebooks", "params", "data", "reports"):
        (root / sub).mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='scratch'\n")
    shutil.copy(project_root() / "data" / "manifest", root / "data" / "manifest")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "immune-recovery", "display_name": "ir",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    first = nbformat.v4.new_code_cell('report_id = "x"\nvalue = 1')
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, root / "notebooks" / "scratch.ipynb")
    (root / "params" / "scratch-report.yaml").write_text(PARAMS.format(notebook="scratch"))
    return root


def test_spec_errors_name_the_file_and_key(tmp_path, monkeypatch):
    root = make_project(tmp_path, [])
    monkeypatch.setenv("IMMUNE_RECOVERY_ROOT", str(root))
    spec = load_spec(root / "params" / "scratch-report.yaml")
    assert spec.id == "scratch-report" and spec.data == ("data/manifest",)
    bad = root / "params" / "bad.yaml"
    bad.write_text(PARAMS.format(notebook="missing"))
    with pytest.raises(ParameterError, match="bad.yaml: notebook 'missing' not found"):
        load_spec(bad)
    bad.write_text(PARAMS.format(notebook="scratch").replace("group: cohorts", "group: misc"))
    with pytest.raises(ParameterError, match="group 'misc' is not one of"):
        load_spec(bad)
    bad.write_text(PARAMS.format(notebook="scratch").replace("value: 3", "valeu: 3"))
    with pytest.raises(ParameterError, match="parameter.s. valeu not in the parameters cell"):
        load_spec(bad)
    assert spec.effective_parameters == {"value": 3}, "the file's value over the default"


def test_parameters_are_stated_once():
    """The notebook's parameters cell states each default; a parameter file and the cohort
    site state only what they change, and the report shows the effective parameters."""
    restated = {s.id: [k for k, v in s.parameters.items()
                       if notebook_defaults(s.notebook_path).get(k, object()) == v]
                for s in all_specs()}
    assert not {k: v for k, v in restated.items() if v}, restated
    per_run = {"encoding", "sep", "examples_file", "time_varying"}  # values of the run
    for kind, notebook, _ in cohort_site.KINDS:
        defaults = notebook_defaults(project_root() / "notebooks" / f"{notebook}.ipynb")
        for present in ({"tblBAS", "tblLAB_CD4"}, {"tblBAS", "tblLAB_CD4", "tblLAB_RNA",
                                                    "tblLTFU"}):
            stated = cohort_site._parameters(kind, "c", present, "d.yaml", "2020-01-01", 10, "",
                                             ("c", "", ""))
            assert set(stated) <= set(defaults), kind
            assert {k for k, v in stated.items() if defaults[k] == v} <= per_run, kind
    trajectories = next(s for s in all_specs() if s.id == "trajectories-synthetic")
    assert trajectories.effective_parameters["mixed_formula"] == "sqrt_cd4 ~ years"


@pytest.mark.slow
def test_build_publishes_and_a_failure_publishes_nothing(tmp_path, monkeypatch):
    root = make_project(tmp_path, [
        "from immune_recovery.reporting.notebook import Report\n"
        "import pandas as pd\n"
        "r = Report(report_id)\n"
        "r.table(pd.DataFrame({'value': [value]}), 'values')",
    ])
    monkeypatch.setenv("IMMUNE_RECOVERY_ROOT", str(root))
    monkeypatch.delenv("IMMUNE_RECOVERY_REPORTS_DIR", raising=False)
    target = build.build_report(root / "params" / "scratch-report.yaml")
    assert target == root / "reports" / "scratch-report"
    assert (target / "tables" / "values.csv").read_text() == "value\n3\n"
    record = json.loads((target / "report.json").read_text())
    assert record["parameters"] == {"value": 3}
    assert record["inputs"][0]["path"] == "data/manifest"
    # the build records the key the staleness check computes, so Make sees it as current
    assert record["build_key"] == stale.current_keys(root)["scratch-report"]
    assert record["source_sha256"] == stale.source_sha256(root)
    assert stale.stale_reports(root) == []
    nb = nbformat.read(target / "scratch-report.ipynb", as_version=4)
    assert "papermill" not in nb.metadata
    assert any(c.get("id") == "injected-parameters" for c in nb.cells)
    html = (target / "scratch-report.html").read_text()
    assert "r.table(" not in html, "code is hidden in the HTML"

    # now make the notebook fail: the published report must stay as it was
    nb_path = root / "notebooks" / "scratch.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise ValueError('boom')"))
    nbformat.write(nb, nb_path)
    before = (target / "report.json").read_text()
    assert stale.stale_reports(root) == ["scratch-report"], "an edited notebook is stale"
    with pytest.raises(build.ReportBuildError, match="ValueError: boom"):
        build.build_report(root / "params" / "scratch-report.yaml")
    assert (target / "report.json").read_text() == before
    assert (root / "build" / "staging" / "scratch-report" / "scratch-report.ipynb").is_file()


def test_sanitize_refuses_machine_paths(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{tmp_path}\n")]
    nb.cells = [cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(build.ReportBuildError, match="machine path"):
        build.sanitize_notebook(path)


def test_site_lists_reports_by_group(tmp_path):
    for rid, group in (("b-report", "cohorts"), ("a-report", "frequency")):
        folder = tmp_path / rid
        folder.mkdir()
        (folder / "report.json").write_text(json.dumps({
            "id": rid, "title": rid.upper(), "group": group, "question": "Q?",
            "parameters": {"k": 1}, "make_target": f"make report-{rid}",
            "outputs": {"notebook": f"{rid}.ipynb", "html": f"{rid}.html",
                        "tables": ["tables/t.csv"], "figures": []},
            "inputs": [{"path": "data/x/y.csv", "sha256": "0" * 64}],
            "git_commit": "abc", "built_at": "2026-01-01T00:00:00Z"}))
    manifest, index = site.build_site(tmp_path)
    ids = [r["id"] for r in json.loads(manifest.read_text())["reports"]]
    assert ids == ["b-report", "a-report"]  # cohorts come before frequency
    text = index.read_text()
    assert text.index("B-REPORT") < text.index("A-REPORT")
    assert 'href="a-report/tables/t.csv"' in text


def test_reports_dir_override(monkeypatch, tmp_path):
    from immune_recovery.paths import reports_dir

    monkeypatch.setenv("IMMUNE_RECOVERY_REPORTS_DIR", str(tmp_path))
    assert reports_dir() == tmp_path.resolve()


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                   check=True, capture_output=True)


def test_commit_is_recorded_only_for_a_clean_source_tree(tmp_path, monkeypatch):
    from immune_recovery.reporting.provenance import code_identity, git_commit

    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("x = 1\n")
    monkeypatch.setenv("IMMUNE_RECOVERY_ROOT", str(root))
    assert git_commit() is None, "not a git checkout"
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "one")
    commit = git_commit()
    assert commit is not None and len(commit) == 40
    (root / "reports").mkdir()
    (root / "reports" / "r.txt").write_text("built\n")
    assert git_commit() == commit, "reports are outputs, not source"
    (root / "src" / "a.py").write_text("x = 2\n")
    assert git_commit() is None, "uncommitted source: no commit a reader could check out"
    assert code_identity(None, "ab" * 32) == "source tree sha256 " + "ab" * 6
    assert code_identity(commit, "ab" * 32) == f"commit {commit[:12]}"


def test_source_hash_changes_with_content_not_file_times(tmp_path):
    root = tmp_path / "proj"
    package = root / "src" / "immune_recovery"
    (package / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    first = stale.source_sha256(root)
    (package / "__pycache__" / "a.pyc").write_bytes(b"cache")
    (package / "a.py").touch()
    assert stale.source_sha256(root) == first
    (package / "a.py").write_text("x = 2\n")
    assert stale.source_sha256(root) != first
    (package / "a.py").write_text("x = 1\n")
    (package / "b.py").write_text("")
    assert stale.source_sha256(root) != first, "an added file changes the tree"


def test_a_kernel_that_died_at_start_is_started_again(tmp_path, monkeypatch):
    """Parallel kernels can pick the same port; the loser dies before replying to kernel_info.
    That is retried; a notebook's own failure or another RuntimeError is not."""
    import papermill

    root = make_project(tmp_path, [])
    monkeypatch.setenv("IMMUNE_RECOVERY_ROOT", str(root))
    monkeypatch.setattr(build.time, "sleep", lambda seconds: None)
    spec = load_spec(root / "params" / "scratch-report.yaml")
    calls = []

    def flaky(*args, **kwargs):
        calls.append(kwargs["kernel_name"])
        if len(calls) < build.KERNEL_START_ATTEMPTS:
            raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    build._execute(spec, tmp_path / "out.ipynb")
    assert len(calls) == build.KERNEL_START_ATTEMPTS

    def always_dies(*args, **kwargs):
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(papermill, "execute_notebook", always_dies)
    with pytest.raises(build.ReportBuildError, match="failed to start 3 times"):
        build._execute(spec, tmp_path / "out.ipynb")

    def other(*args, **kwargs):
        raise RuntimeError("something else")

    monkeypatch.setattr(papermill, "execute_notebook", other)
    with pytest.raises(RuntimeError, match="something else"):
        build._execute(spec, tmp_path / "out.ipynb")


def test_nbval_kernels_that_died_at_start_are_started_again(monkeypatch):
    from tests import nbval_kernel_retry as plugin

    monkeypatch.setattr(build.time, "sleep", lambda seconds: None)
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) < 2:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return "km", "kc"

    monkeypatch.setattr(plugin, "_start_new_kernel", flaky)
    assert plugin.start_new_kernel(kernel_name="k") == ("km", "kc") and len(calls) == 2
    import nbval.kernel

    assert nbval.kernel.start_new_kernel is plugin.start_new_kernel

    def broken(**kwargs):
        raise RuntimeError("no such kernel")

    monkeypatch.setattr(plugin, "_start_new_kernel", broken)
    with pytest.raises(RuntimeError, match="no such kernel"):
        plugin.start_new_kernel(kernel_name="k")
