"""Cost of the plane-invariance analysis: one plane's test set and the per-plane direction fits.

Times :func:`deepdraw.invariance.generate_plane_set` (held-out characters of the test subset,
shipped muscle surrogate) for ``--samples`` samples on the central horizontal plane, and
:func:`deepdraw.invariance.fit_plane` on a synthetic layer of ``--units`` units and ``--rows``
rows (one plane of one layer). Multiply by planes x layers x instances for a run; the paper
config has 43 planes.

    python benchmarks/bench_invariance.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import yaml

from deepdraw import augmentation, invariance, muscles
from deepdraw.characters import StoredCharacters, preprocess, read_characters

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=50, help="samples of the plane set")
    parser.add_argument("--units", type=int, default=2000, help="units of the synthetic layer")
    parser.add_argument("--rows", type=int, default=20000, help="(sample, time) rows of one plane")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    charset = read_characters(ROOT / config["characters"]["file"])
    n = len(charset.labels)
    characters = StoredCharacters(preprocess(charset.velocities), np.asarray(charset.labels), np.arange(n),
                                  (np.arange(n) % 5 == 0).astype(np.int8), charset.letters, {})
    surrogate = muscles.MuscleSurrogate.load(ROOT / "resources/muscle_surrogate_corrected.npz")
    points = augmentation.load_start_points(ROOT / "resources/pcr_startingpoints.hdf5", "horizontal")
    start = time.perf_counter()
    data = invariance.generate_plane_set(characters, points, "horizontal", 0.0, args.samples,
                                         config["generation"], 1, surrogate.predict)
    generation_s = time.perf_counter() - start

    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, args.rows)
    rows = {"direction": theta, "speed": np.ones(args.rows), "sample": np.arange(args.rows) // 100}
    pds = rng.uniform(0, 2 * np.pi, args.units)
    Y = (np.cos(theta[:, None] - pds[None, :]) + rng.normal(size=(args.rows, args.units))).astype(np.float32)
    start = time.perf_counter()
    frame = invariance.fit_plane(Y, rows, 0.8, 0.2, np.random.default_rng(1))
    fit_s = time.perf_counter() - start
    result = {"benchmark": "invariance", "python": platform.python_version(),
              "plane_set_samples": int(data.sizes["sample"]), "plane_set_s": round(generation_s, 2),
              "plane_set_s_per_sample": round(generation_s / max(int(data.sizes["sample"]), 1), 4),
              "fit_units": args.units, "fit_rows": args.rows, "fit_s": round(fit_s, 3),
              "fit_units_tuned": int(frame["tuned"].sum())}
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
