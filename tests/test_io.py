"""Store manifests: a zarr store that lost a chunk or changed is refused; NaNs are named."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from deepdraw import io


def _store(path, n=40):
    ds = xr.Dataset({"x": (("sample", "t"), np.arange(n * 3, dtype=np.float32).reshape(n, 3)),
                     "label": ("sample", np.arange(n) % 4)})
    io.write_zarr(ds, path, sample_chunk=8)
    return ds


def test_written_store_has_a_manifest_and_opens(tmp_path):
    ds = _store(tmp_path / "a.zarr")
    manifest = json.loads((tmp_path / "a.zarr" / io.MANIFEST).read_text())
    assert manifest["arrays"]["x"]["shape"] == [40, 3]
    assert manifest["arrays"]["x"]["chunk_files"] == 5  # 40 samples in chunks of 8
    assert manifest["arrays"]["label"]["dtype"] == "int64"
    opened = io.open_zarr(tmp_path / "a.zarr")
    np.testing.assert_array_equal(opened["x"].values, ds["x"].values)


def test_lost_chunk_is_refused_with_the_fix(tmp_path):
    store = tmp_path / "a.zarr"
    _store(store)
    chunk = sorted((store / "x" / "c").rglob("*"))[-1]
    chunk.unlink()
    # zarr itself reads the missing chunk as the fill value without complaint
    assert xr.open_zarr(store, consolidated=True, chunks=None)["x"].values.shape == (40, 3)
    with pytest.raises(io.StoreError, match=r"a\.zarr.*array x: chunk files 5 in the manifest, 4 on disk.*delete .*a\.zarr and rerun"):
        io.open_zarr(store)


def test_changed_bytes_are_refused(tmp_path):
    store = tmp_path / "a.zarr"
    _store(store)
    chunk = sorted((store / "label" / "c").rglob("*"))[0]
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    chunk.write_bytes(bytes(data))
    with pytest.raises(io.StoreError, match="array label: content"):
        io.open_zarr(store)


def test_store_without_manifest_is_refused(tmp_path):
    store = tmp_path / "a.zarr"
    _store(store)
    (store / io.MANIFEST).unlink()
    with pytest.raises(io.StoreError, match="no manifest.json"):
        io.open_zarr(store)
    # a store known to be complete can be given its manifest
    with pytest.raises(SystemExit) as exit_record:
        io.main(["record", str(store)])
    assert exit_record.value.code == 0
    io.open_zarr(store)


def test_verify_command_reports_each_store(tmp_path, capsys):
    good, bad = tmp_path / "good.zarr", tmp_path / "bad.zarr"
    _store(good)
    _store(bad)
    (bad / io.MANIFEST).unlink()
    with pytest.raises(SystemExit) as exit_verify:
        io.main(["verify", str(good), str(bad)])
    assert exit_verify.value.code == 1
    out = capsys.readouterr().out
    assert "good.zarr: matches" in out and "bad.zarr: no manifest.json" in out


def test_killed_write_leaves_nothing_under_the_final_name(tmp_path):
    store = tmp_path / "a.zarr"
    with pytest.raises(RuntimeError):
        with io.atomic_path(store) as tmp:
            xr.Dataset({"x": ("s", np.ones(3))}).to_zarr(tmp, zarr_format=3)
            raise RuntimeError("killed")
    assert not store.exists() and not list(tmp_path.iterdir())


def test_groups_are_covered(tmp_path):
    store = tmp_path / "tree.zarr"
    with io.atomic_path(store) as tmp:
        io.to_zarr(xr.Dataset({"a": ("s", np.ones(4))}), tmp, mode="w")
        io.to_zarr(xr.Dataset({"b": ("s", np.zeros(4))}), tmp, mode="a", group="layer1")
    assert set(json.loads((store / io.MANIFEST).read_text())["arrays"]) >= {"a", "layer1/b"}
    np.testing.assert_array_equal(io.open_zarr(store, group="layer1")["b"].values, np.zeros(4))
    (store / "layer1" / "b" / "zarr.json").unlink()
    with pytest.raises(io.StoreError, match="array layer1/b is missing"):
        io.verify_store(store)


def test_require_finite_names_source_variable_and_index():
    io.require_finite(np.ones((2, 3)), "x", "f.zarr", "fix it")
    io.require_finite(np.array(["a"]), "labels", "f.zarr", "fix it")  # not numeric: nothing to check
    values = np.ones((2, 3))
    values[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"f\.zarr: spindles has 1 non-finite value\(s\) \(first: NaN at index \(1, 2\)\); fix it"):
        io.require_finite(values, "spindles", "f.zarr", "fix it")
    values[1, 2] = -np.inf
    with pytest.raises(ValueError, match="infinite"):
        io.require_finite(values, "spindles", "f.zarr", "fix it")


def test_temporaries_of_a_killed_writer_are_removed_by_the_next(tmp_path):
    # what SIGKILL during a write leaves: the temporary of another process
    stale = tmp_path / ".a.zarr.tmp-999999"
    (stale / "x").mkdir(parents=True)
    other = tmp_path / ".b.zarr.tmp-999999"
    other.mkdir()
    _store(tmp_path / "a.zarr")
    assert not stale.exists() and other.exists()  # only the same output's temporaries
