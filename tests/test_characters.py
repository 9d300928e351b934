"""Reading, preprocessing, splitting and storing the UCI source characters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from deepdraw.characters import (BOX_CM, LETTERS, load_characters, main, preprocess,
                                 preprocess_velocities, read_characters, split_characters,
                                 write_characters)

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "resources" / "uci_characters_full2858.mat"
HALF = ROOT / "tests" / "data" / "uci_characters_half1429.mat"
CSV = ROOT / "tests" / "data" / "uci_characters_subset100.csv"


@pytest.fixture(scope="module")
def half():
    return read_characters(HALF)


@pytest.fixture(scope="module")
def full():
    return read_characters(FULL)


@pytest.fixture(scope="module")
def subset():
    return read_characters(CSV)


def _write_mixout(path: Path, velocities: list[np.ndarray], labels_1based: list[int],
                  key: str) -> None:
    """A file in the layout of UCI mixoutALL_shifted.mat (cells and a struct)."""
    cells = np.empty((1, len(velocities)), dtype=object)
    for i, v in enumerate(velocities):
        cells[0, i] = np.vstack([v.T, np.ones(len(v))])  # 3 x T with a force row
    key_cell = np.empty((1, len(key)), dtype=object)
    for i, letter in enumerate(key):
        key_cell[0, i] = letter
    consts = {"charlabels": np.array([labels_1based], dtype=np.uint8), "key": key_cell,
              "datarange": np.array([[1.0, 2.0]])}
    scipy.io.savemat(path, {"mixout": cells, "consts": consts})


def test_half_file_has_1429_samples_of_20_classes(half):
    assert len(half.velocities) == 1429
    counts = np.bincount(half.labels, minlength=20)
    assert len(counts) == 20 and counts.min() == 57 and counts.max() == 96
    assert half.letters == LETTERS
    assert all(v.ndim == 2 and v.shape[1] == 2 for v in half.velocities)
    assert np.array_equal(half.source_indices, np.arange(1429))
    raw = scipy.io.loadmat(HALF)
    assert np.array_equal(half.velocities[5], raw["xtrain"][0, 5][:2].T)
    # ytrain is 1-based into the key, which is in LETTERS order
    assert np.array_equal(half.labels, raw["ytrain"].ravel().astype(int) - 1)


def test_full_file_has_2858_samples_of_20_letters(full):
    assert len(full.velocities) == 2858
    assert full.letters == LETTERS
    # class counts of the UCI data set (resources/PROVENANCE.md)
    counts = dict(zip(LETTERS, np.bincount(full.labels, minlength=20).tolist()))
    assert counts == {"a": 171, "b": 141, "c": 142, "d": 157, "e": 186, "g": 138, "h": 127,
                      "l": 174, "m": 125, "n": 130, "o": 141, "p": 131, "q": 124, "r": 119,
                      "s": 133, "u": 131, "v": 155, "w": 125, "y": 137, "z": 171}
    assert np.array_equal(full.source_indices, np.arange(2858))
    # UCI order: the letters run a..z twice, in 40 contiguous blocks
    assert np.count_nonzero(np.diff(full.labels)) + 1 == 40
    raw = scipy.io.loadmat(FULL)
    assert np.array_equal(full.velocities[2000], raw["mixout"][0, 2000][:2].T)
    # after dropping the zero-velocity steps the characters are 60-182 steps long
    lengths = [len(p) for p in preprocess(full.velocities)]
    assert min(lengths) == 60 and max(lengths) == 182


def test_half_file_is_contained_in_the_full_file(full, half):
    """Both MATLAB layouts give the same samples and labels for the 1429 shared characters."""
    by_key: dict[tuple, list[int]] = {}
    for j, v in enumerate(full.velocities):
        by_key.setdefault((len(v), v[0, 0], v[0, 1]), []).append(j)
    used = set()
    for i, v in enumerate(half.velocities):
        matches = [j for j in by_key.get((len(v), v[0, 0], v[0, 1]), [])
                   if np.array_equal(full.velocities[j], v)]
        assert len(matches) == 1, f"half sample {i}: {len(matches)} matches in the full file"
        assert full.labels[matches[0]] == half.labels[i]
        used.add(matches[0])
    assert len(used) == 1429


def test_csv_has_100_samples_5_per_class(subset):
    assert len(subset.velocities) == 100
    assert np.array_equal(np.bincount(subset.labels, minlength=20), np.full(20, 5))
    table = pd.read_csv(CSV)
    first = table[table["sample"] == 0].sort_values("step")
    assert np.array_equal(subset.velocities[0], first[["vel_x", "vel_y"]].to_numpy())
    assert LETTERS[subset.labels[0]] == first["label"].iloc[0]


def test_half_file_samples_in_the_csv_match_by_content(half, subset):
    by_length: dict[int, list[int]] = {}
    for j, v in enumerate(half.velocities):
        by_length.setdefault(len(v), []).append(j)
    matched = 0
    for i, v in enumerate(subset.velocities):
        for j in by_length.get(len(v), []):
            err = np.abs(half.velocities[j] - v).max()
            if err < 1e-3:
                matched += 1
                assert err <= 5e-5
                assert half.labels[j] == subset.labels[i]
    assert matched >= 40  # 52 of the 100 fall in this half


def test_mixout_layout_is_read(tmp_path):
    rng = np.random.default_rng(0)
    velocities = [rng.normal(size=(t, 2)) for t in (30, 41, 25)]
    path = tmp_path / "mixoutALL_shifted.mat"
    # key deliberately not in LETTERS order: labels must follow the key's letters
    _write_mixout(path, velocities, [1, 3, 2], "zab")
    chars = read_characters(path)
    assert [LETTERS[k] for k in chars.labels] == ["z", "b", "a"]
    for got, want in zip(chars.velocities, velocities):
        np.testing.assert_allclose(got, want)
    assert len(chars.sha256) == 64


def test_preprocessing_invariants(half):
    for vel in half.velocities[:200]:
        pos = preprocess_velocities(vel)
        np.testing.assert_allclose(pos.max(axis=0) - pos.min(axis=0), [BOX_CM, BOX_CM])
        np.testing.assert_allclose(pos.max(axis=0) + pos.min(axis=0), [0, 0], atol=1e-12)
        assert len(pos) == np.sum(np.any(vel != 0, axis=1))
        assert not np.any(np.all(np.diff(pos, axis=0) == 0, axis=1))


def test_preprocessing_closed_form():
    vel = np.array([[0, 0], [1, 2], [0, 0], [3, -1], [0, 0]], dtype=float)
    # kept steps (1,2), (3,-1): positions (1,2), (4,1); range x 3, y 1
    expected = np.array([[-5.0, 5.0], [5.0, -5.0]])
    np.testing.assert_allclose(preprocess_velocities(vel), expected)
    with pytest.raises(ValueError, match="character 1"):
        preprocess([vel, np.array([[1.0, 0.0], [2.0, 0.0]])])  # no y extent


def test_split_is_disjoint_stratified_and_seeded(half):
    split = split_characters(half.labels, 0.2, np.random.default_rng(4))
    assert set(np.unique(split)) == {0, 1}
    for label in range(20):
        members = half.labels == label
        assert split[members].sum() == round(0.2 * members.sum())
    assert np.array_equal(split, split_characters(half.labels, 0.2, np.random.default_rng(4)))
    assert not np.array_equal(split, split_characters(half.labels, 0.2,
                                                      np.random.default_rng(5)))
    with pytest.raises(ValueError, match="test_fraction"):
        split_characters(half.labels, 1.5, np.random.default_rng(0))


def test_store_round_trip(subset, tmp_path):
    split = split_characters(subset.labels, 0.2, np.random.default_rng(0))
    write_characters(subset, tmp_path / "c.zarr", split)
    stored = load_characters(tmp_path / "c.zarr")
    assert np.array_equal(stored.labels, subset.labels)
    assert np.array_equal(stored.split, split)
    assert np.array_equal(stored.source_indices, subset.source_indices)
    for got, vel in zip(stored.trajectories, subset.velocities):
        np.testing.assert_allclose(got, preprocess_velocities(vel))
    assert stored.letters == LETTERS
    assert stored.attrs["source_sha256"] == subset.sha256


def test_cli_writes_store(tmp_path):
    out = tmp_path / "chars.zarr"
    main(["--input", str(CSV), "--output", str(out), "--test-fraction", "0.2", "--seed", "3"])
    stored = load_characters(out)
    assert stored.split.sum() == 20 and len(stored.labels) == 100


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.mat"):
        read_characters(tmp_path / "nothere.mat")


def test_corrupt_mat_is_named(tmp_path):
    bad = tmp_path / "broken.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 2)
    with pytest.raises(ValueError, match="broken.mat.*corrupt"):
        read_characters(bad)


def test_truncated_real_file_is_named(tmp_path):
    bad = tmp_path / "truncated.mat"
    bad.write_bytes(HALF.read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated.mat"):
        read_characters(bad)


def test_binary_garbage_is_named(tmp_path):
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(ValueError, match="garbage.bin"):
        read_characters(bad)


def test_wrong_mat_structure_names_the_variable(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"trajectories": np.zeros((3, 4))})
    with pytest.raises(ValueError, match="other.mat.*'mixout' or 'xtrain'.*trajectories"):
        read_characters(path)
    scipy.io.savemat(path, {"xtrain": np.zeros((3, 4)), "key": np.array(["a"])})
    with pytest.raises(ValueError, match="ytrain"):
        read_characters(path)
    scipy.io.savemat(path, {"mixout": np.zeros((3, 4)), "consts": {"key": np.array(["a"])}})
    with pytest.raises(ValueError, match="charlabels"):
        read_characters(path)


def test_labels_out_of_range_are_refused(tmp_path):
    path = tmp_path / "mixout.mat"
    _write_mixout(path, [np.ones((5, 2)), np.ones((6, 2))], [1, 4], "ab")
    with pytest.raises(ValueError, match="mixout.mat.*1..2"):
        read_characters(path)


def test_csv_missing_columns_and_unknown_letters(tmp_path):
    table = pd.read_csv(CSV)
    path = tmp_path / "short.csv"
    table.drop(columns=["vel_y"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="short.csv.*vel_y"):
        read_characters(path)
    table.assign(label="f").to_csv(path, index=False)
    with pytest.raises(ValueError, match="short.csv.*'f'"):
        read_characters(path)
