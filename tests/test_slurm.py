"""The tiny test config through the SLURM executor gives byte-identical outputs to a --cores run.

Needs the local cluster from tests/slurm/start_local_slurm.sh; skipped when it is not up.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from workflow import ROOT, make_workdir, snakemake, tree_digest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
# Snakemake's records, and the files that record wall-clock time (TensorBoard event files,
# training times): everything else must be the same bytes
IGNORED_PARTS = {"logs", "benchmarks", ".snakemake", "tensorboard", "timing.json",
                 "training_times.csv"}
# the partitions and account made by tests/slurm/start_local_slurm.sh
CLUSTER_DEFAULTS = {"DEEPDRAW_PARTITION": "debug", "DEEPDRAW_GPU_PARTITION": "gpu",
                    "DEEPDRAW_ACCOUNT": "deepdraw"}


def cluster_up() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return "sinfo/sacct not installed (run tests/slurm/start_local_slurm.sh)"
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
        acct = subprocess.run(["sacct", "-n", "-X", "-S", "now"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo/sacct timed out: cluster down"
    if states.returncode or not {"idle", "mixed", "allocated"} & set(states.stdout.split()):
        return f"no usable SLURM node: {states.stdout.strip() or states.stderr.strip()}"
    if acct.returncode:
        return f"sacct failing (accounting needed by the plugin): {acct.stderr.strip()}"
    return None


def run_snakemake(workdir: Path, *extra: str) -> None:
    env = {name: os.environ.get(name, default) for name, default in CLUSTER_DEFAULTS.items()}
    snakemake(make_workdir(workdir), *extra, env={**os.environ, "PYTHONHASHSEED": "0", **env},
              timeout=3600)


def outputs(results: Path) -> dict[str, str]:
    """sha256 of every output but those of IGNORED_PARTS."""
    return {name: digest for name, digest in tree_digest(results).items()
            if not IGNORED_PARTS & set(Path(name).parts)}


@pytest.fixture(scope="module")
def slurm_and_local(tmp_path_factory):
    reason = cluster_up()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("slurm_vs_local")
    # poll job states every few seconds: the profile's defaults suit a busy cluster, not a test
    run_snakemake(base / "slurm", "--profile", str(ROOT / "profiles" / "slurm"),
                  "--slurm-init-seconds-before-status-checks", "5",
                  "--seconds-between-status-checks", "5")
    run_snakemake(base / "local", "--cores", "2")
    return base / "slurm" / "results" / "test", base / "local" / "results" / "test"


def test_dataset_exists(slurm_and_local):
    for results in slurm_and_local:
        assert (results / "dataset.zarr" / "zarr.json").is_file()


def test_outputs_byte_identical(slurm_and_local):
    slurm, local = (outputs(r) for r in slurm_and_local)
    assert sorted(slurm) == sorted(local), "different file lists"
    assert any(k.startswith("dataset.zarr/spindles/c") for k in slurm), "no spindles chunks found"
    differing = [k for k in slurm if slurm[k] != local[k]]
    assert not differing, f"files differ between SLURM and --cores runs: {differing[:20]}"
