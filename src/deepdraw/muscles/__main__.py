"""Command line of the muscle stage: derive the continuous model, validate it, fit the surrogate.

``python -m deepdraw.muscles derive|validate|fit ...`` (the rules in ``rules/muscles.smk``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np

from deepdraw import cliutil
from deepdraw.arm import JOINT_NAMES
from deepdraw.muscles import report
from deepdraw.muscles.opensim_backend import opensim_fiber_lengths

log = logging.getLogger("deepdraw.muscles")


def _postures(path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as data:
        if "joint_names" in data and tuple(data["joint_names"]) != JOINT_NAMES:
            raise SystemExit(f"{path}: joint order {tuple(data['joint_names'])} != {JOINT_NAMES}")
        return np.asarray(data["postures"], dtype=float), np.asarray(data["trajectory"])


def derive(args) -> int:
    from deepdraw.muscles.model_edits import derive_model

    derive_model(args.original, json.loads(args.edits), args.output, args.provenance)
    log.info("derived %s from %s", args.output, args.original)
    return 0


def validate(args) -> int:
    from deepdraw.muscles.validation import compare_models

    q, trajectory = _postures(args.postures)
    started = time.process_time()
    original = opensim_fiber_lengths(q, args.original, processes=args.processes)
    derived = opensim_fiber_lengths(q, args.derived, processes=args.processes)
    log.info("OpenSim: %d frames x 2 models (%.0f s CPU in this process)", len(q),
             time.process_time() - started)
    rows = compare_models(original, derived, trajectory, args.jump_tol)
    report.write_table(args.table, rows)
    report.model_figure(args.figure, rows, q, original, derived, trajectory)
    log.info("validation of %s on %d movements written to %s", args.derived,
             len(np.unique(trajectory)), args.table)
    return 0


def fit(args) -> int:
    from deepdraw.muscles.fitting import build_surrogate, score

    visited, _ = _postures(args.visited)
    held_q, held_trajectory = _postures(args.heldout)
    surrogate = build_surrogate(args.model, visited, step_deg=args.step, reach_deg=args.reach,
                                seed=args.seed, processes=args.processes,
                                switches=json.loads(args.switches))
    exact = opensim_fiber_lengths(held_q, args.model, processes=args.processes)
    result = score(surrogate, held_q, exact, held_trajectory)
    rows = report.surrogate_rows(result)
    report.write_table(args.table, rows)
    report.surrogate_figure(args.figure, result, held_q, exact, held_trajectory,
                            args.max_rms, args.max_abs)
    surrogate.info.update(report.surrogate_summary(result, args))
    # Gate on every held-out frame. Residual muscles (OpenSim discontinuities that no edit
    # removed without changing the anatomy elsewhere, and no switch table follows) are
    # reported, not gated.
    residual = set(json.loads(args.residual))
    failing = [f"{r['muscle']} (rms {r['rms_mm']:.3f} mm, max {r['max_mm']:.3f} mm)"
               for r in rows if r["muscle"] not in residual
               and not (r["rms_mm"] <= args.max_rms and r["max_mm"] <= args.max_abs)]
    surrogate.info["residual_muscles"] = sorted(residual)
    if failing:
        print(f"muscle surrogate exceeds --max-rms {args.max_rms} / --max-abs {args.max_abs} mm "
              f"for {len(failing)} muscle(s): " + "; ".join(failing)
              + f"; report in {args.table}; surrogate not written", file=sys.stderr)
        return 1
    surrogate.save(args.output)
    log.info("surrogate written to %s; worst held-out RMS %.4f mm, max %.4f mm over %d frames",
             args.output, surrogate.info["worst_rms_mm"], surrogate.info["worst_max_mm"], len(held_q))
    return 0


def _parse(argv=None) -> argparse.Namespace:
    parser = cliutil.parser("python -m deepdraw.muscles", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive", help="apply the configured wrap-object edits to the original model")
    d.add_argument("--original", required=True, help="original .osim")
    d.add_argument("--edits", required=True, help="JSON list of edits (config muscles.edits)")
    d.add_argument("--output", required=True, help="derived .osim")
    d.add_argument("--provenance", required=True, help="JSON note: sources, edits, sha256")
    v = sub.add_parser("validate", help="derived vs original model on candidate movements")
    v.add_argument("--postures", required=True, help=".npz from `deepdraw.generation postures`")
    v.add_argument("--original", required=True)
    v.add_argument("--derived", required=True)
    v.add_argument("--jump-tol", type=float, default=1.0,
                   help="a step departing from its neighbours by more than this is a jump (mm)")
    f = sub.add_parser("fit", help="build the muscle surrogate from OpenSim tables")
    f.add_argument("--visited", required=True, help="postures the generator visits (.npz)")
    f.add_argument("--heldout", required=True, help="held-out movements scored on every frame (.npz)")
    f.add_argument("--model", required=True, help="OpenSim model (.osim)")
    f.add_argument("--output", required=True, help="surrogate .npz (written only if within tolerance)")
    f.add_argument("--max-rms", type=float, required=True, help="per-muscle held-out RMS limit (mm)")
    f.add_argument("--max-abs", type=float, required=True, help="per-muscle held-out max limit (mm)")
    f.add_argument("--step", type=float, required=True, help="shoulder grid spacing (deg)")
    f.add_argument("--reach", type=float, required=True,
                   help="grid nodes within this distance of a visited posture are evaluated (deg)")
    f.add_argument("--seed", type=int, required=True)
    f.add_argument("--residual", default="[]",
                   help="JSON list of muscles reported but not held to the limits")
    f.add_argument("--switches", default="[]",
                   help='JSON list of wrap switches {"muscle", "point", "object"} tabulated on both branches')
    for p in (v, f):
        p.add_argument("--processes", type=int, default=1, help="OpenSim worker processes")
        p.add_argument("--table", required=True, help="per-muscle CSV report")
        p.add_argument("--figure", required=True, help="PNG report")
    return cliutil.parse_args(parser, argv)


def main(argv=None) -> int:
    from threadpoolctl import threadpool_limits

    args = _parse(argv)
    with threadpool_limits(1):  # the OpenSim workers already use the granted cores
        return {"derive": derive, "validate": validate, "fit": fit}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
