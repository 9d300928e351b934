"""Faults the stages refuse: non-finite training data, interrupted training states."""

from __future__ import annotations

import numpy as np
import pytest

from deepdraw.io import open_zarr, write_zarr
from synthetic import make_synthetic_dataset


def test_training_refuses_non_finite_inputs_naming_the_store(tmp_path):
    from deepdraw.training.data import ZarrBatches

    store = make_synthetic_dataset(tmp_path / "dataset.zarr", 64, 4, 2)
    ds = open_zarr(store).load()
    spindles = ds["spindles"].values.copy()
    train = np.flatnonzero(ds["split"].values == 0)
    spindles[train[0], 3, 10, 1] = np.inf
    write_zarr(ds.assign(spindles=(ds["spindles"].dims, spindles)), tmp_path / "bad.zarr",
               sample_chunk=128)
    batches = ZarrBatches(tmp_path / "bad.zarr", "train", "recognition", 8)
    with pytest.raises(ValueError, match=r"bad\.zarr: input_mean of the train split has 1 non-finite"):
        batches.statistics()
