"""Issue 32, item 5: the bundle and pool steps as a vantage6 algorithm, run with vantage6's
MockAlgorithmClient (no Docker, no server).

vantage6-algorithm-tools 4.15.2 pins click and python-dateutil below the project's lock file,
so it gets an environment of its own: a fresh virtual environment with the optional extra's
pin installed from the package index (the lock's other pins as constraints), the running
environment's packages and the checkout's ``src`` behind it on the path. The run
(``tests/federated/run_mock.py``) must give, at every site, the very bundle
``immune-recovery bundle`` writes from the same export, and the same pooled table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pandas as pd
import pytest

from immune_recovery.cohort import Cohort
from immune_recovery.consortium.stacked import TABLE_COLUMN, stack_tables, unstack_tables
from immune_recovery.exceptions import InputError
from immune_recovery.paths import project_root
from immune_recovery.simulate import simulate_cohort

pytestmark = pytest.mark.slow

#: Lock-file pins the vantage6 tools overrule (their own exact pins).
OVERRULED = ("click", "python-dateutil")


def _extra_pin() -> str:
    project = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"]
    (pin,) = project["optional-dependencies"]["vantage6"]
    return pin


@pytest.fixture(scope="module")
def v6_python(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vantage6")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    lock = (project_root() / "requirements.lock").read_text().splitlines()
    constraints = root / "constraints.txt"
    constraints.write_text("\n".join(
        line for line in lock if line and not line.startswith("#")
        and line.split("==")[0].lower() not in OVERRULED) + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                              "--quiet", "-c", str(constraints), _extra_pin()],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "project.pth").write_text(
        f"{sysconfig.get_paths()['purelib']}\n{project_root() / 'src'}\n")
    return python


def test_the_extra_pins_the_vantage6_tools_and_the_lock_does_not():
    assert _extra_pin() == "vantage6-algorithm-tools==4.15.2"
    lock = (project_root() / "requirements.lock").read_text()
    assert "vantage6" not in lock


def test_the_vantage6_algorithm_bundles_and_pools_as_the_files_do(v6_python, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNE_RECOVERY_")}
    run = subprocess.run([str(v6_python), str(project_root() / "tests" / "federated" /
                                              "run_mock.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    versions = subprocess.run([str(v6_python), "-c", "import click, dateutil; "
                               "print(click.__version__, dateutil.__version__)"],
                              capture_output=True, text=True, check=False)
    assert versions.stdout.split() == ["8.1.3", "2.8.2"], versions.stderr  # its own pins
    out = json.loads(run.stdout.strip().splitlines()[-1])
    sites = ["mock-0", "mock-1", "mock-2"]
    assert out["sites"] == sites
    # the node's CSV (vantage6's loader) and Parquet databases give the file bundle's bytes
    assert out["same_members"] == dict.fromkeys(sites, True)
    assert out["same_pooled"] and out["pooled_rows"] > 0
    assert out["tables"] == ["sites.csv", "pooled.csv", "leave_one_out.csv",
                             "metaregression.csv"]
    assert out["written"] == [f"{s}.zip" for s in sites] and out["reread"] == sites


def test_a_stacked_frame_gives_back_the_tables_and_their_cohort():
    tables = simulate_cohort(300, 3).tables
    stacked = stack_tables(tables)
    assert stacked.columns[0] == TABLE_COLUMN and len(stacked) == sum(map(len, tables.values()))
    back = unstack_tables(stacked)
    assert list(back) == [t for t in tables if t in back] and set(back) == set(tables)
    for name, table in tables.items():
        pd.testing.assert_frame_equal(back[name][list(table.columns)],
                                      table.reset_index(drop=True), check_dtype=False)
    one = Cohort.from_tables(tables, close_date="2026-12-01")
    two = Cohort.from_tables(back, close_date="2026-12-01")
    for name in tables:  # integers of a column other tables lack come back as floats
        pd.testing.assert_frame_equal(one.tables[name], two.tables[name], check_dtype=False)
    assert one.ledger.rows_used == two.ledger.rows_used


def test_a_stacked_frame_without_table_names_is_refused_by_row():
    stacked = stack_tables(simulate_cohort(50, 3).tables)
    stacked.loc[4, TABLE_COLUMN] = None
    with pytest.raises(InputError, match=r"row 5 .*column HICDEP_TABLE: 1 rows name no table"):
        unstack_tables(stacked)
    with pytest.raises(InputError, match="names each row's table"):
        unstack_tables(stacked.drop(columns=TABLE_COLUMN))
