"""Units fitted per second: batched least squares (one factorisation per layer) vs per-unit statsmodels.

One synthetic layer of ``--units`` units and ``--rows`` (sample, time) rows is fitted with every
encoding model of :mod:`deepdraw.tuning` (train part -> test R^2). The batched path fits all
units at once; the statsmodels path (``OLS(y, X).fit()`` + ``predict`` per unit, as a per-unit
loop would) is timed on ``--sm-units`` units and extrapolated. Both give the same test R^2,
checked on the timed units.

    python benchmarks/bench_tuning.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import statsmodels.api as sm

from deepdraw import tuning


def synthetic_layer(n_rows: int, n_units: int, seed: int = 0):
    """Random kinematic rows (200-step samples) and units tuned to a random mix of them."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-np.pi, np.pi, n_rows)
    speed = rng.gamma(2.0, 5.0, n_rows)
    x, y = rng.normal(0, 5, n_rows), rng.normal(0, 5, n_rows)
    sample = np.arange(n_rows) // 200
    rows = {"direction": theta, "speed": speed, "vx": speed * np.cos(theta), "vy": speed * np.sin(theta),
            "x": x, "y": y, "r": np.hypot(x, y), "phi": np.arctan2(y, x), "ax": rng.normal(size=n_rows),
            "ay": rng.normal(size=n_rows), "sample": sample,
            "rel_r": np.hypot(x - 1, y), "rel_phi": np.arctan2(y, x - 1),
            "label": rng.integers(0, 20, sample.max() + 1)[sample], "plane": sample % 2}
    rows["acceleration"] = np.hypot(rows["ax"], rows["ay"])
    drive = np.column_stack([rows["vx"], rows["vy"], x, y]) @ rng.normal(0, 0.1, (4, n_units))
    Y = np.maximum(drive + rng.normal(size=(n_rows, n_units)), 0).astype(np.float32)
    return rows, Y


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--units", type=int, default=3000)
    parser.add_argument("--sm-units", type=int, default=20)
    parser.add_argument("--svm-units", type=int, default=50, help="units timed for the SVM label score")
    parser.add_argument("--svm-rows", type=int, default=5000, help="fitting rows per unit (label_max_rows)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rows, Y = synthetic_layer(args.rows, args.units)
    train = rows["sample"] % 5 != 0
    designs = {m: tuning.design_matrix(m, rows, 20) for m in tuning.MODE_MODELS["study"]}

    start = time.perf_counter()
    # as tuning.tune_layer: the two parts are prepared once, then one factorisation per model
    centre = Y[train].mean(axis=0, dtype=float)
    parts = tuning.Responses(Y[train], centre), tuning.Responses(Y[~train], centre)
    batched = {m: tuning.fit_units(X[train], parts[0], X[~train], parts[1]) for m, X in designs.items()}
    batched_s = time.perf_counter() - start

    sub = np.arange(args.sm_units)
    start = time.perf_counter()
    sm_r2 = {m: [] for m in designs}
    for unit in sub:
        for m, X in designs.items():
            fit = sm.OLS(Y[train, unit].astype(float), X[train]).fit()
            y = Y[~train, unit].astype(float)
            pred = fit.predict(X[~train])
            sm_r2[m].append(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
    sm_s = time.perf_counter() - start
    diff = max(np.nanmax(np.abs(np.array(sm_r2[m]) - batched[m]["r2_test"][sub])) for m in designs)

    # the study's label score: one LinearSVC per unit on at most --svm-rows fitting rows
    fit_rows = np.flatnonzero(train)[: args.svm_rows]
    test_rows = np.flatnonzero(~train)[: max(1, args.svm_rows // 4)]
    units = np.arange(min(args.svm_units, args.units))
    start = time.process_time()
    tuning.svm_label_scores(Y[np.ix_(fit_rows, units)], rows["label"][fit_rows],
                            Y[np.ix_(test_rows, units)], rows["label"][test_rows], 20)
    svm_cpu = time.process_time() - start

    result = {
        "rows": args.rows, "units": args.units, "encoding_models": len(designs),
        "batched_seconds": round(batched_s, 3),
        "batched_units_per_s": round(args.units / batched_s, 1),
        "statsmodels_units_timed": args.sm_units,
        "statsmodels_seconds_timed": round(sm_s, 3),
        "statsmodels_units_per_s": round(args.sm_units / sm_s, 2),
        "statsmodels_seconds_extrapolated": round(sm_s / args.sm_units * args.units, 1),
        "speedup": round((args.units / batched_s) / (args.sm_units / sm_s), 1),
        "max_abs_r2_difference": float(diff),
        "svm_label_units_timed": len(units), "svm_label_fit_rows": len(fit_rows),
        "svm_label_cpu_seconds_per_unit": round(svm_cpu / len(units), 4),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:34s} {value}")


if __name__ == "__main__":
    main()
