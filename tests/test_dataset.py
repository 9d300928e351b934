"""Split assignment and shard gathering of deepdraw.dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from deepdraw.dataset import assign_split, build_dataset, stratified_pick
from deepdraw.io import open_zarr, write_zarr


def test_stratified_pick_takes_the_fraction_of_every_group():
    groups = np.repeat(np.arange(5), [10, 20, 30, 40, 50])
    picked = stratified_pick(groups, 0.1, np.random.default_rng(0))
    for g, size in zip(range(5), [10, 20, 30, 40, 50]):
        assert picked[groups == g].sum() == round(0.1 * size)


def test_character_split_keeps_held_out_characters_in_test_only():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 20, 2000)
    plane = rng.integers(0, 2, 2000)
    source_split = rng.random(2000) < 0.2
    settings = {"by": "character", "validation_fraction": 0.1, "test_fraction": 0.2}
    split = assign_split(label, plane, source_split.astype(int), settings, seed=3)
    assert np.array_equal(split == 2, source_split)
    assert abs((split == 1).sum() / (~source_split).sum() - 0.1) < 0.02
    assert np.array_equal(split, assign_split(label, plane, source_split.astype(int), settings, seed=3))


def test_sample_split_is_stratified_by_label_and_plane():
    label = np.repeat(np.arange(20), 50)
    plane = np.tile([0, 1], 500)
    settings = {"by": "sample", "validation_fraction": 0.1, "test_fraction": 0.2}
    split = assign_split(label, plane, np.zeros(1000, dtype=int), settings, seed=0)
    for lab in range(20):
        for pl in (0, 1):
            members = split[(label == lab) & (plane == pl)]
            assert (members == 2).sum() == 5  # round(0.2 * 25)
            assert (members == 1).sum() == 2  # round(0.1 * 20)


def _shard(path, n, plane, first_source):
    ds = xr.Dataset(
        {
            "spindles": (("sample", "muscle", "time", "channel"), np.full((n, 2, 4, 2), plane, "float32")),
            "label": ("sample", np.arange(n, dtype="int16") % 3),
            "plane": ("sample", np.full(n, plane, dtype="int8")),
            "source_index": ("sample", np.arange(first_source, first_source + n, dtype="int32")),
        },
        coords={"muscle": ["A", "B"], "channel": ["length", "velocity"]},
        attrs={"muscle_backend": "surrogate", "n_rejected": json.dumps({"tracing_error": plane + 1})},
    )
    write_zarr(ds, path, sample_chunk=256)
    return str(path)


def test_build_dataset_concatenates_in_order_and_records_provenance(tmp_path):
    characters = xr.Dataset({"split": ("character", np.array([0] * 10 + [1] * 10, dtype="int8"))})
    write_zarr(characters, tmp_path / "characters.zarr")
    shards = [_shard(tmp_path / "h.zarr", 7, 0, 0), _shard(tmp_path / "v.zarr", 6, 1, 10)]
    settings = {"by": "character", "validation_fraction": 0.2, "test_fraction": 0.2}
    attrs = build_dataset(shards, str(tmp_path / "characters.zarr"), str(tmp_path / "ds.zarr"),
                          settings, seed=1, config_hash="abc")
    ds = open_zarr(tmp_path / "ds.zarr")
    assert ds.sizes["sample"] == 13
    assert ds["plane"].values.tolist() == [0] * 7 + [1] * 6
    assert (ds["split"].values[7:] == 2).all() and (ds["split"].values[:7] != 2).all()
    assert json.loads(ds.attrs["n_rejected"]) == {"tracing_error": 3}
    assert ds.attrs["config_hash"] == "abc" and attrs["n_samples"]["test"] == 6


def test_build_dataset_refuses_only_empty_shards(tmp_path):
    characters = xr.Dataset({"split": ("character", np.zeros(3, dtype="int8"))})
    write_zarr(characters, tmp_path / "characters.zarr")
    empty = _shard(tmp_path / "e.zarr", 0, 0, 0)
    with pytest.raises(ValueError, match="every shard is empty"):
        build_dataset([empty], str(tmp_path / "characters.zarr"), str(tmp_path / "ds.zarr"),
                      {"by": "sample", "validation_fraction": 0.1, "test_fraction": 0.2}, 0, "x")
    assert not (tmp_path / "ds.zarr").exists()


def test_build_dataset_refuses_a_shard_with_nan_naming_it(tmp_path):
    characters = xr.Dataset({"split": ("character", np.zeros(20, dtype="int8"))})
    write_zarr(characters, tmp_path / "characters.zarr")
    good = _shard(tmp_path / "h.zarr", 5, 0, 0)
    bad_path = tmp_path / "v.zarr"
    _shard(bad_path, 5, 1, 5)
    ds = open_zarr(bad_path).load()
    spindles = ds["spindles"].values.copy()
    spindles[3, 1, 2, 0] = np.nan
    write_zarr(ds.assign(spindles=(ds["spindles"].dims, spindles)), bad_path, sample_chunk=256)
    with pytest.raises(ValueError, match=r"v\.zarr: spindles has 1 non-finite value\(s\) \(first: NaN at index \(3, 1, 2, 0\)\); delete the shard"):
        build_dataset([good, str(bad_path)], str(tmp_path / "characters.zarr"),
                      str(tmp_path / "ds.zarr"),
                      {"by": "sample", "validation_fraction": 0.1, "test_fraction": 0.2}, 0, "x")
    assert not (tmp_path / "ds.zarr").exists()
