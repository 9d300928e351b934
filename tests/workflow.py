"""Run the workflow in a scratch directory, for end-to-end tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("Snakefile", "rules", "schemas", "report", "envs", "resources", "config", "config.yaml",
          "profiles", "tests")


def make_workdir(path: Path) -> Path:
    """Link the workflow's files into ``path`` so that its outputs land there, not in the repo."""
    path.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        if (ROOT / name).exists() and not (path / name).exists():
            (path / name).symlink_to(ROOT / name)
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, env: dict | None = None,
              **kwargs) -> subprocess.CompletedProcess:
    """Run ``snakemake`` in ``workdir`` with the tiny test config and the given arguments."""
    command = ["snakemake", "--configfile", "config/test.yaml", *args]
    env = env or {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env,
                            **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (relative names), to compare stores byte for byte."""
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }
