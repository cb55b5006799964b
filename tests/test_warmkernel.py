"""Kernels forked from the kernel server: the notebook runs as in a started kernel."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import nbformat
import numpy as np
import papermill
import pytest
from jupyter_client.connect import write_connection_file

from immune_recovery import measurements
from immune_recovery.paths import notebooks_dir
from immune_recovery.reporting import cohort_site, warmkernel
from immune_recovery.reporting.build import DETERMINISTIC_ENV
from immune_recovery.reporting.kernel import running_interpreter_kernel
from immune_recovery.reporting.printed import available_formats

CELLS = ["import os, sys", "print(os.getppid())", "print(hash('immune recovery'))",
         "print(os.environ['IR_TEST_VALUE'], os.getcwd())",
         "print('immune_recovery.baseline' in sys.modules)"]


def site_notebooks():
    return [notebooks_dir() / f"{notebook}.ipynb" for _, notebook, _ in cohort_site.KINDS]


def run(tmp_path, monkeypatch, address: str) -> list[str]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, tmp_path / "in.ipynb")
    monkeypatch.setenv(warmkernel.ADDRESS_ENV, address)
    monkeypatch.setenv("IR_TEST_VALUE", "from-the-builder")
    for name, value in DETERMINISTIC_ENV.items():
        monkeypatch.setenv(name, value)
    papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name=running_interpreter_kernel(), progress_bar=False,
                               cwd=str(tmp_path), kernel_manager_class=warmkernel.WarmKernelManager)
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs).strip() for c in out.cells[1:]]


def test_the_server_preloads_what_every_site_notebook_imports():
    common = warmkernel.common_imports(site_notebooks())
    assert "immune_recovery" in common
    each = [warmkernel.notebook_imports(path) for path in site_notebooks()]
    assert all(name in imports for name in common for imports in each)
    only_some = {name for imports in each for name in imports} - set(common)
    assert only_some, "the site's notebooks import different modules"
    assert "immune_recovery.consortium" not in common  # the in-context notebook's alone


@pytest.mark.parametrize("kind", ["frequency", "risk-factors", "outcomes", "trajectories",
                                  "in-context"])
def test_every_analysis_notebook_imports_the_preloaded_libraries(kind):
    notebook = next(nb for k, nb, _ in cohort_site.KINDS if k == kind)
    cells = nbformat.read(notebooks_dir() / f"{notebook}.ipynb", as_version=4).cells
    imports = "\n".join(line for cell in cells if cell.cell_type == "code"
                        for line in cell.source.splitlines()
                        if line.startswith(("import ", "from ")))
    check = (f"{imports}\nimport sys\n"
             f"print([m for m in {warmkernel.ANALYSIS_LIBRARIES!r} if m not in sys.modules])")
    missing = subprocess.run([sys.executable, "-c", check], text=True, capture_output=True,
                             check=True, env={**os.environ, **DETERMINISTIC_ENV}).stdout
    assert missing.strip() == "[]"


def test_a_forked_kernel_runs_the_notebook_as_a_started_one(tmp_path, monkeypatch):
    server = warmkernel.KernelServer(site_notebooks(), DETERMINISTIC_ENV).start()
    try:
        assert server.ready()
        peaks = len(warmkernel.kernel_peaks_kib())
        parent, hashed, env_cwd, preloaded = run(tmp_path, monkeypatch, server.address)
        assert int(parent) == server.process.pid  # forked by the server
        assert preloaded == "True"
        assert len(warmkernel.kernel_peaks_kib()) == peaks + 1  # its peak came back
        assert warmkernel.kernel_peaks_kib()[-1] > 50_000  # KiB: a whole kernel's
    finally:
        server.stop()
    assert not server.folder.exists()
    started = run(tmp_path, monkeypatch, str(tmp_path / "no-server"))  # the usual way
    assert int(started[0]) == os.getpid()
    assert started[2] == env_cwd == f"from-the-builder {tmp_path}"
    expected = subprocess.run([sys.executable, "-c", "print(hash('immune recovery'))"],
                              env={**os.environ, "PYTHONHASHSEED": "0"}, text=True,
                              capture_output=True, check=True).stdout.strip()
    assert hashed == started[1] == expected  # the deterministic environment's hash seed


def test_stopping_the_server_kills_its_kernels(tmp_path):
    server = warmkernel.KernelServer(site_notebooks()[:1], DETERMINISTIC_ENV).start()
    try:
        assert server.ready()
        connection_file, _ = write_connection_file(str(tmp_path / "kernel.json"))
        kernel = warmkernel.fork_kernel(server.address, ["-f", connection_file],
                                        dict(os.environ), str(tmp_path))
        assert kernel is not None and kernel.poll() is None
        os.kill(kernel.pid, 0)  # running
    finally:
        server.stop()
    assert kernel.wait(timeout=10) is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(kernel.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the kernel outlived its server")


ORPHAN = """
import os, sys, time
from pathlib import Path
from jupyter_client.connect import write_connection_file
from immune_recovery.reporting import printserver, warmkernel

if sys.argv[1] == "print":
    server = printserver.PrintServer().start()
else:
    server = warmkernel.KernelServer([Path(sys.argv[2])], {}).start()
assert server.ready()
kernel = None
if sys.argv[1] == "kernel":
    connection_file, _ = write_connection_file(os.path.join(sys.argv[3], "kernel.json"))
    kernel = warmkernel.fork_kernel(server.address, ["-f", connection_file], dict(os.environ),
                                   sys.argv[3])
print(server.process.pid, kernel.pid if kernel else "", server.folder, flush=True)
time.sleep(600)
"""


def ended(pid: int) -> bool:
    """Gone, or a zombie left to a parent that does not reap (as in some containers)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("kind", ["kernel", pytest.param("print", marks=pytest.mark.slow)])
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_server_ends_when_the_run_that_started_it_is_killed(tmp_path, kind):
    """The run SIGKILLed (no ``finally``, no stop): its server, and the kernel it forked,
    end on their own, and the server's socket folder is removed."""
    if kind == "print":
        assert "pdf" in available_formats().files  # make test installs Chromium
    run = subprocess.Popen([sys.executable, "-c", ORPHAN, kind, str(site_notebooks()[0]),
                            str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        server, kernel, folder = (run.stdout.readline().split(" ") + ["", ""])[:3]
        assert server, "the server did not start"
        pids = [int(server)] + ([int(kernel)] if kernel else [])
        assert not any(ended(pid) for pid in pids)
    finally:
        run.kill()
        run.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(ended(pid) for pid in pids):
        time.sleep(0.1)
    assert all(ended(pid) for pid in pids), "a server outlived the run that started it"
    assert not os.path.exists(folder.strip())


def test_the_server_loads_the_package_compiled_functions_from_numbas_cache():
    """A version compiled once (here, with its cache written) is loaded by the server's
    preload in a fresh process before any call: a forked kernel does not start numba's
    code generator again."""
    assert measurements.first_row_at_or_after(np.arange(5, dtype=np.int64), 0, 5, 3) == 3
    out = subprocess.run([sys.executable, "-c", (
        "from immune_recovery import measurements\n"
        "from immune_recovery.reporting.warmkernel import load_compiled\n"
        "before = len(measurements.first_row_at_or_after.overloads)\n"
        "print(before, load_compiled(), len(measurements.first_row_at_or_after.overloads))")],
        text=True, capture_output=True, check=True).stdout.split()
    before, loaded, after = map(int, out)
    assert before == 0 and loaded >= 1 and after >= 1
