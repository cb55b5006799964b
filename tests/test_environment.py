"""pyproject.toml, environment.yml and requirements.lock pin the same versions."""

from __future__ import annotations

import re
import tomllib

import yaml

from immune_recovery.paths import project_root

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        m = PIN.match(line.strip())
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def pyproject_pins(extras: tuple[str, ...] | None = None) -> dict[str, str]:
    """Direct pins: the dependencies and the given extras (default: every extra)."""
    data = tomllib.loads((project_root() / "pyproject.toml").read_text())
    deps = list(data["project"]["dependencies"])
    for name, extra in data["project"]["optional-dependencies"].items():
        if extras is None or name in extras:
            deps += extra
    assert all(PIN.match(d) for d in deps), "every direct dependency is pinned with =="
    return _pins(deps)


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((project_root() / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"]
    return _pins(pip)


#: Extras in an environment of their own (their pins conflict with the lock), not in
#: environment.yml: the vantage6 tools pin click and python-dateutil below it.
OWN_ENVIRONMENT = ("vantage6",)


def test_environment_yml_matches_pyproject():
    data = tomllib.loads((project_root() / "pyproject.toml").read_text())
    extras = tuple(e for e in data["project"]["optional-dependencies"]
                   if e not in OWN_ENVIRONMENT)
    assert environment_pins() == pyproject_pins(extras)


def test_lock_contains_every_direct_pin():
    lock = _pins((project_root() / "requirements.lock").read_text().splitlines())
    for name, version in pyproject_pins(extras=("test",)).items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"


#: Direct dependencies that are not imported by name, and what needs them.
USED_WITHOUT_IMPORT = {
    "patsy": "statsmodels' formula API (SM_FORMULA_ENGINE=patsy)",
    "pyarrow": "pandas' Parquet reader and writer",
    "nbclient": "papermill's notebook execution",
    "ipykernel": "the report notebooks' Jupyter kernel",
    "jupyterlab": "make lab",
    "distributed": "dask's LocalCluster and scheduler client",
    "pyyaml": "imported as yaml",
    "pypandoc-binary": "imported as pypandoc (pandoc itself as a wheel)",
}


def test_every_direct_dependency_is_used():
    """A pinned runtime dependency that nothing imports is a dependency to remove."""
    root = project_root()
    text = "\n".join(p.read_text(encoding="utf-8") for sub in ("src", "notebooks")
                     for p in (root / sub).rglob("*") if p.suffix in (".py", ".ipynb"))
    for name in pyproject_pins(extras=()):
        if name in USED_WITHOUT_IMPORT:
            continue
        module = name.replace("-", "_")
        assert re.search(rf"(?:import|from) {module}\b", text), f"{name} is never imported"
