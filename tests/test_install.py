"""A plain install runs the main command: the project is built into a wheel, installed into a
fresh virtual environment without a registered kernel, and the README's demo is run from a
folder outside the checkout (``immune-recovery simulate`` then ``immune-recovery report``).

The fresh environment gets the package from the wheel only; its dependencies come from the
running environment's site-packages through a ``.pth`` line (a line, not a site folder, so the
checkout's editable install there is not loaded) and their data files (nbconvert's templates)
through ``JUPYTER_PATH``, which keeps the test offline and fast. No kernel is registered in the
fresh environment: the report build runs its kernels on the interpreter itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from immune_recovery.paths import project_root

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                            "--wheel-dir", str(wheels), str(project_root())],
                           capture_output=True, text=True, cwd=root)
    assert build.returncode == 0, build.stderr[-2000:]
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(wheels.glob("immune_recovery-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                              "--no-deps", "--quiet", str(wheel)], capture_output=True,
                             text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    return root, env_dir


def _run(env_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IMMUNE_RECOVERY_", "JUPYTER_PATH"))}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # the dependencies' data files (nbconvert's templates) are where they were installed
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    return subprocess.run([str(env_dir / "bin" / "immune-recovery"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def test_the_wheel_carries_notebooks_reference_data_and_templates(installed):
    _, env_dir = installed
    probe = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c",
         "import immune_recovery, immune_recovery.paths as p; "
         "print(immune_recovery.__file__); print(p.checkout_root()); "
         "print(sorted(x.name for x in p.notebooks_dir().glob('*.ipynb'))); "
         "print((p.reference_dir() / 'cd4_variability.csv').is_file())"],
        capture_output=True, text=True, cwd=env_dir, env={"PATH": os.environ["PATH"]})
    location, checkout, notebooks, reference = probe.stdout.strip().splitlines()
    assert str(env_dir) in location and checkout == "None", probe.stderr
    assert "frequency.ipynb" in notebooks and "data_quality.ipynb" in notebooks
    assert reference == "True"


def test_the_readme_demo_runs_on_a_plain_install(installed):
    root, env_dir = installed
    work = root / "elsewhere"
    work.mkdir()
    simulate = _run(env_dir, work, "simulate", "--patients", "150", "--seed", "7", "--out",
                    "demo-cohort")
    assert simulate.returncode == 0, simulate.stderr[-2000:]
    report = _run(env_dir, work, "report", "demo-cohort", "--name", "demo", "--out",
                  "demo-site", "--close-date", "2026-01-01", "--jobs", "2", "--no-progress")
    assert report.returncode == 0, (report.stdout + report.stderr)[-3000:]
    assert "7 report(s) built" in report.stdout
    record = json.loads((work / "demo-site" / "frequency-demo" / "report.json").read_text())
    assert record["git_commit"] is None and len(record["source_sha256"]) == 64
    assert (work / "demo-site" / "index.html").is_file()
