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


def pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((project_root() / "pyproject.toml").read_text())
    deps = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        deps += extra
    assert all(PIN.match(d) for d in deps), "every direct dependency is pinned with =="
    return _pins(deps)


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((project_root() / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"]
    return _pins(pip)


def test_environment_yml_matches_pyproject():
    assert environment_pins() == pyproject_pins()


def test_lock_contains_every_direct_pin():
    lock = _pins((project_root() / "requirements.lock").read_text().splitlines())
    for name, version in pyproject_pins().items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"
