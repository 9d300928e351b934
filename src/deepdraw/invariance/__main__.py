"""Command line of the plane-invariance analysis (rules/analysis.smk)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from deepdraw import cliutil


def _parser() -> argparse.ArgumentParser:
    parser = cliutil.parser("python -m deepdraw.invariance", "plane invariance of preferred directions")
    sub = parser.add_subparsers(dest="command", required=True)
    plane = sub.add_parser("plane-set", help="held-out characters written on one plane")
    plane.add_argument("--characters", required=True, help="characters.zarr")
    plane.add_argument("--start-points", required=True, help="pcr_startingpoints.hdf5")
    plane.add_argument("--model", required=True, help="OpenSim model (.osim)")
    plane.add_argument("--surrogate", default=None, help="muscle surrogate (.npz) of --model")
    plane.add_argument("--backend", choices=("surrogate", "opensim"), default="surrogate")
    plane.add_argument("--generation", required=True, help="the config's generation section, JSON")
    plane.add_argument("--invariance", required=True, help="the config's analysis.invariance, JSON")
    plane.add_argument("--orientation", choices=("horizontal", "vertical"), required=True)
    plane.add_argument("--height", type=float, required=True, help="cm: world z (horizontal) or x (vertical)")
    plane.add_argument("--seed", type=int, required=True)
    plane.add_argument("--output", required=True, help="plane set (.zarr)")
    gather = sub.add_parser("gather", help="concatenate the plane sets into one test store")
    gather.add_argument("--sets", nargs="+", required=True)
    gather.add_argument("--output", required=True)
    fit = sub.add_parser("fit", help="per-plane direction tuning of one network instance")
    cliutil.add_model_fit(fit, data="--planes", data_help="the gathered plane store")
    fit.add_argument("--output", required=True, help="unit table (.parquet)")
    summary = sub.add_parser("summarize", help="deviations per layer and height, trained vs untrained")
    summary.add_argument("--tables", nargs="+", required=True)
    summary.add_argument("--analysis", required=True)
    summary.add_argument("--heights", required=True, help="CSV: mean |deviation| per layer and height")
    summary.add_argument("--layers", required=True, help="CSV: mean over heights per instance and layer")
    summary.add_argument("--comparison", required=True, help="CSV: trained vs untrained per layer")
    return parser


def main(argv=None) -> None:
    args = cliutil.parse_args(_parser(), argv)
    from deepdraw.io import write_zarr
    from deepdraw.tuning import write_table

    if args.command == "plane-set":
        from threadpoolctl import threadpool_limits

        from deepdraw import augmentation, muscles
        from deepdraw.characters import load_characters
        from deepdraw.invariance.planes import check_settings, generate_plane_set, hand_off_plane

        invariance = check_settings(json.loads(args.invariance))
        length_model = muscles.length_model(args.backend, args.model, args.surrogate)
        points = augmentation.load_start_points(args.start_points, args.orientation)
        nan_reason = "muscle_outside_surrogate" if args.backend == "surrogate" else "muscle_nan"
        with threadpool_limits(1):  # the plane set is the unit of parallelism, as a shard is
            data = generate_plane_set(load_characters(args.characters), points, args.orientation, args.height,
                                      invariance["samples_per_height"], json.loads(args.generation), args.seed,
                                      length_model, nan_reason)
        off = hand_off_plane(data)
        logging.getLogger("deepdraw.invariance").info(
            "%s plane at %g cm: %d samples, largest distance of a hand from its plane %.2g cm",
            args.orientation, args.height, data.sizes["sample"], float(off.max()) if len(off) else 0.0)
        data.attrs["n_rejected"] = json.dumps(data.attrs["n_rejected"])
        write_zarr(data, args.output, sample_chunk=256)
    elif args.command == "gather":
        from deepdraw.invariance.planes import gather_sets
        from deepdraw.io import open_zarr

        data = gather_sets([open_zarr(p) for p in args.sets])
        data.attrs["planes"] = json.dumps(data.attrs["planes"])
        write_zarr(data, args.output, sample_chunk=256)
    elif args.command == "fit":
        from deepdraw.invariance.fits import fit_planes

        settings = json.loads(args.analysis)
        identity = cliutil.model_identity(args)
        table = fit_planes(args.activations, args.planes, settings, settings["invariance"], args.seed, identity)
        write_table(table, args.output)
    else:
        from deepdraw.invariance.summary import summarize

        settings = json.loads(args.analysis)
        units = pd.concat([pd.read_parquet(p) for p in args.tables], ignore_index=True)
        tables = summarize(units, settings["invariance"]["min_units"])
        for name in ("heights", "layers", "comparison"):
            write_table(tables[name], Path(getattr(args, name)))


if __name__ == "__main__":
    main()
