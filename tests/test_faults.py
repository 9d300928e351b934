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


TINY = {"name": "tiny", "family": "spatiotemporal", "filters": [4], "kernel": 5, "stride": 4}
SETTINGS = {"batch_size": 64, "learning_rate": 1e-3, "max_epochs": 3, "patience": 3,
            "plateau_patience": 1, "plateau_factor": 0.25, "min_learning_rate": 1e-6,
            "shuffle_chunks": 2, "dropout": 0.3, "precision": "float32", "jit_compile": False,
            "device": "cpu", "allow_cpu_fallback": False, "cache_inputs": "auto",
            "cache_max_mb": 100}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("toy") / "dataset.zarr", 300, 4, 1)


def _interrupted(toy, out, after_epoch=1):
    """Train until epoch ``after_epoch - 1`` is backed up, then stop in ``after_epoch`` as a kill would."""
    import keras

    from deepdraw.training import train

    class Preempt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == after_epoch:
                raise KeyboardInterrupt("preempted")

    with pytest.raises(KeyboardInterrupt):
        train(toy, "recognition", TINY, SETTINGS, 1, out, extra_callbacks=[Preempt()])


def _event_files(folder):
    return sorted(p.name for p in folder.rglob("events.out.tfevents.*"))


def test_tensorboard_events_from_before_a_kill_survive_the_resume(toy, tmp_path):
    import shutil

    from deepdraw.training import train

    out = tmp_path / "run"
    _interrupted(toy, out)
    before = _event_files(out / "checkpoint")
    assert before, "the interrupted run wrote no TensorBoard events"
    # Snakemake deletes the declared outputs of an interrupted job before it reruns it
    shutil.rmtree(out / "tensorboard", ignore_errors=True)
    train(toy, "recognition", TINY, SETTINGS, 1, out)
    after = _event_files(out / "tensorboard")
    assert set(before) < set(after)  # the first attempt's files plus the resumed run's
    assert not (out / "checkpoint").exists() and not (out / ".checkpoint.removing").exists()


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [
    "truncated_backup_weights", "backup_metadata_missing", "truncated_metadata",
    "finished_without_best_weights", "truncated_history"])
def test_damaged_checkpoint_trains_from_scratch(toy, tmp_path, damage, caplog):
    import logging

    from deepdraw.training import train
    from deepdraw.training.fit import checkpoint_problem

    out = tmp_path / "run"
    _interrupted(toy, out)
    ckpt = out / "checkpoint"
    assert checkpoint_problem(ckpt) is None
    if damage == "truncated_backup_weights":
        _truncate(ckpt / "backup/latest.weights.h5")
    elif damage == "backup_metadata_missing":
        (ckpt / "backup/training_metadata.json").unlink()
    elif damage == "truncated_metadata":
        (ckpt / "backup/training_metadata.json").write_text('{"epoch": ')
    elif damage == "finished_without_best_weights":
        # killed while the clean-up removed files one by one (before it renamed the folder)
        (ckpt / "finished").write_text("finished\n")
        (ckpt / "best.weights.h5").unlink()
    elif damage == "truncated_history":
        (ckpt / "history.csv").write_bytes(b'epoch,loss\n0,"1.2\n')
    assert checkpoint_problem(ckpt) is not None
    with caplog.at_level(logging.WARNING, logger="deepdraw.training.fit"):
        metrics = train(toy, "recognition", TINY, SETTINGS, 1, out)
    assert "training from scratch" in caplog.text
    assert metrics["epochs"] == SETTINGS["max_epochs"]  # every epoch trained again
    assert (out / "model.keras").is_file() and not ckpt.exists()


def test_kill_during_the_final_clean_up_is_harmless(toy, tmp_path):
    from deepdraw.training import train

    out = tmp_path / "run"
    train(toy, "recognition", TINY, SETTINGS, 1, out)
    # what a kill between the rename and the end of the removal leaves behind
    (out / ".checkpoint.removing" / "backup").mkdir(parents=True)
    train(toy, "recognition", TINY, SETTINGS, 1, out)
    assert not (out / ".checkpoint.removing").exists()


# ------------------------------------------------------------------ character files
def test_character_file_without_characters_is_refused(tmp_path):
    from deepdraw.characters import read_characters

    empty = tmp_path / "empty.csv"
    empty.write_text("sample,label,step,vel_x,vel_y,tip_force\n")
    with pytest.raises(ValueError, match="empty.csv: holds no character recordings"):
        read_characters(empty)


def test_character_main_names_a_non_finite_recording(tmp_path):
    import pandas as pd

    from deepdraw.characters import main
    from workflow import ROOT

    table = pd.read_csv(ROOT / "tests/data/uci_characters_subset100.csv")
    sample = table["sample"].unique()[3]
    rows = table.index[table["sample"] == sample]
    table.loc[rows[7], "vel_y"] = np.inf
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    with pytest.raises(SystemExit, match=rf"bad\.csv: recording {sample} has a non-finite pen "
                                         r"velocity \(inf in y at step 7\)"):
        main(["--input", str(path), "--output", str(tmp_path / "c.zarr"),
              "--test-fraction", "0.2", "--seed", "0"])
    assert not (tmp_path / "c.zarr").exists()


def test_nan_in_a_mat_recording_is_named(tmp_path):
    import scipy.io

    from deepdraw.characters import read_characters

    rng = np.random.default_rng(0)
    cells = np.empty((1, 2), dtype=object)
    for i in range(2):
        velocity = rng.normal(size=(3, 20))
        if i == 1:
            velocity[0, 4] = np.nan
        cells[0, i] = velocity
    key = np.empty((1, 1), dtype=object)
    key[0, 0] = "a"
    scipy.io.savemat(tmp_path / "m.mat", {"mixout": cells, "consts": {
        "charlabels": np.array([[1, 1]], dtype=np.uint8), "key": key}})
    with pytest.raises(ValueError, match=r"m\.mat: recording 1 has a non-finite pen velocity "
                                         r"\(nan in x at step 4\)"):
        read_characters(tmp_path / "m.mat")
