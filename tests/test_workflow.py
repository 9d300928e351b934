"""End-to-end behaviour of the workflow on the tiny test config: the whole run, recovery after a
kill, reruns after a parameter change, damaged intermediates."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepdraw.contract import N_MUSCLES, WINDOW_STEPS
from deepdraw.io import MANIFEST, open_zarr, verify_store
from workflow import make_workdir, snakemake, tree_digest

pytestmark = pytest.mark.slow
RUN = "results/test"
DATASET = f"{RUN}/dataset.zarr"


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The tiny dataset made once, uninterrupted, with one core."""
    workdir = make_workdir(tmp_path_factory.mktemp("cores1"))
    snakemake(workdir, "--cores", "1", DATASET)
    return workdir


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """The whole test config (dataset, figures, training, SVM, analysis, report), two cores."""
    workdir = make_workdir(tmp_path_factory.mktemp("full"))
    snakemake(workdir, "--cores", "2")
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
    characters = open_zarr(reference_run / f"{RUN}/characters.zarr")
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


def _leftovers(workdir: Path) -> list[Path]:
    """Temporaries of atomic writes (``.<name>.tmp-<pid>``) left under results/."""
    return [p for p in (workdir / "results").rglob(".*.tmp-*")]


def test_recovery_after_sigkill_is_the_documented_command(reference_run, tmp_path):
    """SIGKILL of snakemake and its job mid-run; README's command, as is, finishes the run."""
    workdir = make_workdir(tmp_path / "killed")
    command = ["snakemake", "--configfile", "config/test.yaml", "--cores", "1", DATASET]
    process = subprocess.Popen(command, cwd=workdir, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # a shard job has started (its log exists) and not finished (no shard store yet)
    logs, shards = workdir / f"{RUN}/logs/generate_shard", workdir / f"{RUN}/shards"
    deadline = time.monotonic() + 300
    while not any(logs.glob("*/*.log")) and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the workflow finished before it could be killed")
        time.sleep(0.1)
    assert not any(shards.glob("*/*.zarr"))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (workdir / DATASET).exists()

    # the same command alone meets the lock the killed run could not release
    again = snakemake(workdir, "--cores", "1", DATASET, check=False)
    assert again.returncode != 0 and "--unlock" in again.stdout + again.stderr
    # README, "After a crash or preemption"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "deepdraw unlock && snakemake" in readme
    recover = subprocess.run(
        f"{sys.executable} -m deepdraw.cli unlock --configfile config/test.yaml"
        f" && snakemake --configfile config/test.yaml --cores 1 {DATASET}",
        shell=True, cwd=workdir, capture_output=True, text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"})
    assert recover.returncode == 0, recover.stderr[-3000:]
    assert tree_digest(workdir / DATASET) == tree_digest(reference_run / DATASET)
    assert not _leftovers(workdir)


def test_the_workflow_profile_reruns_incomplete_jobs(reference_run, tmp_path):
    """A job killed after it wrote all its outputs but before Snakemake saw it end leaves them
    marked incomplete: without profiles/default the rerun stops (IncompleteFilesException),
    with it the job is redone."""
    import base64
    import json

    workdir = make_workdir(tmp_path / "incomplete")
    shutil.copytree(reference_run / "results", workdir / "results", symlinks=True)
    shutil.copytree(reference_run / ".snakemake", workdir / ".snakemake", symlinks=True)
    target = f"{RUN}/dataset/bias.json"
    snakemake(workdir, "--cores", "1", target)
    # the marker Snakemake writes for each output when it starts a job and removes at its end
    # (.snakemake/incomplete/<urlsafe base64 of the path>)
    (workdir / ".snakemake/incomplete").mkdir(exist_ok=True)
    for output in ("bias.json", "bias_tests.csv", "bias_start_points.csv", "bias.png"):
        key = base64.urlsafe_b64encode(f"{RUN}/dataset/{output}".encode()).decode()
        (workdir / ".snakemake/incomplete" / key).write_text(json.dumps({"external_jobid": None}))
    plain = subprocess.run(["snakemake", "--configfile", "config/test.yaml", "--cores", "1",
                            "--workflow-profile", "none", target],
                           cwd=workdir, capture_output=True, text=True)
    assert plain.returncode != 0 and "IncompleteFilesException" in plain.stdout + plain.stderr
    before = (workdir / target).stat().st_mtime_ns
    rerun = snakemake(workdir, "--cores", "1", target)
    assert "dataset_bias" in rerun.stdout + rerun.stderr
    assert (workdir / target).stat().st_mtime_ns > before
    assert not list((workdir / ".snakemake/incomplete").glob("*"))


def test_full_run_makes_every_output_with_verified_stores(full_run):
    run = full_run / RUN
    assert (run / "analysis/report.html").stat().st_size > 10_000
    config = yaml.safe_load((run / "config.yaml").read_text())
    for task in config["training"]["tasks"]:
        for arch in config["training"]["architectures"]:
            for instance in ("seed0", "untrained0"):
                assert (run / f"models/{task}/{arch['name']}/{instance}/metrics.json").is_file()
    assert (run / "svm/summary.csv").is_file() and (run / "models/summary.csv").is_file()
    stores = [p for p in run.rglob("*.zarr") if p.is_dir()]
    assert len(stores) >= 1 + 4 + 1 + 6  # characters, 4 shards, dataset, 6 activations
    for store in stores:
        assert (store / MANIFEST).is_file(), store
        verify_store(store)
    # the trained models' TensorBoard logs are outputs, their checkpoints are gone
    assert list((run / "models/recognition/sto/seed0/tensorboard").rglob("events.out.tfevents.*"))
    assert not list(run.rglob("checkpoint"))
    assert not _leftovers(full_run)


def _would_rerun(workdir: Path, tmp_path: Path, overlay: dict) -> set[str]:
    """Outputs a dry run plans after ``overlay`` changes the test config, params trigger only."""
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(overlay))
    # the helper's --configfile is replaced by this one, with both files
    result = snakemake(workdir, "--configfile", "config/test.yaml", str(changed), "-n",
                       "--rerun-triggers", "params")
    outputs = set()
    for line in result.stdout.splitlines():
        match = re.match(r"\s+output: (.*)$", line)
        if match:
            outputs.update(path.strip() for path in match.group(1).split(","))
    return {path.removeprefix(f"{RUN}/") for path in outputs}


def _rules_of(outputs: set[str]) -> set[str]:
    """Coarse kind of each planned output: the folder under the run (and instance kind)."""
    kinds = set()
    for path in outputs:
        parts = path.split("/")
        kind = parts[0] if parts[0] != "analysis" else f"analysis/{parts[1]}"
        if "untrained0" in path:
            kind += "[untrained]"
        elif "seed0" in path:
            kind += "[trained]"
        kinds.add(kind)
    return kinds


@pytest.mark.parametrize(("overlay", "expected"), [
    # trained models and what reads them; never the untrained controls or the dataset
    ({"training": {"learning_rate": 0.002}},
     {"config.yaml", "models[trained]", "models", "analysis/activations[trained]",
      "analysis/tuning[trained]", "analysis/decoding[trained]", "analysis/tsne[trained]",
      "analysis/figures[trained]", "analysis/invariance[trained]", "analysis/invariance",
      "analysis/summary", "analysis/similarity", "analysis/figures", "analysis/report.html",
      "analysis/study_comparison.csv"}),
    # the tuning and plane fits and what reads them; never the activations
    ({"analysis": {"r2_threshold": 0.3}},
     {"config.yaml", "analysis/tuning[trained]", "analysis/tuning[untrained]",
      "analysis/invariance[trained]", "analysis/invariance[untrained]", "analysis/invariance",
      "analysis/summary", "analysis/figures", "analysis/report.html",
      "analysis/study_comparison.csv"}),
    ({"analysis": {"direction_bins": 12}},
     {"config.yaml", "analysis/summary", "analysis/figures", "analysis/report.html",
      "analysis/study_comparison.csv"}),
    ({"svm": {"C": 0.1}}, {"config.yaml", "svm", "analysis/figures", "analysis/report.html",
                          "analysis/study_comparison.csv"}),
    # settings of the optional muscle rules do not touch the dataset
    ({"muscles": {"postures_per_plane": {"visited": 6}}}, {"config.yaml"}),
])
def test_a_changed_parameter_reruns_only_what_reads_it(full_run, tmp_path, overlay, expected):
    assert _rules_of(_would_rerun(full_run, tmp_path, overlay)) == expected


def test_a_store_that_lost_a_chunk_is_refused_by_the_next_stage(full_run, tmp_path):
    workdir = make_workdir(tmp_path / "damaged")
    shutil.copytree(full_run / "results", workdir / "results", symlinks=True)
    shutil.copytree(full_run / ".snakemake", workdir / ".snakemake", symlinks=True)
    dataset = workdir / DATASET
    chunk = sorted((dataset / "hand" / "c").rglob("*"))[-1]
    chunk.unlink()
    result = snakemake(workdir, "--cores", "1", f"{RUN}/svm/summary.csv",
                       "--forcerun", "svm_baseline", check=False)
    assert result.returncode != 0
    log = (workdir / f"{RUN}/logs/svm_baseline.log").read_text()
    assert re.search(r"dataset\.zarr: does not match its manifest\.json \(array hand: chunk "
                     r"files \d+ in the manifest, \d+ on disk\).*delete .*dataset\.zarr and "
                     r"rerun", log), log[-2000:]
    assert not (workdir / f"{RUN}/svm/summary.csv").exists()
    assert not _leftovers(workdir)


def test_missing_character_file_is_refused_before_any_job(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    bad = tmp_path / "bad.yaml"
    bad.write_text("characters: {file: resources/no_such_file.mat}\n")
    result = snakemake(workdir, "--configfile", "config/test.yaml", str(bad), "--cores", "1",
                       DATASET, check=False)
    assert result.returncode != 0
    assert "characters.file: resources/no_such_file.mat not found" in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_corrupt_character_file_fails_without_partial_output(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    corrupt = tmp_path / "corrupt.mat"
    corrupt.write_bytes(b"MATLAB 5.0 MAT-file" + os.urandom(300))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"characters": {"file": str(corrupt)}}))
    # only the characters job: the refusal must come from it, not from another job run first
    # a second --configfile replaces the helper's: name both files
    result = snakemake(workdir, "--configfile", "config/test.yaml", str(bad), "--cores", "1",
                       f"{RUN}/characters.zarr", check=False)
    assert result.returncode != 0
    log = (workdir / f"{RUN}/logs/characters.log").read_text()
    assert "corrupt.mat" in log
    assert not (workdir / f"{RUN}/characters.zarr").exists()
    assert not _leftovers(workdir)
