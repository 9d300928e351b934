"""Batches of one split of ``dataset.zarr``: shuffled, read in parallel, optionally cached.

The visiting order of an epoch is a function of ``(seed, epoch)`` only: the storage chunks of the
sample axis are visited in a random order, and the samples of a window of ``shuffle_chunks``
chunks (plus the remainder of the previous window) are shuffled together. Chunks are where the
dataset's shards and planes were concatenated, so a window mixes samples of several shards.
Whether the inputs are streamed from zarr or served from an in-memory cache changes the speed,
never the batches: a run resumed elsewhere (another node, less memory) sees the same data.
"""

from __future__ import annotations

import copy
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from deepdraw.contract import SPLIT_CODES as SPLITS
from deepdraw.io import open_zarr, rng_for

log = logging.getLogger(__name__)

CACHE_MODES = ("auto", "true", "false")


def _cache_mode(value) -> str:
    """Normalise ``cache_inputs`` (``auto``, ``true``/``false`` or a YAML boolean)."""
    mode = str(value).lower()
    if mode not in CACHE_MODES:
        raise ValueError(f"training.cache_inputs={value!r}; expected one of auto, true, false")
    return mode


def available_memory_mb() -> float:
    """Physical memory not in use on this machine (MB), or infinity where unknown."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (ValueError, OSError, AttributeError):
        return float("inf")


class ZarrBatches:
    """Batches ``(spindles, target)`` of one split of a dataset store.

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
        Chunks mixed together when shuffling (streaming memory: two windows of chunks).
    cache : {"auto", "true", "false"} or bool
        Hold the split's float32 inputs and targets in memory (read once, in parallel):
        ``auto`` caches when they take at most ``cache_max_mb`` and half the free memory.
    cache_max_mb : float
        Memory bound of ``cache="auto"`` (MB).
    readers : int
        Threads reading (and decompressing) zarr chunks in parallel.

    Attributes
    ----------
    cached : bool
        Whether the inputs are held in memory.
    input_shape : tuple
        ``(muscles, time steps, 2)`` of one sample.

    Notes
    -----
    Set :attr:`epoch` before each epoch (the training's epoch callback does it during ``fit``).
    """

    def __init__(self, store, split: str, task: str, batch_size: int, shuffle: bool = False,
                 seed: int = 0, shuffle_chunks: int = 4, cache="false",
                 cache_max_mb: float = 4000, readers: int = 4):
        import zarr

        from deepdraw.models import task_outputs

        self.store = store
        self.ds = open_zarr(store)
        # bulk reads go to zarr directly: xarray's indexing adds per-call overhead
        self.arrays = zarr.open_group(str(store), mode="r")
        self.task, self.n_out = task, task_outputs(task)
        self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, seed
        self.shuffle_chunks = max(1, int(shuffle_chunks))
        self.readers = max(1, int(readers))
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
        # split-local index of the first sample of each chunk (samples keep store order)
        counts = [int(self.mask[lo:hi].sum()) for lo, hi in self.chunks]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.dt = float(np.diff(self.ds["time"].values[:2])[0])
        self.input_shape = tuple(self.ds["spindles"].shape[1:])
        self.n_classes = len(self.ds["label"].attrs.get("letters", "")) or int(
            self.ds["label"].values.max()) + 1
        self._x = self._y = None
        self.cached = self._should_cache(_cache_mode(cache), cache_max_mb)
        if self.cached:
            self._fill_cache()

    # ------------------------------------------------------------------ sizes and cache
    def __len__(self) -> int:
        return -(-self.n_samples // self.batch_size)

    def cache_mb(self) -> float:
        """Memory (MB) of this split's float32 inputs and targets."""
        per_sample = np.prod(self.input_shape) + (self.input_shape[1] * self.n_out or 1)
        return float(self.n_samples * per_sample * 4 / 1e6)

    def _should_cache(self, mode: str, cache_max_mb: float) -> bool:
        if mode == "false" or self.n_samples == 0:
            return False
        if mode == "true":
            return True
        size = self.cache_mb()
        fits = size <= cache_max_mb and size <= 0.5 * available_memory_mb()
        if not fits:
            log.info("inputs of %d samples (%.0f MB) exceed the cache bound (%.0f MB or half the"
                     " free memory): streaming from zarr", self.n_samples, size, cache_max_mb)
        return fits

    def _fill_cache(self) -> None:
        x = np.empty((self.n_samples, *self.input_shape), dtype="float32")
        y_shape = (self.input_shape[1], self.n_out) if self.n_out else ()
        y = np.empty((self.n_samples, *y_shape), dtype="int32" if self.n_out == 0 else "float32")
        for c, (xc, yc) in enumerate(self._read_all()):
            x[self.offsets[c]:self.offsets[c + 1]] = xc
            y[self.offsets[c]:self.offsets[c + 1]] = yc
        self._x, self._y = x, y
        log.info("cached %d samples in memory (%.0f MB)", self.n_samples, self.cache_mb())

    def unshuffled(self) -> "ZarrBatches":
        """The same split in store order, sharing the cache (for evaluation)."""
        view = copy.copy(self)
        view.shuffle = False
        return view

    # ------------------------------------------------------------------ reading
    def read_chunk(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs ``(n, muscles, time, 2)`` and targets of the split's samples in ``[lo, hi)``.

        Targets: labels ``(n,)`` (recognition), hand position ``(n, time, 3)`` in cm, or
        position and velocity ``(n, time, 6)`` in cm and cm/s.
        """
        keep = np.flatnonzero(self.mask[lo:hi])
        whole = len(keep) == hi - lo
        x = self.arrays["spindles"][lo:hi]
        x = (x if whole else x[keep]).astype("float32", copy=False)
        if self.n_out == 0:
            y = self.arrays["label"][lo:hi]
            y = (y if whole else y[keep]).astype("int32")
        else:
            hand = self.arrays["hand"][lo:hi]
            y = (hand if whole else hand[keep]).astype("float64")
            if self.n_out == 6:
                y = np.concatenate([y, np.gradient(y, self.dt, axis=1)], axis=-1)
            y = y.astype("float32")
        return x, y

    def _read_all(self):
        """Every chunk of the split in store order, read by the reader threads.

        At most ``2 * readers`` chunks are in flight, so memory stays bounded on large stores.
        """
        depth = 2 * self.readers
        with ThreadPoolExecutor(self.readers) as pool:
            futures = [pool.submit(self.read_chunk, *b) for b in self.chunks[:depth]]
            for c in range(len(self.chunks)):
                result = futures[c].result()
                futures[c] = None  # release the chunk once handed over
                if c + depth < len(self.chunks):
                    futures.append(pool.submit(self.read_chunk, *self.chunks[c + depth]))
                yield result

    def _windows(self, epoch: int):
        """Windows of one epoch: ``(chunk ids, permutation of the pool or None)``.

        The pool of a window is its chunks' samples followed by the previous window's remainder.
        """
        order = np.arange(len(self.chunks))
        rng = rng_for(self.seed, "shuffle", epoch) if self.shuffle else None
        if rng is not None:
            order = rng.permutation(order)
        pending = 0
        for w in range(0, len(order), self.shuffle_chunks):
            ids = [int(c) for c in order[w:w + self.shuffle_chunks]]
            size = pending + int(sum(self.offsets[c + 1] - self.offsets[c] for c in ids))
            yield ids, (rng.permutation(size) if rng is not None else None)
            pending = size % self.batch_size

    def epoch_order(self, epoch: int | None = None) -> np.ndarray:
        """Split-local sample indices of one epoch (default :attr:`epoch`), in visiting order."""
        epoch = self.epoch if epoch is None else epoch
        pieces, pending = [], np.empty(0, dtype=np.int64)
        for ids, perm in self._windows(epoch):
            pool = np.concatenate([np.arange(self.offsets[c], self.offsets[c + 1]) for c in ids]
                                  + [pending])
            if perm is not None:
                pool = pool[perm]
            n_full = len(pool) // self.batch_size * self.batch_size
            pieces.append(pool[:n_full])
            pending = pool[n_full:]
        pieces.append(pending)
        return np.concatenate(pieces)

    def _batch_indices(self):
        order = self.epoch_order()
        for b in range(0, len(order), self.batch_size):
            yield order[b:b + self.batch_size]

    def _gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.take(self._x, idx, axis=0), np.take(self._y, idx, axis=0)

    def _stream(self):
        """Batches read window by window; the next window is read while this one is served."""
        windows = list(self._windows(self.epoch))
        if not windows:
            return
        with ThreadPoolExecutor(self.readers) as pool:
            def submit(ids):
                return [pool.submit(self.read_chunk, *self.chunks[c]) for c in ids]

            ahead = submit(windows[0][0])
            pending_x = pending_y = None
            for w, (ids, perm) in enumerate(windows):
                parts = [f.result() for f in ahead]
                if w + 1 < len(windows):
                    ahead = submit(windows[w + 1][0])
                xs, ys = [p[0] for p in parts], [p[1] for p in parts]
                if pending_x is not None:
                    xs.append(pending_x)
                    ys.append(pending_y)
                x, y = np.concatenate(xs), np.concatenate(ys)
                if perm is not None:
                    x, y = x[perm], y[perm]
                n_full = len(x) // self.batch_size * self.batch_size
                for b in range(0, n_full, self.batch_size):
                    yield x[b:b + self.batch_size], y[b:b + self.batch_size]
                pending_x, pending_y = x[n_full:], y[n_full:]
            if len(pending_x):
                yield pending_x, pending_y

    def __iter__(self):
        if self.cached:
            return (self._gather(idx) for idx in self._batch_indices())
        return self._stream()

    def dataset(self):
        """``tf.data.Dataset`` of this split's batches (a fresh pass, at :attr:`epoch`, per iteration).

        Cached inputs are gathered by ``readers`` parallel calls (numpy releases the GIL while
        copying); streamed ones are read by the reader threads. Both prefetch ahead of the model.
        """
        import tensorflow as tf

        x_spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
        y_spec = (tf.TensorSpec((None,), tf.int32) if self.n_out == 0 else
                  tf.TensorSpec((None, self.input_shape[1], self.n_out), tf.float32))
        if self.cached:
            indices = tf.data.Dataset.from_generator(
                self._batch_indices, output_signature=tf.TensorSpec((None,), tf.int64))

            def gather(idx):
                x, y = tf.numpy_function(self._gather, [idx], (tf.float32, y_spec.dtype),
                                         stateful=False)
                x.set_shape(x_spec.shape)
                y.set_shape(y_spec.shape)
                return x, y

            data = indices.map(gather, num_parallel_calls=self.readers, deterministic=True)
        else:
            data = tf.data.Dataset.from_generator(self._stream,
                                                  output_signature=(x_spec, y_spec))
        # the number of batches is known: lets Keras show progress and size each epoch
        return data.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(
            tf.data.AUTOTUNE)

    def statistics(self) -> dict[str, np.ndarray]:
        """Mean and std of inputs per (muscle, channel) and of targets per output.

        Accumulated chunk by chunk in float64 whether or not the inputs are cached, so that
        both give the same bits.
        """
        sums = {"x": 0.0, "x2": 0.0, "y": 0.0, "y2": 0.0}
        count_x = count_y = 0

        def chunks():
            if self.cached:
                for c in range(len(self.chunks)):
                    lo, hi = self.offsets[c], self.offsets[c + 1]
                    yield self._x[lo:hi], self._y[lo:hi]
            else:
                yield from self._read_all()

        for x, y in chunks():
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
