"""Population decoding: how well a whole layer linearly encodes each kinematic variable.

For every layer (the spindle input as layer 0, then every hidden block) a ridge regression
(``sklearn.linear_model.RidgeCV``, penalty chosen by efficient leave-one-out cross-validation
on the fitting part, units standardised on the fitting part) reads each kinematic variable out
of all units of the layer at once, row by row (one sample at one layer time step, the rows of
the tuning analysis, :mod:`deepdraw.tuning.rows`). The score is the R^2 on held-out rows (split
as in the tuning analysis: at random by row in mode ``study``, by sample in mode ``ours``).

Variables (in the writing plane, :mod:`deepdraw.kinematics`): ``x``, ``y`` hand position (cm),
``rho`` distance from the movement's first point (cm), ``vx``, ``vy`` velocity (cm/s),
``speed`` (cm/s), ``cos_direction``, ``sin_direction`` of the movement direction (rows where
the hand moves only), ``acceleration`` |a| (cm/s^2).

Command line: ``python -m deepdraw.decoding fit ...`` (one model) and ``... combine ...``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from deepdraw import cliutil
from deepdraw.activations import layer_indices, read_layers
from deepdraw.io import open_zarr, rng_for
from deepdraw.kinematics import load_kinematics
from deepdraw.tuning.layers import write_table
from deepdraw.tuning.rows import layer_rows, row_features, split_rows

log = logging.getLogger(__name__)

#: variable -> (function of the tuning rows, needs a movement direction)
VARIABLES = {
    "x": (lambda r: r["x"], False),
    "y": (lambda r: r["y"], False),
    "rho": (lambda r: r["rel_r"], False),
    "vx": (lambda r: r["vx"], False),
    "vy": (lambda r: r["vy"], False),
    "speed": (lambda r: r["speed"], False),
    "acceleration": (lambda r: r["acceleration"], False),
    "cos_direction": (lambda r: np.cos(r["direction"]), True),
    "sin_direction": (lambda r: np.sin(r["direction"]), True),
}


def decode_layer(Y: np.ndarray, targets: np.ndarray, train: np.ndarray, alphas) -> dict[str, np.ndarray]:
    """Ridge read-out of several targets from all units; test R^2 per target.

    Parameters
    ----------
    Y : (rows, units) activations; targets : (rows, k) variables; train : (rows,) bool
    alphas : candidate penalties for RidgeCV (one chosen per target)

    Returns
    -------
    dict of (k,) arrays: ``r2_test``, ``r2_train``, ``alpha``.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(Y[train])
    X_train, X_test = scaler.transform(Y[train]), scaler.transform(Y[~train])
    ridge = RidgeCV(alphas=np.asarray(alphas, float), alpha_per_target=True).fit(X_train, targets[train])
    predicted_test = ridge.predict(X_test).reshape(len(X_test), -1)
    predicted_train = ridge.predict(X_train).reshape(len(X_train), -1)
    return {
        "r2_test": r2_score(targets[~train], predicted_test, multioutput="raw_values"),
        "r2_train": r2_score(targets[train], predicted_train, multioutput="raw_values"),
        "alpha": np.broadcast_to(np.asarray(ridge.alpha_, float), (targets.shape[1],)).copy(),
    }


def decode_model(activations_path: str, dataset_path: str, settings: dict, seed: int,
                 identity: dict) -> pd.DataFrame:
    """Decoding table of one model: one row per layer and variable.

    Columns: the ``identity`` keys, ``layer``, ``layer_index`` (0 = spindle input),
    ``variable``, ``r2_test``, ``r2_train``, ``alpha``, ``n_train``, ``n_test``, ``n_units``.
    """
    dataset = open_zarr(dataset_path)
    layers, groups, root = read_layers(activations_path,
                                       dataset if settings["input_layer"] else None)
    samples = root["sample_index"].values
    kin = load_kinematics(dataset, samples)
    features = row_features(kin)
    n_classes = int(dataset["label"].values.max()) + 1
    order = rng_for(seed, "decoding").permutation(len(samples))
    train_samples = np.sort(order[: int(round(settings["train_fraction"] * len(samples)))])
    row_settings = {**settings, "max_rows": settings["decoding_max_rows"]}
    indices = layer_indices(layers)
    records = []
    for name in layers:
        group = groups[name]
        Y, rows = layer_rows(group["activation"].values, group["input_step"].values, kin, row_settings,
                             rng_for(seed, "decoding-rows", name), n_classes, features)
        train = split_rows(rows, settings, rng_for(seed, "decoding-split", name), train_samples)
        for directional in (False, True):
            names = [v for v, (_, d) in VARIABLES.items() if d == directional]
            keep = rows["speed"] > rows.min_speed if directional else np.ones(len(Y), bool)
            if (train & keep).sum() < 3 or (~train & keep).sum() < 2:
                continue
            targets = np.column_stack([VARIABLES[v][0](rows) for v in names])[keep]
            result = decode_layer(Y[keep], targets, train[keep], settings["decoding_alphas"])
            for k, variable in enumerate(names):
                records.append({**identity, "layer": name, "layer_index": indices[name], "variable": variable,
                                "r2_test": float(result["r2_test"][k]), "r2_train": float(result["r2_train"][k]),
                                "alpha": float(result["alpha"][k]), "n_train": int((train & keep).sum()),
                                "n_test": int((~train & keep).sum()), "n_units": Y.shape[1]})
        log.info("%s: %s", name, {r["variable"]: round(r["r2_test"], 3) for r in records if r["layer"] == name})
    return pd.DataFrame(records)


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.decoding", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="decoding table of one model")
    cliutil.add_model_fit(fit)
    fit.add_argument("--output", required=True, help="decoding table (.csv)")
    combine = sub.add_parser("combine", help="one table of the per-model decoding tables")
    combine.add_argument("--tables", nargs="+", required=True)
    combine.add_argument("--output", required=True)
    args = cliutil.parse_args(parser, argv)
    if args.command == "fit":
        identity = cliutil.model_identity(args)
        table = decode_model(args.activations, args.dataset, json.loads(args.analysis), args.seed, identity)
        write_table(table, args.output)
    else:
        write_table(pd.concat([pd.read_csv(path) for path in args.tables], ignore_index=True), args.output)


if __name__ == "__main__":
    main()
