"""Shard stores: the samples at the root, the table of every candidate in a group."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from deepdraw.io import atomic_path, sample_chunk_encoding, to_zarr


CANDIDATES_GROUP = "candidates"


def write_shard(shard: xr.Dataset, candidates: xr.Dataset, path: str | Path) -> None:
    """Write a shard store atomically: samples at the root, the candidate table in a group.

    One directory per shard; read the table back with :func:`read_candidates`.
    """
    from zarr.codecs import ZstdCodec

    encoding = sample_chunk_encoding(shard, 256)
    for name in encoding:
        # zstd level 1: the same size as the default level 3 on these float32 arrays (measured
        # 64 MB for 2,000 samples either way) at 40% of its CPU time; shards are intermediates
        encoding[name]["compressors"] = [ZstdCodec(level=1)]
    with atomic_path(path) as tmp:
        # write_empty_chunks: skips zarr's per-chunk scan for chunks equal to the fill value
        # (none are: every sample is finite), ~20% of the write's CPU time
        to_zarr(shard, tmp, mode="w", encoding=encoding, write_empty_chunks=True)
        to_zarr(candidates, tmp, mode="a", group=CANDIDATES_GROUP)


def read_candidates(path: str | Path) -> xr.Dataset:
    """The candidate table of a shard store written by :func:`write_shard`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: shard store not found; run generate_shard first")
    try:
        return xr.open_zarr(path, group=CANDIDATES_GROUP, consolidated=True, chunks=None)
    except (FileNotFoundError, KeyError) as exc:
        raise ValueError(f"{path}: no '{CANDIDATES_GROUP}' group; the shard was made by an older "
                         "deepdraw, rerun generate_shard") from exc
