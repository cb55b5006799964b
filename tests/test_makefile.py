"""The Makefile's dependency logic, run on a scratch copy with a stand-in Python.

Staleness is decided by content (``immune_recovery.reporting.stale``): the stand-in runs the
real staleness module, and "builds" a report by writing a ``report.json`` that records the
build key the staleness module computed for it (or fails on request; that the real build
records the same key is tested in ``test_reporting.py``). So these tests check what Make decides to rebuild
without executing notebooks: a second ``make reports`` rebuilds nothing, a fresh clone (all
file times new) rebuilds nothing, touching a file without changing it rebuilds nothing,
editing a notebook or a parameter file rebuilds only its reports and their dependants, a source
change rebuilds everything, a failing report stops Make, and ``-j2`` works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from immune_recovery.paths import project_root

FAKE_PYTHON = """#!/usr/bin/env bash
# stand-in for .venv/bin/python: "-m immune_recovery.reporting.{{build,site,stale}} ..."
set -eu
export IMMUNE_RECOVERY_ROOT="$PWD"
case "$2" in
immune_recovery.reporting.build)
  id=$(basename "$3" .yaml)
  echo "BUILD $id" >> build.log
  if [ -e "fail-$id" ]; then echo "failing $id" >&2; exit 1; fi
  mkdir -p "reports/$id"
  # what the real build records: the key the staleness check computed for this report
  printf '{{"id": "%s", "build_key": "%s"}}\n' "$id" "$(cat "build/keys/$id.key")" \
    > "reports/$id/report.json"
  ;;
immune_recovery.reporting.site)
  echo "SITE" >> build.log
  touch reports/manifest.json reports/index.html
  ;;
immune_recovery)
  echo "PRODUCT $3" >> build.log
  ;;
*)
  exec "{real}" "$@"
  ;;
esac
"""


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    root = project_root()
    work = tmp_path / "proj"
    work.mkdir()
    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy(root / name, work / name)
    for sub in ("params", "notebooks", "src"):
        shutil.copytree(root / sub, work / sub, ignore=shutil.ignore_patterns("__pycache__"))
    (work / "data").mkdir()
    shutil.copy(root / "data" / "manifest", work / "data" / "manifest")
    (work / "reports").mkdir()
    fake = work / "fakepy"
    fake.write_text(FAKE_PYTHON.format(real=sys.executable))
    fake.chmod(0o755)
    venv_stamp = work / ".venv" / ".installed"
    venv_stamp.parent.mkdir()
    (work / "build").mkdir()
    (work / "build" / "src.stamp").touch()
    # data sets already converted, newer than the manifest and the source stamp
    time.sleep(0.01)
    names = [line.split(",")[0] for line in
             (work / "data" / "manifest").read_text().splitlines()[1:]] + ["synthetic", "messy"]
    for name in names:
        stamp = work / "data" / "hicdep" / name / ".stamp"
        stamp.parent.mkdir(parents=True)
        stamp.touch()
    venv_stamp.touch()
    (work / ".venv" / ".browser").touch()  # Chromium and poppler for the PDFs: installed
    shutil.copytree(root / "data" / "reference", work / "data" / "reference")
    return work


def make(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAKE") and k != "IMMUNE_RECOVERY_ROOT"}
    return subprocess.run(["make", "--no-print-directory", f"PY={work / 'fakepy'}", *args],
                          cwd=work, capture_output=True, text=True, env=env, check=False)


def built(work: Path) -> list[str]:
    log = work / "build.log"
    lines = log.read_text().split("\n") if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(line.split()[1] for line in lines if line.startswith("BUILD"))


def report_ids(work: Path) -> list[str]:
    return sorted(p.stem for p in (work / "params").glob("*.yaml"))


def dependants(work: Path, report_id: str) -> set[str]:
    """Reports that read ``report_id`` directly or through others."""
    upstream = {p.stem: set(str(yaml.safe_load(p.read_text()).get("depends_on") or "").split())
                for p in (work / "params").glob("*.yaml")}
    found, frontier = set(), {report_id}
    while frontier:
        frontier = {rid for rid, deps in upstream.items() if deps & frontier} - found
        found |= frontier
    return found


def built_once(work: Path) -> Path:
    result = make(work, "reports")
    assert result.returncode == 0, result.stderr
    assert built(work) == report_ids(work)
    return work


def test_second_run_and_touch_rebuild_nothing(scratch):
    built_once(scratch)
    assert make(scratch, "reports").returncode == 0
    assert built(scratch) == []
    time.sleep(0.01)
    for path in [*(scratch / "params").glob("*.yaml"), *(scratch / "notebooks").glob("*")]:
        os.utime(path)
    assert make(scratch, "reports").returncode == 0
    assert built(scratch) == [], "a newer file time with the same content is not a change"


def test_fresh_clone_rebuilds_nothing(scratch, tmp_path):
    built_once(scratch)
    clone = tmp_path / "clone"
    shutil.copytree(scratch, clone, ignore=shutil.ignore_patterns("build", "build.log"))
    time.sleep(0.01)
    for path in clone.rglob("*"):  # a checkout: every file as new as the next
        if path.is_file() and "reports" not in path.parts:
            os.utime(path)
    (clone / "build").mkdir()
    (clone / "build" / "src.stamp").touch()
    for stamp in (clone / "data" / "hicdep").glob("*/.stamp"):
        os.utime(stamp)
    os.utime(clone / ".venv" / ".installed")
    result = make(clone, "reports")
    assert result.returncode == 0, result.stderr
    assert built(clone) == []


def test_editing_a_notebook_rebuilds_only_its_reports(scratch):
    built_once(scratch)
    notebook = "outcomes"
    path = scratch / "notebooks" / f"{notebook}.ipynb"
    path.write_text(path.read_text() + "\n")
    users = {p.stem for p in (scratch / "params").glob("*.yaml")
             if yaml.safe_load(p.read_text())["notebook"] == notebook}
    assert users
    expected = users.union(*(dependants(scratch, u) for u in users))
    assert make(scratch, "reports").returncode == 0
    assert built(scratch) == sorted(expected)


def test_editing_a_parameter_file_rebuilds_it_and_its_dependants(scratch):
    built_once(scratch)
    target = "frequency-actg175"
    path = scratch / "params" / f"{target}.yaml"
    path.write_text(path.read_text() + "# edited\n")
    assert make(scratch, "reports").returncode == 0
    assert built(scratch) == sorted({target} | dependants(scratch, target))
    assert "evidence" in dependants(scratch, target)


def test_source_change_rebuilds_every_report(scratch):
    built_once(scratch)
    path = scratch / "src" / "immune_recovery" / "cohort.py"
    path.write_text(path.read_text() + "\n# edited\n")
    assert make(scratch, "reports").returncode == 0
    assert built(scratch) == report_ids(scratch)


def test_parameter_file_keys_may_span_lines(scratch):
    """The rules come from YAML, not from one-line ``sed``: a folded depends_on works."""
    built_once(scratch)
    path = scratch / "params" / "evidence.yaml"
    spec = yaml.safe_load(path.read_text())
    deps = spec["depends_on"].split()
    text = path.read_text().replace(f"depends_on: {spec['depends_on']}",
                                    "depends_on: >\n  " + "\n  ".join(deps))
    assert text != path.read_text()
    path.write_text(text)
    assert make(scratch, "reports").returncode == 0
    assert built(scratch) == ["evidence"]
    rules = (scratch / "build" / "reports.mk").read_text()
    assert "| $(VENV_STAMP)" in rules and f"reports/{deps[-1]}/report.json" in rules


def test_failing_report_stops_make_and_leaves_no_target(scratch):
    victim = report_ids(scratch)[0]
    (scratch / f"fail-{victim}").touch()
    result = make(scratch, "-j2", "reports")
    assert result.returncode != 0
    assert not (scratch / "reports" / victim / "report.json").exists()
    assert not (scratch / "reports" / "index.html").exists()


def test_parallel_build_builds_each_report_once(scratch):
    result = make(scratch, "-j2", "reports")
    assert result.returncode == 0, result.stderr
    assert built(scratch) == report_ids(scratch)


def test_the_coverage_product_is_brought_up_to_date_before_the_staleness_check(scratch):
    """The coverage report reads a product of its own: Make asks for it (the command itself
    decides, with --if-stale, whether anything is rerun) before deciding which reports are
    stale, so a rebuilt product makes its report stale in the same run."""
    result = make(scratch, "reports")
    assert result.returncode == 0, result.stderr
    lines = (scratch / "build.log").read_text().split("\n")
    assert lines[0] == "PRODUCT coverage", lines[:3]
    command = next(line for line in result.stdout.splitlines() if " coverage " in line)
    assert "--params params/simulation-coverage.yaml" in command and "--if-stale" in command


def test_no_recipe_pipes_into_a_reader_that_stops_early():
    """Make runs recipes under ``pipefail``: ``cmd | head -n 1`` fails with SIGPIPE (exit 141)
    whenever ``cmd`` writes after ``head`` has gone, which depends on timing (a clean CI clone
    stopped at ``pdftotext -v | head -n 1``). Recipes read the first line with ``sed -n 1p``."""
    root = project_root()
    recipes = [root / "Makefile", *sorted((root / "build").glob("*.mk"))]
    offending = [
        f"{path.name}:{number}"
        for path in recipes
        if path.exists()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "| head" in line or "|head" in line
    ]
    assert "pipefail" in (root / "Makefile").read_text()
    assert not offending, offending
