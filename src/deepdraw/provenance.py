"""Provenance records: the code version that made an output and the dataset a model was trained on.

* :func:`git_commit` names the commit of the checkout the code runs from (and whether it had
  uncommitted changes), or ``"unknown"`` outside a git checkout;
* :func:`dataset_fingerprint` identifies a zarr store by a sha256 over its metadata, its small
  arrays and the names and sizes of its large chunks, so that it stays fast for a store of
  100 GB;
* :func:`dataset_record` bundles the path and the fingerprint for a model's metadata.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

UNKNOWN = "unknown"
# Files up to this size are hashed byte for byte: metadata, attributes and the chunks of the
# per-sample vectors (labels, splits, latents, start points: ~1 KB per 256-sample chunk), about
# 40 bytes per sample. Chunks of the time series (spindles, muscle lengths, joints, hand: 0.1-20
# MB each) enter by name and size only: 3000 samples (264 MB, 412 files) take 0.03 s, so 10^6
# samples (~100 GB, ~80,000 files) should take seconds where a full hash reads 100 GB.
SMALL_FILE_BYTES = 64 << 10


def _git(args: list[str], cwd: Path) -> str | None:
    """Output of ``git <args>`` in ``cwd``, or None when git or the checkout is missing."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                                timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_commit(path: str | os.PathLike | None = None) -> dict:
    """The git commit of the checkout holding ``path``, with a flag for uncommitted changes.

    Parameters
    ----------
    path : directory inside the checkout; by default the directory of this package, then the
        current directory (a workflow run from a clone with the package installed elsewhere)

    Returns
    -------
    dict with ``commit`` (40 hex digits, or ``"unknown"`` outside a git checkout or without
    git) and ``dirty`` (True when tracked files differ from the commit, None when unknown)
    """
    candidates = [Path(path)] if path is not None else [Path(__file__).resolve().parent,
                                                          Path.cwd()]
    for directory in candidates:
        if not directory.is_dir():
            continue
        commit = _git(["rev-parse", "HEAD"], directory)
        if commit:
            status = _git(["status", "--porcelain", "--untracked-files=no"], directory)
            return {"commit": commit, "dirty": None if status is None else bool(status)}
    return {"commit": UNKNOWN, "dirty": None}


def dataset_fingerprint(store: str | os.PathLike, small_file_bytes: int = SMALL_FILE_BYTES
                        ) -> str:
    """sha256 (hex) identifying a zarr store (any directory tree) in seconds.

    The hash runs over every file in sorted relative-path order: its path and size, and its
    bytes when it is at most ``small_file_bytes`` long (all metadata, attributes and the
    per-sample vectors; 64 KiB by default). Large chunk files enter by path and size only: a change of their
    content that keeps every compressed size is not detected, a trade for reading kilobytes
    instead of the whole store.

    Raises
    ------
    FileNotFoundError
        ``store`` is not a directory.
    """
    root = Path(store)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset store not found (expected a zarr directory, "
                                "e.g. results/<run>/dataset.zarr)")
    digest = hashlib.sha256()
    files = sorted(f for f in root.rglob("*") if f.is_file())
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(root).as_posix()}\0{size}\0".encode())
        if size <= small_file_bytes:
            digest.update(file.read_bytes())
    return digest.hexdigest()


def dataset_record(store: str | os.PathLike) -> dict:
    """What a model records about its training data: the store's path and fingerprint.

    The path is kept as given: rules pass it relative to the workflow directory
    (``results/<run>/dataset.zarr``), so the record, like every other output, has the same
    bytes wherever the workflow runs; the fingerprint identifies the content.

    Returns
    -------
    dict with ``path`` (str, as given, with / separators) and ``sha256``
    (:func:`dataset_fingerprint`)
    """
    return {"path": Path(store).as_posix(), "sha256": dataset_fingerprint(store)}
