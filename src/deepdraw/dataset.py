"""Gather the generated shards into ``dataset.zarr`` and assign the train/validation/test split.

The store is written shard by shard (zarr append along ``sample``), so its size is not
bounded by memory; only the per-sample metadata needed for the split is read up front.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from deepdraw import __version__, cliutil
from deepdraw.contract import SPLIT_CODES, SPLIT_FLAGS, SPLITS
from deepdraw.io import atomic_path, open_zarr, rng_for, sample_chunk_encoding, to_zarr
from deepdraw.provenance import git_commit

log = logging.getLogger(__name__)

SAMPLE_CHUNK = 256


def stratified_pick(groups: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask picking ``round(fraction * size)`` members of every group at random.

    Parameters
    ----------
    groups : (n,) int, group of each sample (e.g. label and plane combined)
    """
    picked = np.zeros(len(groups), dtype=bool)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        count = int(round(fraction * len(members)))
        picked[rng.permutation(members)[:count]] = True
    return picked


def assign_split(label: np.ndarray, plane: np.ndarray, source_split: np.ndarray,
                 settings: dict, seed: int) -> np.ndarray:
    """Split code per sample: 0 train, 1 validation, 2 test.

    ``settings["by"] == "character"``: a sample is in the test set exactly when its source
    character was held out by the ``characters`` rule (``source_split == 1``), so no
    character is seen in both training and test. ``"sample"``: the original study's split of
    augmented samples, stratified by label and plane, ignoring the sources.
    Validation is drawn from the non-test samples, stratified by label and plane.
    """
    rng = rng_for(seed, "split")
    groups = label.astype(np.int64) * 2 + plane
    if settings["by"] == "character":
        test = source_split == 1
    else:
        test = stratified_pick(groups, settings["test_fraction"], rng)
    split = np.where(test, SPLIT_CODES["test"], SPLIT_CODES["train"]).astype(np.int8)
    rest = np.flatnonzero(~test)
    validation = stratified_pick(groups[rest], settings["validation_fraction"], rng)
    split[rest[validation]] = SPLIT_CODES["validation"]
    return split


def build_dataset(shard_paths: list[str], characters_path: str, output: str, settings: dict,
                  seed: int, config_hash: str, config: dict | None = None) -> dict:
    """Concatenate ``shard_paths`` (in the given order) into the dataset store at ``output``.

    ``config``: the resolved settings the dataset was made from, stored as the JSON attribute
    ``config`` beside the git commit of the code (``git_commit``, ``git_dirty``).
    Returns the provenance attributes written to the store.
    """
    shards = [open_zarr(p) for p in shard_paths]
    shards = [s for s in shards if s.sizes["sample"] > 0]
    if not shards:
        raise ValueError(f"{shard_paths}: every shard is empty; check the generation logs")
    source_split = open_zarr(characters_path)["split"].values
    label = np.concatenate([s["label"].values for s in shards])
    plane = np.concatenate([s["plane"].values for s in shards])
    source = np.concatenate([s["source_index"].values for s in shards])
    split = assign_split(label, plane, source_split[source], settings, seed)

    rejected: Counter = Counter()
    for s in shards:
        rejected.update(json.loads(s.attrs["n_rejected"]))
    code = git_commit()
    bias_summary = _bias_summary(shard_paths)
    attrs = {
        "config_hash": config_hash,
        "config": json.dumps(config or {}, sort_keys=True),
        "git_commit": code["commit"],
        "git_dirty": code["dirty"],
        "deepdraw_version": __version__,
        "seed": seed,
        "muscle_backend": shards[0].attrs["muscle_backend"],
        "latents": shards[0].attrs.get("latents", "unknown"),
        "n_rejected": json.dumps(dict(sorted(rejected.items()))),
        "split_by": settings["by"],
        "n_samples": {name: int((split == code).sum()) for code, name in enumerate(SPLITS)},
        "created_by": "deepdraw.dataset from " + ", ".join(Path(p).name for p in shard_paths),
    }
    if bias_summary is not None:
        attrs["bias_summary"] = json.dumps(bias_summary)
    with atomic_path(output) as tmp:
        start = 0
        for i, shard in enumerate(shards):
            n = shard.sizes["sample"]
            shard = shard.assign(split=("sample", split[start : start + n], SPLIT_FLAGS))
            start += n
            # appending rewrites the store's attributes with the shard's: give each the dataset's
            shard.attrs = attrs
            if i == 0:
                to_zarr(shard, tmp, mode="w", encoding=sample_chunk_encoding(shard, SAMPLE_CHUNK))
            else:
                to_zarr(shard.drop_vars(list(shard.coords)), tmp, mode="a", append_dim="sample")
    log.info("dataset %s: %s; rejections %s", output, attrs["n_samples"], dict(rejected))
    return attrs


def _bias_summary(shard_paths: list[str]) -> dict | None:
    """Key figures of the rejection bias (:func:`deepdraw.bias.summary`) from the shards'
    candidate tables; None (with a warning) if a shard has no table."""
    from deepdraw import bias

    try:
        frame, n_start_points, letters = bias.read_tables(shard_paths)
    except ValueError as exc:
        log.warning("no bias summary in the provenance: %s", exc)
        return None
    return bias.summary(bias.bias_report(frame, n_start_points, letters))


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.dataset", __doc__)
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--characters", required=True)
    parser.add_argument("--split", required=True, help="the config's split section, JSON")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--config-hash", required=True)
    parser.add_argument("--config", default="{}",
                        help="the resolved settings the dataset is made from, JSON")
    parser.add_argument("--output", required=True)
    args = cliutil.parse_args(parser, argv)
    build_dataset(args.shards, args.characters, args.output, json.loads(args.split), args.seed,
                  args.config_hash, json.loads(args.config))


if __name__ == "__main__":
    main()
