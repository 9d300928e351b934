"""Conda env files parse, name their channels and agree with pyproject.toml's pins.

Conda channels are unreachable in the development sandbox, so the envs are checked by parsing only.
The training env installs the CUDA build of TensorFlow (pyproject's ``gpu`` extra); every env gets
the deepdraw package from its post-deploy script, without dependencies.
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVS = {"generation": {"opensim", "numpy", "scipy", "zarr", "xarray", "pandas", "h5py"},
        "training": {"tensorflow[and-cuda]", "keras", "zarr", "xarray", "pandas", "scikit-learn"},
        "analysis": {"statsmodels", "pandas", "zarr", "xarray", "matplotlib", "scikit-learn"}}


PIN = r"([A-Za-z0-9_.\-]+(?:\[[A-Za-z0-9_,\-]+\])?)==(\S+)"


def pyproject_pins(extras=("gpu",)) -> dict[str, str]:
    """Package (with its extras, e.g. ``tensorflow[and-cuda]``) -> pinned version."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in extras:
        deps += project["optional-dependencies"][extra]
    pins = {}
    for dep in deps:
        name, version = re.fullmatch(PIN, dep).groups()
        pins[name.lower()] = version
    return pins


def env_pins(env: dict) -> dict[str, str]:
    """Package -> version from conda (`chan::name=ver`) and pip (`name==ver`) entries."""
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip", []):
                m = re.fullmatch(PIN, pip_dep.split("#")[0].strip())
                if m:
                    pins[m[1].lower()] = m[2]
            continue
        m = re.fullmatch(r"(?:[\w\-]+::)?([A-Za-z0-9_.\-]+)(?:=+([^=\s]+))?", dep.strip())
        assert m, f"unparsable dependency {dep!r}"
        if m[2]:
            pins[m[1].lower()] = m[2]
    return pins


@pytest.mark.parametrize("name", sorted(ENVS))
def test_env_parses_and_has_channels(name):
    env = yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())
    assert env["channels"][-2:] == ["conda-forge", "nodefaults"]
    assert isinstance(env["dependencies"], list) and env["dependencies"]


@pytest.mark.parametrize("name", sorted(ENVS))
def test_env_pins_match_pyproject(name):
    env = yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())
    pins, wanted = env_pins(env), pyproject_pins()
    missing = ENVS[name] - set(pins)
    assert not missing, f"{name}: required packages not pinned: {missing}"
    for pkg, version in pins.items():
        if pkg == "python":
            continue
        assert pkg in wanted, f"{name}: {pkg} is pinned here but not in pyproject.toml"
        assert version == wanted[pkg], f"{name}: {pkg}={version} but pyproject.toml pins {wanted[pkg]}"


def test_opensim_from_opensim_org_channel():
    env = yaml.safe_load((ROOT / "envs" / "generation.yaml").read_text())
    assert any(isinstance(d, str) and d.startswith("opensim-org::opensim=") for d in env["dependencies"])


def test_python_within_requires_python():
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lo, hi = re.fullmatch(r">=(\d+\.\d+),<(\d+\.\d+)", spec).groups()
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    for name in ENVS:
        env = yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())
        py = [d.split("=", 1)[1] for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
        assert py and as_tuple(lo) <= as_tuple(py[0]) < as_tuple(hi), f"{name}: python {py}"


def test_gpu_extra_is_the_cuda_build_of_the_pinned_tensorflow():
    pins = pyproject_pins()
    assert pins["tensorflow[and-cuda]"] == pins["tensorflow-cpu"]
    env = env_pins(yaml.safe_load((ROOT / "envs" / "training.yaml").read_text()))
    # both builds provide the `tensorflow` module: the GPU env must hold only the CUDA one
    assert env["tensorflow[and-cuda]"] == pins["tensorflow-cpu"] and "tensorflow-cpu" not in env


@pytest.mark.parametrize("name", sorted(ENVS))
def test_package_installed_without_dependencies(name):
    """No env installs deepdraw through pip's requirements (which would pull every pin of
    pyproject.toml); its post-deploy script does, with --no-deps."""
    env = yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())
    pip = [d for dep in env["dependencies"] if isinstance(dep, dict) for d in dep.get("pip", [])]
    assert not [d for d in pip if d.split("#")[0].strip().startswith(("-e", "--editable", "."))]
    assert "pip" in env["dependencies"]
    script = ROOT / "envs" / f"{name}.post-deploy.sh"
    lines = [line for line in script.read_text().splitlines() if "pip install" in line]
    assert len(lines) == 1 and "--no-deps" in lines[0] and "--editable" in lines[0]
