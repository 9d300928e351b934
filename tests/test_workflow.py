"""End-to-end behaviour of the generation workflow on the tiny test config."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepdraw.contract import N_MUSCLES, WINDOW_STEPS
from deepdraw.io import open_zarr
from workflow import ROOT, make_workdir, snakemake, tree_digest

pytestmark = pytest.mark.slow
DATASET = "results/test/dataset.zarr"


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The tiny dataset made once, uninterrupted, with one core."""
    workdir = make_workdir(tmp_path_factory.mktemp("cores1"))
    snakemake(workdir, "--cores", "1", DATASET)
    return workdir


def test_dataset_store_follows_the_contract(reference_run):
    ds = open_zarr(reference_run / DATASET)
    n = ds.sizes["sample"]
    assert n > 0 and ds.sizes["muscle"] == N_MUSCLES and ds.sizes["time"] == WINDOW_STEPS
    assert ds["spindles"].dims == ("sample", "muscle", "time", "channel")
    assert ds["spindles"].dtype == np.float32
    assert list(ds["channel"].values) == ["length", "velocity"]
    assert ds["muscle"].values[0] == "CORB" and ds["muscle"].values[-1] == "TRImed"
    for name in ("hand", "joints", "muscle_length", "start_point"):
        assert ds[name].attrs["units"] in ("cm", "deg", "mm")
    assert np.isfinite(ds["spindles"].values).all()
    assert set(np.unique(ds["split"].values)) <= {0, 1, 2}
    for key in ("config_hash", "deepdraw_version", "seed", "n_rejected", "split_by"):
        assert key in ds.attrs
    # no held-out source character reaches the training or validation set
    characters = open_zarr(reference_run / "results/test/characters.zarr")
    held_out = characters["split"].values[ds["source_index"].values] == 1
    assert np.array_equal(held_out, ds["split"].values == 2)
    # hand trajectory stays on the traced character: the plane coordinate is constant
    plane_axis = np.where(ds["plane"].values == 0, 2, 0)
    hand = ds["hand"].values
    offplane = hand[np.arange(n), :, plane_axis] - ds["start_point"].values[np.arange(n), plane_axis][:, None]
    assert np.abs(offplane).max() < 1e-3


def test_same_bytes_with_two_cores(reference_run, tmp_path):
    workdir = make_workdir(tmp_path / "cores2")
    snakemake(workdir, "--cores", "2", DATASET)
    assert tree_digest(workdir / DATASET) == tree_digest(reference_run / DATASET)


def test_resume_after_sigkill_gives_the_same_dataset(reference_run, tmp_path):
    workdir = make_workdir(tmp_path / "killed")
    command = ["snakemake", "--configfile", "config/test.yaml", "--cores", "1", DATASET]
    process = subprocess.Popen(command, cwd=workdir, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = workdir / "results/test/shards"
    deadline = time.monotonic() + 300
    while not any(shards.glob("*/*.zarr")) and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the workflow finished before it could be killed")
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (workdir / DATASET).exists()
    snakemake(workdir, "--unlock")  # the killed run could not release its lock
    snakemake(workdir, "--cores", "1", "--rerun-incomplete", DATASET)
    assert tree_digest(workdir / DATASET) == tree_digest(reference_run / DATASET)


def _config_with(tmp_path: Path, section: str, key: str, value) -> Path:
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config[section][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("generation", "samples_per_shard", -5, "samples_per_shard"),
        ("generation", "planes", ["sagittal"], "sagittal"),
        ("muscles", "backend", "lookup", "lookup"),
        ("characters", "test_fraction", 1.5, "test_fraction"),
    ],
)
def test_invalid_config_is_refused_before_any_job(tmp_path, section, key, value, message):
    workdir = make_workdir(tmp_path / "work")
    bad = _config_with(tmp_path, section, key, value)
    result = snakemake(workdir, "--configfile", str(bad), "-n", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_missing_character_file_is_named(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    bad = _config_with(tmp_path, "characters", "file", "resources/no_such_file.mat")
    result = snakemake(workdir, "--configfile", str(bad), "--cores", "1", DATASET, check=False)
    assert result.returncode != 0
    assert "no_such_file.mat" in result.stdout + result.stderr


def test_corrupt_character_file_fails_without_partial_output(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    corrupt = tmp_path / "corrupt.mat"
    corrupt.write_bytes(b"MATLAB 5.0 MAT-file" + os.urandom(300))
    bad = _config_with(tmp_path, "characters", "file", str(corrupt))
    result = snakemake(workdir, "--configfile", str(bad), "--cores", "1", DATASET, check=False)
    assert result.returncode != 0
    log = (workdir / "results/test/logs/characters.log").read_text()
    assert "corrupt.mat" in log
    assert not (workdir / "results/test/characters.zarr").exists()
    assert not list((workdir / "results/test").glob(".*tmp*"))
