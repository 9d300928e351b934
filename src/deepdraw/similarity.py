"""Representational similarity between layers, models and kinematics: linear CKA and RDMs.

Every layer of every model was read out on the same test samples (:mod:`deepdraw.activations`),
so a layer is a matrix ``(samples, features)`` with all its channels, spatial rows and time
steps as features. Linear CKA (Kornblith et al. 2019) compares two such matrices through
their centred Gram matrices, ``<K_c, L_c>_F / (||K_c||_F ||L_c||_F)``: invariant to
orthogonal transforms and isotropic scaling of the features, 1 for identical geometry.
RDMs are ``1 - Pearson correlation`` between samples; two RDMs are compared by the Spearman
correlation of their upper triangles.

Targets besides layers: the network input (spindles), the in-plane hand position and
velocity over the window (kinematics), and the character label (one-hot; its RDM is the
ideal observer's: 0 within a class, 1 across classes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from deepdraw import cliutil
from deepdraw.activations import read_layers
from deepdraw.io import open_zarr
from deepdraw.kinematics import load_kinematics
from deepdraw.tuning import parse_instance, write_table

log = logging.getLogger(__name__)


def centered_gram(X: np.ndarray) -> np.ndarray:
    """Gram matrix of the column-centred features, ``Xc Xc'`` (n, n)."""
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    Xc = X - X.mean(axis=0)
    return Xc @ Xc.T


def cka_from_grams(K: np.ndarray, L: np.ndarray) -> float:
    """Linear CKA of two centred Gram matrices (NaN when one representation is constant)."""
    denom = np.linalg.norm(K) * np.linalg.norm(L)
    return float(np.sum(K * L) / denom) if denom > 0 else np.nan


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of two representations of the same samples, ``(n, p)`` and ``(n, q)``."""
    return cka_from_grams(centered_gram(X), centered_gram(Y))


def rdm(X: np.ndarray) -> np.ndarray:
    """Representational dissimilarity matrix, ``1 - corr`` between samples (n, n).

    A sample with constant features has no correlation; its entries are set to 1.
    """
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    Xc = X - X.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(Xc, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        Z = np.where(norm[:, None] > 0, Xc / norm[:, None], 0.0)
    D = 1.0 - Z @ Z.T
    np.fill_diagonal(D, 0.0)
    return D


def rdm_correlation(A: np.ndarray, B: np.ndarray) -> float:
    """Spearman correlation of the upper triangles of two RDMs."""
    iu = np.triu_indices(len(A), k=1)
    a, b = A[iu], B[iu]
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan
    return float(scipy.stats.spearmanr(a, b).statistic)


def reference_representations(dataset, samples: np.ndarray) -> dict[str, np.ndarray]:
    """Input, kinematic and label representations of the test samples, each (n, features)."""
    kin = load_kinematics(dataset, samples)
    labels = kin["label"].values
    position = np.stack([kin["x"].values, kin["y"].values], -1)
    return {
        "input": dataset["spindles"].isel(sample=samples).values.reshape(len(samples), -1),
        # the trajectory's shape, not where in the workspace it was drawn
        "hand_position": (position - position[:, :1]).reshape(len(samples), -1),
        "hand_velocity": np.stack([kin["vx"].values, kin["vy"].values], -1).reshape(len(samples), -1),
        "label": (labels[:, None] == np.unique(labels)[None, :]).astype(float),
    }


def identity_from_path(path: str | Path) -> dict:
    """``.../{task}/{architecture}/{instance}.zarr`` -> identity dict (task, architecture, ...)."""
    path = Path(path)
    trained, seed = parse_instance(path.name.removesuffix(".zarr"))
    return {"task": path.parent.parent.name, "architecture": path.parent.name,
            "instance": path.name.removesuffix(".zarr"), "trained": trained, "seed": seed}


def compare(activation_paths: list[str], dataset_path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CKA between all layer pairs of models of the same task and architecture, and layers vs targets.

    Returns
    -------
    (cka, targets): ``cka`` rows ``task, architecture, instance_a, layer_a, instance_b,
    layer_b, cka``; ``targets`` rows ``task, architecture, instance, trained, seed, layer,
    layer_index, target, cka, rdm_spearman``.
    """
    dataset = open_zarr(dataset_path)
    grams, rdms, idents, samples_ref = {}, {}, {}, None
    for path in activation_paths:
        identity = identity_from_path(path)
        layers, groups, root = read_layers(path)
        samples = root["sample_index"].values
        if samples_ref is None:
            samples_ref = samples
        elif not np.array_equal(samples, samples_ref):
            raise ValueError(f"{path}: activations of different test samples; rerun the activations rule")
        for index, name in enumerate(layers):
            X = groups[name]["activation"].values.reshape(len(samples), -1)
            key = (identity["task"], identity["architecture"], identity["instance"], name)
            grams[key], rdms[key], idents[key] = centered_gram(X), rdm(X), {**identity, "layer": name,
                                                                            "layer_index": index}
    if samples_ref is None:
        raise ValueError("no activation stores given")
    references = reference_representations(dataset, samples_ref)
    ref_grams = {name: centered_gram(X) for name, X in references.items()}
    ref_rdms = {name: rdm(X) for name, X in references.items()}
    ref_rdms["label"] = 1.0 - (references["label"] @ references["label"].T)  # ideal observer

    records = []
    keys = list(grams)
    for i, a in enumerate(keys):
        for b in keys[i:]:
            if a[:2] != b[:2]:  # compare within one task and architecture
                continue
            value = cka_from_grams(grams[a], grams[b])
            for first, second in ((a, b), (b, a)) if a != b else ((a, b),):
                records.append({"task": first[0], "architecture": first[1], "instance_a": first[2],
                                "layer_a": first[3], "instance_b": second[2], "layer_b": second[3],
                                "cka": value})
    cka = pd.DataFrame(records)
    targets = pd.DataFrame([
        {**idents[key], "target": name, "cka": cka_from_grams(grams[key], ref_grams[name]),
         "rdm_spearman": rdm_correlation(rdms[key], ref_rdms[name])}
        for key in keys for name in ref_grams
    ])
    return cka, targets


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.similarity", __doc__)
    parser.add_argument("--activations", nargs="+", required=True,
                        help="activation stores .../{task}/{architecture}/{instance}.zarr")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--cka", required=True, help="output: layer x layer CKA table (.csv)")
    parser.add_argument("--targets", required=True, help="output: layer vs input/kinematics/label (.csv)")
    args = cliutil.parse_args(parser, argv)
    cka, targets = compare(args.activations, args.dataset)
    log.info("%d layer pairs, %d layer-target comparisons", len(cka), len(targets))
    write_table(cka, args.cka)
    write_table(targets, args.targets)


if __name__ == "__main__":
    main()
