"""Train one network (task, architecture, seed) on ``dataset.zarr``; untrained controls; summary.

Data are streamed from the zarr store with ``tf.data``: each epoch visits the storage chunks of
the sample axis in a random order, shuffles samples within windows of a few chunks, and never
holds more than one window in memory. The order depends only on the seed and the epoch, so a
run resumed after a kill sees the same batches as an uninterrupted one.

Training: Adam, cross-entropy (recognition) or variance-weighted MSE (decoding), learning rate
divided by 4 on a validation plateau (``ReduceLROnPlateau``), early stopping, the best validation
weights kept. ``BackupAndRestore`` checkpoints weights and optimiser every epoch and the state of
the other callbacks is saved beside it, so a killed job continues from its last finished epoch.

Command line::

    python -m deepdraw.training train --dataset D --task T --arch JSON --settings JSON \
        --seed S --output-dir DIR
    python -m deepdraw.training untrained --dataset D --task T --arch JSON --settings JSON \
        --seed S --output-dir DIR
    python -m deepdraw.training summarise --metrics m1.json m2.json ... --table T.csv --figure F.png
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

from deepdraw.io import atomic_path, open_zarr, rng_for

log = logging.getLogger(__name__)

SPLITS = {"train": 0, "validation": 1, "test": 2}
DEFAULTS = {"batch_size": 256, "learning_rate": 5e-4, "max_epochs": 50, "patience": 8,
            "plateau_patience": 5, "plateau_factor": 0.25, "min_learning_rate": 1e-6,
            "shuffle_chunks": 4, "dropout": 0.3}


# ----------------------------------------------------------------------------- data
class ZarrBatches:
    """Batches ``(spindles, target)`` of one split, read chunk by chunk from a dataset store.

    Parameters
    ----------
    store : path
        ``dataset.zarr`` (docs/architecture.md).
    split : {"train", "validation", "test"}
    task : {"recognition", "position", "position_velocity"}
    batch_size : int
    shuffle : bool
        Random chunk order and sample order within windows of ``shuffle_chunks`` chunks.
    seed : int
        Seed of the shuffling; the order of epoch ``e`` depends only on ``(seed, e)``.
    shuffle_chunks : int
        Chunks mixed together when shuffling (memory: ``shuffle_chunks`` chunks).

    Notes
    -----
    Set :attr:`epoch` before each epoch (:class:`EpochSetter` does it during ``fit``).
    """

    def __init__(self, store, split: str, task: str, batch_size: int, shuffle: bool = False,
                 seed: int = 0, shuffle_chunks: int = 4):
        from deepdraw.models import task_outputs

        self.ds = open_zarr(store)
        self.task, self.n_out = task, task_outputs(task)
        self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, seed
        self.shuffle_chunks = max(1, int(shuffle_chunks))
        self.epoch = 0
        split_codes = self.ds["split"].values
        self.mask = split_codes == SPLITS[split]
        self.n_samples = int(self.mask.sum())
        if self.n_samples == 0 and split == "train":
            raise ValueError(f"{store}: no samples in the train split")
        chunk = (self.ds["spindles"].encoding.get("chunks") or (256,))[0]
        n = len(split_codes)
        self.chunks = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)
                       if self.mask[lo:min(lo + chunk, n)].any()]
        self.dt = float(np.diff(self.ds["time"].values[:2])[0])
        self.input_shape = tuple(self.ds["spindles"].shape[1:])
        self.n_classes = len(self.ds["label"].attrs.get("letters", "")) or int(
            self.ds["label"].values.max()) + 1

    def __len__(self) -> int:
        return -(-self.n_samples // self.batch_size)

    def read_chunk(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs ``(n, muscles, time, 2)`` and targets of the split's samples in ``[lo, hi)``."""
        keep = np.flatnonzero(self.mask[lo:hi])
        x = self.ds["spindles"][lo:hi].values[keep].astype("float32")
        if self.n_out == 0:
            y = self.ds["label"][lo:hi].values[keep].astype("int32")
        else:
            hand = self.ds["hand"][lo:hi].values[keep].astype("float64")
            y = hand
            if self.n_out == 6:
                y = np.concatenate([hand, np.gradient(hand, self.dt, axis=1)], axis=-1)
            y = y.astype("float32")
        return x, y

    def __iter__(self):
        order = list(range(len(self.chunks)))
        rng = rng_for(self.seed, "shuffle", self.epoch) if self.shuffle else None
        if rng is not None:
            order = list(rng.permutation(order))
        pending_x, pending_y = [], []
        for w in range(0, len(order), self.shuffle_chunks):
            parts = [self.read_chunk(*self.chunks[c]) for c in order[w:w + self.shuffle_chunks]]
            x = np.concatenate([p[0] for p in parts] + pending_x)
            y = np.concatenate([p[1] for p in parts] + pending_y)
            if rng is not None:
                perm = rng.permutation(len(x))
                x, y = x[perm], y[perm]
            n_full = len(x) // self.batch_size * self.batch_size
            for b in range(0, n_full, self.batch_size):
                yield x[b:b + self.batch_size], y[b:b + self.batch_size]
            pending_x, pending_y = [x[n_full:]], [y[n_full:]]
        if len(pending_x[0]):
            yield pending_x[0], pending_y[0]

    def dataset(self):
        """``tf.data.Dataset`` of this split's batches (a fresh pass per iteration)."""
        import tensorflow as tf

        y_spec = (tf.TensorSpec((None,), tf.int32) if self.n_out == 0 else
                  tf.TensorSpec((None, self.input_shape[1], self.n_out), tf.float32))
        data = tf.data.Dataset.from_generator(
            self.__iter__, output_signature=(
                tf.TensorSpec((None, *self.input_shape), tf.float32), y_spec))
        # the number of batches is known: lets Keras show progress and size each epoch
        return data.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)

    def statistics(self) -> dict[str, np.ndarray]:
        """Mean and std of inputs per (muscle, channel) and of targets per output, streamed."""
        sums = {"x": 0.0, "x2": 0.0, "y": 0.0, "y2": 0.0}
        count_x = count_y = 0
        for lo, hi in self.chunks:
            x, y = self.read_chunk(lo, hi)
            x = x.astype("float64")
            sums["x"] += x.sum(axis=(0, 2))
            sums["x2"] += np.square(x).sum(axis=(0, 2))
            count_x += x.shape[0] * x.shape[2]
            if self.n_out:
                y = y.reshape(-1, self.n_out).astype("float64")
                sums["y"] += y.sum(axis=0)
                sums["y2"] += np.square(y).sum(axis=0)
                count_y += len(y)
        stats = {"input_mean": sums["x"] / count_x}
        stats["input_std"] = np.sqrt(np.maximum(sums["x2"] / count_x - stats["input_mean"] ** 2, 0))
        if self.n_out:
            stats["target_mean"] = sums["y"] / count_y
            stats["target_std"] = np.sqrt(np.maximum(
                sums["y2"] / count_y - stats["target_mean"] ** 2, 1e-12))
        return stats


# ----------------------------------------------------------------------------- callbacks
def _keras():
    import keras

    return keras


def make_epoch_setter(seed: int, *sources: ZarrBatches):
    """Callback making each epoch's randomness a function of ``(seed, epoch)`` only.

    Sets the epoch of the data sources (shuffle order) and reseeds every layer's random
    stream (dropout masks): a run resumed at epoch ``e`` then draws what an uninterrupted
    run draws, so both end with the same weights.
    """
    keras = _keras()

    class EpochSetter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            for source in sources:
                source.epoch = epoch
            for i, layer in enumerate(self.model.layers):
                generator = getattr(layer, "seed_generator", None)
                if generator is not None:
                    word = rng_for(seed, "layer", i, "epoch", epoch).integers(0, 2**31)
                    generator.state.assign(np.array([word, 0], dtype=generator.state.dtype))

    return EpochSetter()


def make_state_keeper(path: Path, callbacks: dict, stop_flag: Path):
    """Callback saving and restoring the counters of stateful callbacks with each backup.

    ``BackupAndRestore`` restores weights, optimiser (incl. learning rate) and epoch, but not
    the patience counters of ``EarlyStopping`` / ``ReduceLROnPlateau`` nor the best value of
    ``ModelCheckpoint``; without them a resumed run would train differently.
    """
    keras = _keras()
    fields = {"early_stopping": ("wait", "best", "best_epoch", "stopped_epoch"),
              "plateau": ("wait", "best", "cooldown_counter"),
              "checkpoint": ("best",), "clock": ("elapsed",)}

    class StateKeeper(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._restored = False

        def on_epoch_begin(self, epoch, logs=None):
            # first epoch of this process: the callbacks' on_train_begin has reset them and
            # BackupAndRestore has chosen the epoch to resume from
            if self._restored:
                return
            self._restored = True
            saved = json.loads(path.read_text()) if path.exists() else {}
            if str(epoch) in saved:
                for key, values in saved[str(epoch)].items():
                    for field, value in values.items():
                        setattr(callbacks[key], field, value)
                log.info("resuming at epoch %d with the callback state saved then", epoch)

        def on_epoch_end(self, epoch, logs=None):
            saved = json.loads(path.read_text()) if path.exists() else {}
            # keep the previous epoch's state too: a kill before the backup of this epoch is
            # written resumes from the previous one
            saved = {k: v for k, v in saved.items() if int(k) == epoch}
            saved[str(epoch + 1)] = {
                key: {f: _jsonable(getattr(callbacks[key], f)) for f in fields[key]
                      if hasattr(callbacks[key], f)} for key in callbacks}
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(saved))
            os.replace(tmp, path)

        def on_train_end(self, logs=None):
            stop_flag.write_text("finished\n")

    return StateKeeper()


def make_clock():
    """Callback accumulating training wall time across resumed runs (attribute ``elapsed``)."""
    keras = _keras()

    class Clock(keras.callbacks.Callback):
        elapsed = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.elapsed += time.perf_counter() - self._start

    return Clock()


def _jsonable(value):
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    return value


# ----------------------------------------------------------------------------- training
def configure_tensorflow(seed: int, threads: int | None = None) -> None:
    """Seed all generators and make TensorFlow ops deterministic (identical weights per seed)."""
    import tensorflow as tf

    keras = _keras()
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:  # TensorFlow already started in this process (tests, notebooks)
            log.warning("TensorFlow already initialised; thread settings unchanged")
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def evaluate(model, source: ZarrBatches, n_classes: int) -> dict:
    """Metrics of ``model`` on one split: accuracy (+ confusion matrix) or decoding error.

    Returns
    -------
    dict
        recognition: ``accuracy``, ``loss``, ``confusion`` (n_classes x n_classes, rows = true);
        decoding: ``position_error_cm`` (mean Euclidean error), ``position_rmse_cm``
        [, ``velocity_error_cm_s``].
    """
    from sklearn.metrics import confusion_matrix

    if source.n_samples == 0:
        # tiny stores may have an empty split: report it rather than fail
        nan = float("nan")
        if source.n_out == 0:
            return {"n": 0, "accuracy": nan, "loss": nan, "confusion": None}
        return {"n": 0, "position_error_cm": nan, "position_rmse_cm": nan,
                **({"velocity_error_cm_s": nan} if source.n_out == 6 else {})}
    truths, preds = [], []
    for x, y in source:
        preds.append(model.predict_on_batch(x))
        truths.append(y)
    y, p = np.concatenate(truths), np.concatenate(preds)
    if source.n_out == 0:
        predicted = p.argmax(axis=1)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))
        return {"n": int(len(y)), "accuracy": float(np.mean(predicted == y)), "loss": loss,
                "confusion": confusion_matrix(y, predicted, labels=range(n_classes)).tolist()}
    err = np.linalg.norm(p[..., :3] - y[..., :3], axis=-1)
    out = {"n": int(len(y)), "position_error_cm": float(err.mean()),
           "position_rmse_cm": float(np.sqrt(np.mean(err ** 2)))}
    if source.n_out == 6:
        out["velocity_error_cm_s"] = float(np.linalg.norm(p[..., 3:] - y[..., 3:], axis=-1).mean())
    return out


def _sources(dataset, task, settings, seed):
    opts = {key: settings.get(key, default) for key, default in DEFAULTS.items()}
    train = ZarrBatches(dataset, "train", task, opts["batch_size"], shuffle=True, seed=seed,
                        shuffle_chunks=opts["shuffle_chunks"])
    val = ZarrBatches(dataset, "validation", task, opts["batch_size"])
    test = ZarrBatches(dataset, "test", task, opts["batch_size"])
    return opts, train, val, test


def _build(arch, task, train: ZarrBatches, opts: dict, seed: int):
    from deepdraw.models import build_model, compile_model

    stats = train.statistics()
    arch = {"dropout": opts["dropout"], **arch}
    model = build_model(arch, task, n_classes=train.n_classes, input_shape=train.input_shape,
                        input_mean=stats["input_mean"], input_std=stats["input_std"],
                        target_mean=stats.get("target_mean"), target_std=stats.get("target_std"),
                        seed=seed)
    return compile_model(model, task, opts["learning_rate"], stats.get("target_std")), stats


def _describe(arch, task, seed, model, trained: bool) -> dict:
    from deepdraw.models import n_layers

    return {"task": task, "name": arch.get("name", arch["family"]), "family": arch["family"],
            "architecture": arch, "seed": int(seed), "trained": trained,
            "n_layers": n_layers(arch), "n_parameters": int(model.count_params())}


def train(dataset, task: str, arch: dict, settings: dict, seed: int, output_dir,
          threads: int | None = None, extra_callbacks=()) -> dict:
    """Train one model and write ``model.keras``, ``history.csv``, ``metrics.json``, ``tensorboard/``.

    Parameters
    ----------
    dataset : path
        ``dataset.zarr``.
    task : {"recognition", "position", "position_velocity"}
    arch : dict
        Architecture (:mod:`deepdraw.models`).
    settings : dict
        The config's ``training`` section (``batch_size``, ``learning_rate``, ``max_epochs``,
        ``patience``, ``plateau_patience``, ``plateau_factor``, ``min_learning_rate``,
        ``shuffle_chunks``, ``dropout``); missing keys take :data:`DEFAULTS`.
    seed : int
        Seed of initialisation, dropout and data order.
    output_dir : path
        Outputs; ``checkpoint/`` inside it holds the resumable state until the run completes.
    threads : int, optional
        TensorFlow thread pool size.
    extra_callbacks : sequence of keras callbacks
        Appended to the training callbacks (tests use one to interrupt a run).

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    import pandas as pd

    keras = _keras()
    configure_tensorflow(seed, threads)
    out = Path(output_dir)
    ckpt = out / "checkpoint"
    ckpt.mkdir(parents=True, exist_ok=True)
    opts, train_src, val_src, test_src = _sources(dataset, task, settings, seed)
    model, _ = _build(arch, task, train_src, opts, seed)
    log.info("%s: %d parameters, %d/%d/%d train/validation/test samples", model.name,
             model.count_params(), train_src.n_samples, val_src.n_samples, test_src.n_samples)

    # without validation samples (tiny test stores) the schedule follows the training loss
    monitor = "val_loss" if val_src.n_samples else "loss"
    if not val_src.n_samples:
        log.warning("no validation samples: early stopping and lr schedule use the training loss")
    callbacks = {
        "early_stopping": keras.callbacks.EarlyStopping(monitor=monitor,
                                                        patience=opts["patience"]),
        "plateau": keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=opts["plateau_factor"], patience=opts["plateau_patience"],
            min_lr=opts["min_learning_rate"], verbose=1),
        "checkpoint": keras.callbacks.ModelCheckpoint(
            str(ckpt / "best.weights.h5"), monitor=monitor, save_best_only=True,
            save_weights_only=True),
        "clock": make_clock(),
    }
    finished = ckpt / "finished"
    tensorboard = out / "tensorboard"
    callback_list = [
        make_epoch_setter(seed, train_src),
        *callbacks.values(),
        keras.callbacks.CSVLogger(str(ckpt / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(tensorboard), write_graph=False),
        # saves the counters above once they are updated for the epoch
        make_state_keeper(ckpt / "state.json", callbacks, finished),
        *extra_callbacks,
        # last: an epoch counts as done once everything above has recorded it
        keras.callbacks.BackupAndRestore(str(ckpt / "backup"), delete_checkpoint=False),
    ]
    if finished.exists():
        # killed after training ended but before the outputs were written: nothing to redo
        log.info("training already finished; writing its outputs")
    else:
        model.fit(train_src.dataset(),
                  validation_data=val_src.dataset() if val_src.n_samples else None,
                  epochs=opts["max_epochs"], callbacks=callback_list, verbose=2,
                  shuffle=False)  # shuffled by ZarrBatches, per epoch
    model.load_weights(ckpt / "best.weights.h5")
    saved = json.loads((ckpt / "state.json").read_text())
    state = saved[max(saved, key=int)]

    metrics = _describe(arch, task, seed, model, trained=True)
    history = pd.read_csv(ckpt / "history.csv")
    # a resumed run may repeat the epoch it was killed in: keep the last record of each
    history = history.drop_duplicates("epoch", keep="last").reset_index(drop=True)
    metrics.update({"epochs": int(len(history)),
                    "best_epoch": int(history[monitor].idxmin()) + 1,
                    "settings": opts})
    for split, source in (("train", ZarrBatches(dataset, "train", task, opts["batch_size"])),
                          ("validation", val_src), ("test", test_src)):
        metrics[split] = evaluate(model, source, train_src.n_classes)
    _write_outputs(model, metrics, out, history)
    # wall-clock time differs between runs: kept apart from the reproducible outputs
    with atomic_path(out / "timing.json") as tmp:
        tmp.write_text(json.dumps({"training_time_s": float(state["clock"]["elapsed"])}))
    shutil.rmtree(ckpt)
    return metrics


def save_model(model, path: str | Path) -> None:
    """Save ``model`` as a ``.keras`` archive whose bytes depend only on the model.

    Keras writes the save date, zip timestamps and Python object ids (``shared_object_id``,
    memory addresses) into the archive; the date is dropped, timestamps fixed and the ids
    numbered in order of appearance, which loads to the same model.
    """
    with atomic_path(path) as tmp:
        raw = tmp.with_name(tmp.name + ".raw.keras")
        try:
            model.save(raw)
            _canonical_archive(raw, tmp)
        finally:
            raw.unlink(missing_ok=True)


def _canonical_archive(source_path: Path, target_path: Path) -> None:
    ids: dict[bytes, bytes] = {}

    def renumber(match: re.Match) -> bytes:
        number = ids.setdefault(match.group(1), str(len(ids)).encode())
        return b'"shared_object_id": ' + number

    with zipfile.ZipFile(source_path) as source, zipfile.ZipFile(target_path, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "config.json":
                data = re.sub(rb'"shared_object_id": (\d+)', renumber, data)
            elif info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata).encode()
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = info.compress_type
            target.writestr(entry, data)


def _write_outputs(model, metrics: dict, out: Path, history=None) -> None:
    save_model(model, out / "model.keras")
    if history is not None:
        with atomic_path(out / "history.csv") as tmp:
            history.to_csv(tmp, index=False)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=_jsonable))
    log.info("%s: test %s", out, {k: v for k, v in metrics["test"].items() if k != "confusion"})


def untrained(dataset, task: str, arch: dict, settings: dict, seed: int, output_dir,
              threads: int | None = None) -> dict:
    """Save an untrained control: same architecture and input statistics, random weights.

    Writes ``model.keras`` and ``metrics.json`` (test performance at initialisation).
    """
    configure_tensorflow(seed, threads)
    opts, train_src, _, test_src = _sources(dataset, task, settings, seed)
    model, _ = _build(arch, task, train_src, opts, seed)
    metrics = _describe(arch, task, seed, model, trained=False)
    metrics["test"] = evaluate(model, test_src, train_src.n_classes)
    _write_outputs(model, metrics, Path(output_dir))
    return metrics


# ----------------------------------------------------------------------------- summary
def test_score(metrics: dict) -> tuple[str, float]:
    """The headline test metric of a model: accuracy (recognition) or position error (cm)."""
    test = metrics["test"]
    if "accuracy" in test:
        return "test_accuracy", test["accuracy"]
    return "test_position_error_cm", test["position_error_cm"]


def summarise(metric_files: list, table, figure, times=None) -> "pd.DataFrame":
    """Table of all models (one row each) and test performance vs depth per family.

    Parameters
    ----------
    metric_files : list of paths
        ``metrics.json`` files of trained (and untrained) models.
    table : path
        CSV: task, name, family, seed, trained, n_layers, n_parameters, hyper-parameters
        (``arch_*`` columns), epochs, test accuracy / error.
    figure : path
        PNG: per task, test metric against number of layers, one colour per family.
    times : path, optional
        CSV of the training time of each trained model (``timing.json`` beside its metrics),
        apart from ``table`` because wall-clock time differs from run to run.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import pandas as pd

    rows = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        row = {k: m.get(k) for k in ("task", "name", "family", "seed", "trained", "n_layers",
                                     "n_parameters", "epochs")}
        row.update({f"arch_{k}": json.dumps(v) if isinstance(v, list) else v
                    for k, v in m["architecture"].items() if k not in ("name", "family")})
        for split in ("train", "validation", "test"):
            for key, value in m.get(split, {}).items():
                if key not in ("confusion", "n", "loss"):
                    row[f"{split}_{key}"] = value
        rows.append(row)
    df = pd.DataFrame(rows).sort_values(["task", "family", "name", "trained", "seed"])
    # integer hyper-parameters stay integers despite the NaNs of other families' columns
    arch_columns = [c for c in df.columns if c.startswith("arch_")]
    df[arch_columns] = df[arch_columns].convert_dtypes()
    with atomic_path(table) as tmp:
        df.to_csv(tmp, index=False)
    if times is not None:
        timings = []
        for path in metric_files:
            timing = Path(path).with_name("timing.json")
            if timing.is_file():
                m = json.loads(Path(path).read_text())
                timings.append({"task": m["task"], "name": m["name"], "seed": m["seed"],
                                **json.loads(timing.read_text())})
        with atomic_path(times) as tmp:
            pd.DataFrame(timings, columns=["task", "name", "seed", "training_time_s"]).to_csv(
                tmp, index=False)

    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        sub = df[df["task"] == task]
        column = "test_accuracy" if task == "recognition" else "test_position_error_cm"
        for i, (family, group) in enumerate(sub.groupby("family")):
            for trained, marker in ((True, "o"), (False, "x")):
                g = group[group["trained"] == trained]
                if len(g):
                    ax.scatter(g["n_layers"], g[column], marker=marker, color=f"C{i}",
                               label=f"{family}{'' if trained else ' (untrained)'}")
        if task == "recognition":
            ax.axhline(1 / 20, color="grey", lw=0.8, ls=":")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set(title=task, xlabel="number of layers",
               ylabel="test accuracy" if task == "recognition" else "test position error (cm)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(figure) as tmp:
        fig.savefig(tmp, format=Path(figure).suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    return df


# ----------------------------------------------------------------------------- CLI
def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m deepdraw.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "untrained"):
        p = sub.add_parser(name)
        p.add_argument("--dataset", required=True)
        p.add_argument("--task", required=True)
        p.add_argument("--arch", required=True, help="architecture, JSON")
        p.add_argument("--settings", default="{}", help="the config's training section, JSON")
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--output-dir", required=True)
        p.add_argument("--threads", type=int, default=None)
    p = sub.add_parser("summarise")
    p.add_argument("--metrics", nargs="+", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--figure", required=True)
    p.add_argument("--times", help="CSV of training times (wall clock)")
    args = parser.parse_args(argv)
    if args.command == "summarise":
        summarise(args.metrics, args.table, args.figure, args.times)
        return
    func = train if args.command == "train" else untrained
    func(args.dataset, args.task, json.loads(args.arch), json.loads(args.settings), args.seed,
         args.output_dir, threads=args.threads)


if __name__ == "__main__":
    main()
