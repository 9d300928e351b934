"""Data figures: arm geometry, sample choice, the figure files and the docs/data.md example."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepdraw import arm, datafigures
from synthetic import make_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "dataset.zarr", n_samples=40, seed=4)


def test_arm_points_have_the_segment_lengths_and_end_at_the_hand():
    q = np.random.default_rng(0).uniform(arm.JOINT_MIN, arm.JOINT_MAX, size=(50, 4))
    points = datafigures.arm_points(q)
    assert points.shape == (50, 3, 3)
    np.testing.assert_array_equal(points[:, 0], 0.0)  # shoulder at the world origin
    np.testing.assert_allclose(np.linalg.norm(points[:, 1], axis=-1), arm.UPPER_ARM_CM)
    np.testing.assert_allclose(np.linalg.norm(points[:, 2] - points[:, 1], axis=-1), arm.FOREARM_CM)
    np.testing.assert_allclose(points[:, 2], arm.forward_kinematics(q))


def test_picked_samples_are_in_the_plane_and_of_different_letters(dataset):
    ds = datafigures.open_dataset(dataset)
    for code in (0, 1):
        chosen = datafigures.pick_samples(ds, code, 4)
        assert len(chosen) == 4
        assert (ds["plane"].values[chosen] == code).all()
        assert len(set(ds["label"].values[chosen])) == 4


def test_all_figures_are_written_and_the_animation_is_small(dataset, tmp_path):
    samples = [tmp_path / "samples_horizontal.png", tmp_path / "samples_vertical.png"]
    datafigures.make_figures(dataset, ["horizontal", "vertical"], samples, tmp_path / "distributions.png",
                             tmp_path / "drawing.gif", per_plane=2)
    for path in [*samples, tmp_path / "distributions.png"]:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 800
    gif = tmp_path / "drawing.gif"
    assert gif.stat().st_size <= 1_000_000
    with Image.open(gif) as image:
        assert image.format == "GIF" and 2 <= image.n_frames <= datafigures.MAX_FRAMES
    assert not list(tmp_path.glob(".*tmp*"))  # nothing left under a temporary name


def test_plot_sample_names_the_valid_range(dataset, tmp_path):
    out = datafigures.plot_sample(dataset, 3, tmp_path / "one.png")
    assert out.exists()
    with pytest.raises(ValueError, match="40 samples"):
        datafigures.plot_sample(dataset, 40, tmp_path / "bad.png")


def test_missing_variable_is_named(tmp_path):
    import xarray as xr

    from deepdraw.io import write_zarr

    write_zarr(xr.Dataset({"label": ("sample", np.zeros(3, dtype="int16"))}), tmp_path / "d.zarr")
    with pytest.raises(ValueError, match="lacks plane, hand"):
        datafigures.open_dataset(tmp_path / "d.zarr")


def test_docs_example_runs_on_a_dataset(dataset, tmp_path, monkeypatch):
    text = (ROOT / "docs" / "data.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    example = next(b for b in blocks if "xr.open_zarr" in b)
    assert "results/default/dataset.zarr" in example
    monkeypatch.chdir(tmp_path)
    exec(example.replace("results/default/dataset.zarr", str(dataset)), {})
    with Image.open(tmp_path / "sample0_xarray.png") as image:
        assert image.format == "PNG"
    # the selection snippet after it works on the same dataset
    namespace = {}
    exec(example.replace("results/default/dataset.zarr", str(dataset)) + blocks[-1], namespace)
    subset, ds = namespace["subset"], namespace["ds"]
    expected = (ds["split"].values == 2) & (ds["plane"].values == 1) & (ds["label"].values == 0)
    assert subset.sizes["sample"] == expected.sum()
    assert (subset["label"].values == 0).all() and (subset["plane"].values == 1).all()
