"""Command line: ``python -m deepdraw.generation shard|postures ...``."""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np

from deepdraw import __version__, arm, augmentation, cliutil, muscles
from deepdraw.characters import load_characters
from deepdraw.contract import PLANES
from deepdraw.generation.checks import CHECK_EVERY
from deepdraw.generation.shard import generate_shard, sample_postures
from deepdraw.generation.store import write_shard
from deepdraw.io import atomic_path

log = logging.getLogger(__name__)


def _parse(argv=None) -> argparse.Namespace:
    from deepdraw import generation  # the package's docstring describes the whole stage

    parser = cliutil.parser("python -m deepdraw.generation", generation.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    shard = sub.add_parser("shard", help="generate one shard of the dataset")
    shard.add_argument("--plane", choices=PLANES, required=True)
    shard.add_argument("--shard", type=int, required=True)
    shard.add_argument("--surrogate", default=None,
                       help="muscle surrogate (.npz) built from --model (backend surrogate)")
    shard.add_argument("--model", required=True, help="OpenSim model (.osim)")
    shard.add_argument("--backend", choices=("surrogate", "opensim"), default="surrogate")
    postures = sub.add_parser("postures", help="visited postures for the muscle surrogate fit")
    postures.add_argument("--per-plane", type=int, required=True)
    postures.add_argument("--key", default="postures", help="name of the random stream")
    for p in (shard, postures):
        p.add_argument("--characters", required=True)
        p.add_argument("--start-points", required=True)
        p.add_argument("--settings", required=True, help="the config's generation section, JSON")
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--output", required=True)
    return cliutil.parse_args(parser, argv)


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30,
                      top_pad: int = 64 << 20) -> bool:
    """Let glibc's malloc reuse freed blocks instead of returning them to the kernel.

    The generator allocates and frees temporaries of a few MB per IK round and per assembly
    block; by default glibc maps each one afresh (``mmap`` above 128 kB) and the kernel zeroes
    every page on first touch, which measured ~20% of a shard job's CPU time. Serving blocks
    up to ``mmap_threshold`` bytes from the heap, keeping up to ``trim_threshold`` bytes of
    free heap and growing it ``top_pad`` bytes at a time removes most of that for ~100 MB more
    peak memory. Returns False (and changes nothing) where ``mallopt`` is unavailable.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    # glibc's parameter numbers: M_TRIM_THRESHOLD -1, M_TOP_PAD -2, M_MMAP_THRESHOLD -3
    return all(mallopt(param, value) == 1 for param, value in
               ((-3, mmap_threshold), (-1, trim_threshold), (-2, top_pad)))


def main(argv=None) -> None:
    from threadpoolctl import threadpool_limits

    keep_freed_memory()
    args = _parse(argv)
    settings = json.loads(args.settings)
    characters = load_characters(args.characters)
    # One BLAS thread: the shard is the unit of parallelism, and results must not depend on it.
    with threadpool_limits(1):
        if args.command == "postures":
            points = {p: augmentation.load_start_points(args.start_points, p) for p in settings["planes"]}
            postures, trajectory = sample_postures(characters, points, args.per_plane, settings, args.seed,
                                                  args.key)
            with atomic_path(args.output) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, postures=postures, trajectory=trajectory,
                             joint_names=np.array(arm.JOINT_NAMES))
            log.info("%d postures from %d trajectories", len(postures), trajectory.max() + 1)
            return
        length_model = muscles.length_model(args.backend, args.model, args.surrogate)
        points = augmentation.load_start_points(args.start_points, args.plane)
        # the surrogate is NaN exactly where it is not validated against OpenSim
        nan_reason = "muscle_outside_surrogate" if args.backend == "surrogate" else "muscle_nan"
        # OpenSim loads the model at every call: one check per movement instead of per block
        check_every = CHECK_EVERY if args.backend == "surrogate" else settings["window_steps"]
        shard, rejected, candidates = generate_shard(characters, points, args.plane, args.shard,
                                                     settings, args.seed, length_model, nan_reason,
                                                     check_every)
    shard.attrs.update({
        "plane": args.plane, "shard": args.shard, "seed": args.seed,
        "muscle_backend": args.backend, "deepdraw_version": __version__,
        "n_rejected": json.dumps(dict(sorted(rejected.items()))),
        "n_candidates": int(candidates.sizes["candidate"]),
        "latents": augmentation.describe_latents(),
    })
    write_shard(shard, candidates, args.output)
    log.info("%s shard %d: %d samples from %d candidates; rejections %s", args.plane, args.shard,
             shard.sizes["sample"], candidates.sizes["candidate"], dict(rejected))
