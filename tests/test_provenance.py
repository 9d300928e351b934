"""Provenance: git commit, dataset fingerprint, and the records in the dataset store."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import xarray as xr

from deepdraw.dataset import build_dataset
from deepdraw.io import open_zarr, write_zarr
from deepdraw.provenance import (UNKNOWN, dataset_fingerprint, dataset_record, git_commit)
from synthetic import make_synthetic_dataset

HAS_GIT = shutil.which("git") is not None


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                   check=True, capture_output=True)


@pytest.mark.skipif(not HAS_GIT, reason="git is not installed")
def test_git_commit_names_head_and_the_dirty_flag(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-qm", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert git_commit(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "untracked.txt").write_text("new files do not make the checkout dirty")
    assert git_commit(tmp_path)["dirty"] is False
    (tmp_path / "a.txt").write_text("two")
    assert git_commit(tmp_path) == {"commit": head, "dirty": True}


def test_git_commit_outside_a_checkout_is_unknown(tmp_path):
    assert git_commit(tmp_path) == {"commit": UNKNOWN, "dirty": None}
    assert git_commit(tmp_path / "missing") == {"commit": UNKNOWN, "dirty": None}


@pytest.fixture()
def store(tmp_path):
    return make_synthetic_dataset(tmp_path / "ds.zarr", n_samples=60)


def test_fingerprint_is_stable_and_independent_of_the_location(store, tmp_path):
    first = dataset_fingerprint(store)
    assert len(first) == 64 and first == dataset_fingerprint(store)
    copy = shutil.copytree(store, tmp_path / "elsewhere" / "copy.zarr")
    assert dataset_fingerprint(copy) == first


def test_fingerprint_changes_with_labels_attributes_and_big_chunks(store, tmp_path):
    reference = dataset_fingerprint(store)
    ds = open_zarr(store).load()

    relabelled = ds.copy()
    relabelled["label"] = relabelled["label"].copy(data=np.roll(ds["label"].values, 1))
    write_zarr(relabelled, tmp_path / "relabelled.zarr", sample_chunk=128)
    assert dataset_fingerprint(tmp_path / "relabelled.zarr") != reference

    renamed = ds.copy()
    renamed.attrs = {**ds.attrs, "seed": 99}
    write_zarr(renamed, tmp_path / "attrs.zarr", sample_chunk=128)
    assert dataset_fingerprint(tmp_path / "attrs.zarr") != reference

    # a large file (above the byte limit) that grows changes the fingerprint through its size
    big = max((f for f in store.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)
    limit = big.stat().st_size - 1
    before = dataset_fingerprint(store, small_file_bytes=limit)
    with open(big, "ab") as handle:
        handle.write(b"\0")
    assert dataset_fingerprint(store, small_file_bytes=limit) != before


def test_fingerprint_of_a_missing_store_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.zarr"):
        dataset_fingerprint(tmp_path / "nothere.zarr")


def test_dataset_record_has_the_given_path_and_the_hash(store, monkeypatch):
    monkeypatch.chdir(store.parent)
    record = dataset_record("ds.zarr")
    assert record == {"path": "ds.zarr", "sha256": dataset_fingerprint(store)}


def test_dataset_store_records_config_and_commit(tmp_path):
    characters = xr.Dataset({"split": ("character", np.array([0, 1], dtype="int8"))})
    write_zarr(characters, tmp_path / "characters.zarr")
    shard = xr.Dataset(
        {
            "spindles": (("sample", "muscle", "time", "channel"), np.zeros((4, 2, 3, 2), "f4")),
            "label": ("sample", np.array([0, 1, 0, 1], dtype="int16")),
            "plane": ("sample", np.zeros(4, dtype="int8")),
            "source_index": ("sample", np.array([0, 1, 0, 1], dtype="int32")),
        },
        attrs={"muscle_backend": "surrogate", "n_rejected": json.dumps({})},
    )
    write_zarr(shard, tmp_path / "shard.zarr")
    config = {"seed": 3, "characters": {"file": "x.mat", "test_fraction": 0.2},
              "generation": {"planes": ["horizontal"]}}
    build_dataset([str(tmp_path / "shard.zarr")], str(tmp_path / "characters.zarr"),
                  str(tmp_path / "ds.zarr"),
                  {"by": "character", "validation_fraction": 0.5, "test_fraction": 0.2},
                  seed=3, config_hash="h", config=config)
    attrs = open_zarr(tmp_path / "ds.zarr").attrs
    assert json.loads(attrs["config"]) == config
    # the tests run from a checkout of this project, or from a copy without git
    code = git_commit()
    assert attrs["git_commit"] == code["commit"]
    assert attrs["git_dirty"] == code["dirty"]
    assert attrs["git_commit"] == UNKNOWN or len(attrs["git_commit"]) == 40
