"""The Makefile's dependency logic, run on a scratch copy with a stand-in Python.

The stand-in writes a report's ``report.json`` instantly (or fails on request), so these tests
check what Make decides to rebuild without executing notebooks: a second ``make reports``
rebuilds nothing, touching one parameter file rebuilds only that report, a failing report
stops Make with a non-zero status and leaves no target, and ``-j2`` works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from immune_recovery.paths import project_root

FAKE_PYTHON = """#!/usr/bin/env bash
# stand-in for .venv/bin/python: "-m immune_recovery.reporting.build params/<id>.yaml"
set -eu
if [ "$2" = "immune_recovery.reporting.build" ]; then
  id=$(basename "$3" .yaml)
  echo "BUILD $id" >> build.log
  if [ -e "fail-$id" ]; then echo "failing $id" >&2; exit 1; fi
  mkdir -p "reports/$id" && echo '{}' > "reports/$id/report.json"
elif [ "$2" = "immune_recovery.reporting.site" ]; then
  echo "SITE" >> build.log
  touch reports/manifest.json reports/index.html
fi
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
    fake.write_text(FAKE_PYTHON)
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
    # referenced reference files exist
    ref = work / "data" / "reference"
    shutil.copytree(root / "data" / "reference", ref)
    return work


def make(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(["make", "--no-print-directory", f"PY={work / 'fakepy'}", *args],
                          cwd=work, capture_output=True, text=True, env=env, check=False)


def built(work: Path) -> list[str]:
    log = work / "build.log"
    lines = log.read_text().split("\n") if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(line.split()[1] for line in lines if line.startswith("BUILD"))


def report_ids(work: Path) -> list[str]:
    return sorted(p.stem for p in (work / "params").glob("*.yaml"))


def test_second_run_rebuilds_nothing_and_touch_rebuilds_one(scratch):
    first = make(scratch, "reports")
    assert first.returncode == 0, first.stderr
    assert built(scratch) == report_ids(scratch)
    again = make(scratch, "-q", "reports")
    assert again.returncode == 0, "everything is up to date after one build"
    assert built(scratch) == []
    target = report_ids(scratch)[0]
    time.sleep(0.01)
    os.utime(scratch / "params" / f"{target}.yaml")
    third = make(scratch, "reports")
    assert third.returncode == 0, third.stderr
    rebuilt = built(scratch)
    dependants = [rid for rid in report_ids(scratch) if target in
                  (scratch / "params" / f"{rid}.yaml").read_text().split("depends_on:")[1]
                  .split("\n")[0].split()]
    assert rebuilt == sorted([target, *dependants])


def test_source_change_rebuilds_every_report(scratch):
    assert make(scratch, "reports").returncode == 0
    built(scratch)
    time.sleep(0.01)
    os.utime(scratch / "src" / "immune_recovery" / "cohort.py")
    assert make(scratch, "reports").returncode == 0
    assert built(scratch) == report_ids(scratch)


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
