"""Shared I/O helpers: atomic outputs, zarr stores, reproducible random streams."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` only on success.

    Works for files and directories (zarr stores). On an exception the temporary
    is removed and ``path`` is left untouched, so a killed or failed job never
    leaves a partial output under the final name.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        _remove(final)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def sample_chunk_encoding(dataset, sample_chunk: int) -> dict:
    """zarr encoding chunking every variable along ``sample`` (whole extent along the others)."""
    return {
        name: {"chunks": tuple(min(sample_chunk, n) if dim == "sample" else n
                               for dim, n in var.sizes.items())}
        for name, var in dataset.data_vars.items()
        if "sample" in var.dims
    }


def to_zarr(dataset, path: str | os.PathLike, **kwargs) -> None:
    """``dataset.to_zarr`` as zarr v3 with consolidated metadata (not atomic by itself)."""
    with warnings.catch_warnings():
        # Name coordinates are fixed-width unicode and metadata is consolidated: both
        # read back fine with zarr-python/xarray, but zarr warns they are not yet in the v3 spec.
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part.*")
        dataset.to_zarr(path, zarr_format=3, consolidated=True, **kwargs)


def write_zarr(dataset, path: str | os.PathLike, sample_chunk: int | None = None) -> None:
    """Write an ``xarray.Dataset`` atomically as a zarr v3 store.

    ``sample_chunk`` chunks every variable along its ``sample`` dimension, so readers can
    stream samples.
    """
    encoding = sample_chunk_encoding(dataset, sample_chunk) if sample_chunk else {}
    with atomic_path(path) as tmp:
        to_zarr(dataset, tmp, mode="w", encoding=encoding)


def open_zarr(path: str | os.PathLike):
    """Open a zarr store written by :func:`write_zarr` with xarray, with a clear error."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: zarr store not found; run the rule that makes it first")
    # chunks=None: plain lazily indexed numpy arrays (no dask dependency)
    return xr.open_zarr(path, consolidated=True, chunks=None)


def rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """Random generator for one job, derived from the master ``seed`` and the job's identity.

    The stream depends only on ``seed`` and ``keys`` (e.g. ``"horizontal", 3``),
    never on scheduling order, so shards reproduce whatever ran before them.
    """
    words = [int(seed)]
    for key in keys:
        digest = hashlib.sha256(str(key).encode()).digest()
        words.append(int.from_bytes(digest[:4], "little"))
    return np.random.default_rng(np.random.SeedSequence(words))
