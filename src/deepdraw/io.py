"""Shared I/O helpers: atomic outputs, zarr stores and their manifests, reproducible random streams.

Every zarr store written through :func:`atomic_path` gets a manifest (``manifest.json`` at its
root, written last, just before the store takes its final name) that records each array's shape,
dtype, number of chunk files, bytes and sha256. :func:`open_zarr` checks a store against its
manifest, so a store that lost a chunk (zarr would silently read it as the fill value) or whose
bytes changed after it was written is refused, with its path and the fix, before any stage uses it.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
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
    leaves a partial output under the final name; temporaries of ``path`` left by a
    killed writer are removed by the next one. A directory holding a zarr store
    (``zarr.json`` at its root) gets its manifest (:func:`write_manifest`) written last,
    before the rename.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    # temporaries of a writer that was killed (SIGKILL, node failure): Snakemake runs one job
    # per output at a time, so any other temporary of this output is dead
    for stale in final.parent.glob(f".{glob.escape(final.name)}.tmp-*"):
        _remove(stale)
    try:
        yield tmp
        if (tmp / "zarr.json").is_file():
            write_manifest(tmp)
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


def open_zarr(path: str | os.PathLike, group: str | None = None):
    """Open a zarr store written by :func:`write_zarr` with xarray, after :func:`verify_store`.

    ``group``: a sub-group of the store (e.g. one layer of an activations store).

    Raises
    ------
    FileNotFoundError
        No store at ``path``.
    StoreError
        The store does not match its manifest (see :func:`verify_store`).
    """
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: zarr store not found; run the rule that makes it first")
    verify_store(path)
    if group is not None:
        return xr.open_zarr(path, group=group, consolidated=True, chunks=None)
    # chunks=None: plain lazily indexed numpy arrays (no dask dependency)
    return xr.open_zarr(path, consolidated=True, chunks=None)


MANIFEST = "manifest.json"


class StoreError(ValueError):
    """A zarr store that is incomplete or changed since it was written; the message names the
    store, what differs and the fix."""


def _array_record(array_dir: Path, node: dict) -> dict:
    """Shape, dtype, chunk-file count, bytes and sha256 of one zarr v3 array directory."""
    digest = hashlib.sha256()
    n_files = n_bytes = 0
    for f in sorted(p for p in array_dir.rglob("*") if p.is_file() and p.name != "zarr.json"):
        data = f.read_bytes()
        # the name too, so that a chunk moved to another index is a change
        digest.update(f.relative_to(array_dir).as_posix().encode() + b"\0")
        digest.update(data)
        n_files += 1
        n_bytes += len(data)
    return {"shape": list(node.get("shape", [])), "dtype": str(node.get("data_type")),
            "chunk_files": n_files, "bytes": n_bytes, "sha256": digest.hexdigest()}


def store_manifest(store: str | os.PathLike) -> dict:
    """Describe every array of the zarr v3 store ``store`` (also in sub-groups).

    Returns
    -------
    dict
        ``{"arrays": {relative array path: {"shape", "dtype", "chunk_files", "bytes",
        "sha256"}}}``; the sha256 covers the array's chunk file names and bytes.
    """
    store = Path(store)
    arrays = {}
    for meta in sorted(store.rglob("zarr.json")):
        try:
            node = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{store}: unreadable metadata {meta.relative_to(store)} ({exc}); "
                             f"delete {store} and rerun the rule that makes it") from exc
        if node.get("node_type") == "array":
            arrays[meta.parent.relative_to(store).as_posix()] = _array_record(meta.parent, node)
    return {"format": 1, "arrays": arrays}


def write_manifest(store: str | os.PathLike) -> Path:
    """Write ``store``'s manifest (:func:`store_manifest`) into it atomically; its path."""
    store = Path(store)
    target = store / MANIFEST
    tmp = store / f".{MANIFEST}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(store_manifest(store), indent=1, sort_keys=True))
    os.replace(tmp, target)
    return target


def verify_store(store: str | os.PathLike) -> None:
    """Check ``store`` against its manifest: every array present, same shape, dtype, chunk
    files and bytes.

    Raises
    ------
    StoreError
        Naming the store, the array and what differs, and the fix: delete the store and rerun
        the rule that makes it.
    """
    store = Path(store)
    fix = f"delete {store} and rerun the rule that makes it (snakemake recreates it)"
    path = store / MANIFEST
    if not path.is_file():
        raise StoreError(f"{store}: no {MANIFEST}, so it was not completely written by deepdraw "
                         f"(or was written before manifests existed); {fix}")
    # a process opening the same store several times (training: one reader per split) hashes
    # it once, unless a file's size or modification time changed in between
    files = tuple(sorted((str(f), f.stat().st_size, f.stat().st_mtime_ns)
                         for f in store.rglob("*") if f.is_file()))
    _verify_unchanged(str(store), files, fix)


@functools.lru_cache(maxsize=16)
def _verify_unchanged(store: str, files: tuple, fix: str) -> None:
    path = Path(store)
    try:
        expected = json.loads((path / MANIFEST).read_text())["arrays"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise StoreError(f"{store}: unreadable {MANIFEST} ({exc}); {fix}") from exc
    found = store_manifest(path)["arrays"]
    problems = []
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            problems.append(f"array {name} is missing")
        elif name not in expected:
            problems.append(f"array {name} is not in the manifest")
        else:
            want, got = expected[name], found[name]
            for key in ("shape", "dtype", "chunk_files", "bytes", "sha256"):
                if want.get(key) != got.get(key):
                    what = {"chunk_files": "chunk files", "sha256": "content (sha256)"}.get(key, key)
                    problems.append(f"array {name}: {what} {want.get(key)} in the manifest, "
                                    f"{got.get(key)} on disk")
                    break
    if problems:
        listed = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise StoreError(f"{store}: does not match its {MANIFEST} ({listed}): it lost data or "
                         f"was changed after it was written; {fix}")


def require_finite(values, name: str, source: str | os.PathLike, fix: str) -> None:
    """Refuse non-finite (NaN, inf) entries of ``values``, naming where they are.

    Parameters
    ----------
    values : array-like of numbers, any shape
    name : str
        What ``values`` is (a variable of a store, a feature matrix).
    source : path or str
        The file the values came from.
    fix : str
        What the user should do about it.

    Raises
    ------
    ValueError
        ``"<source>: <name> has <n> non-finite value(s) (first at index ...); <fix>"``.
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.number):
        return
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(values[first]) else "infinite"
        raise ValueError(f"{source}: {name} has {int(bad.sum())} non-finite value(s) (first: "
                         f"{kind} at index {first}); {fix}")


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


def main(argv: list[str] | None = None) -> None:
    """``python -m deepdraw.io verify STORE...`` checks stores against their manifests;
    ``python -m deepdraw.io record STORE...`` writes the manifest of stores made before
    manifests existed (only for stores known to be complete: it trusts their current bytes)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m deepdraw.io", description=main.__doc__)
    parser.add_argument("command", choices=["verify", "record"])
    parser.add_argument("stores", nargs="+", help="zarr stores")
    args = parser.parse_args(argv)
    failed = 0
    for store in args.stores:
        if args.command == "record":
            if not (Path(store) / "zarr.json").is_file():
                raise SystemExit(f"{store}: not a zarr v3 store (no zarr.json)")
            print(f"{write_manifest(store)}: written")
            continue
        try:
            verify_store(store)
            print(f"{store}: matches its {MANIFEST}")
        except (StoreError, FileNotFoundError) as exc:
            print(exc)
            failed += 1
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
