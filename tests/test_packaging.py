"""The package's metadata: dependency lists agree, the version is one, data ships."""

from __future__ import annotations

import re
import tomllib

import yaml

import mtown_geo as mg

from .conftest import ROOT

# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pyosmium": "osmium", "python-isal": "isal"}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", req)
    assert m, req
    name = re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-")
    return name, m.group(2).replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pypi = dict(_split(r) for r in pyproject["project"]["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and _split(dep)[0] not in ("python", "pip"):
            name, spec = _split(dep)
            conda[CONDA_TO_PYPI.get(name, name)] = spec
        elif isinstance(dep, dict):  # the pip: section, for what conda-forge lacks
            for item in dep["pip"]:
                if not item.startswith("-e"):
                    name, spec = _split(item)
                    conda[name] = spec
    # dask[distributed] on PyPI is dask + distributed on conda-forge
    if "dask" in pypi and "distributed" in conda:
        assert conda.pop("distributed") == pypi["dask"]
    assert conda == pypi
    assert pyproject["project"]["requires-python"] == ">=3.11"


def test_version_is_single():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == mg.__version__


def test_profiles_ship_with_the_package():
    from importlib import resources

    files = {p.name for p in resources.files("mtown_geo.standards").iterdir()}
    assert {"zhejiang-2023.yaml", "gb50180-2018.yaml"} <= files


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv")]
    test_cmd = next(c for c in commands if "pytest" in c)
    assert test_cmd in ci.splitlines()
    assert any("mtown-geo demo" in c for c in commands)


def test_every_public_name_is_there():
    for name in mg.__all__:
        assert getattr(mg, name) is not None, name
