"""t-SNE of layer representations, coloured by character: one figure per model.

Every layer (the spindle input as layer 0, then every hidden block) is a matrix
``(samples, units x time)`` over the test samples; it is reduced to ``tsne_pca`` principal
components and embedded in 2-D by ``sklearn.manifold.TSNE`` (perplexity ``tsne_perplexity``,
lowered for small sets; PCA initialisation), as in the study. In mode ``study`` only samples of
the ``headline_plane`` are embedded (the study's figures show horizontal movements), at most
``tsne_samples`` of them. The figure has one panel per layer; the table lists the embedding and
``knn_accuracy``, the leave-one-out accuracy of a 5-nearest-neighbour letter classifier in the
2-D embedding (how well letters separate; chance 1/20).

Command line: ``python -m deepdraw.tsne --activations ... --dataset ... --figure ... --table ...``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from deepdraw import cliutil
from deepdraw.activations import layer_indices, read_layers
from deepdraw.contract import PLANES
from deepdraw.io import atomic_path, open_zarr, rng_for
from deepdraw.tuning.layers import write_table

log = logging.getLogger(__name__)


def embed(X: np.ndarray, n_pca: int, perplexity: float, seed: int, threads: int = 1) -> np.ndarray:
    """2-D t-SNE of ``X`` (samples, features) after PCA to ``n_pca`` components, (samples, 2)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    n_components = int(min(n_pca, len(X) - 1, X.shape[1]))
    perplexity = float(min(perplexity, max((len(X) - 1) / 3.0, 1.0)))
    # one thread: OpenMP threads of the Barnes-Hut gradient thrash on a shared machine (measured
    # 60 s instead of 4 s for 60 points with the load above the core count); the rule has 1 core
    with threadpool_limits(limits=threads):
        reduced = PCA(n_components=n_components, random_state=seed).fit_transform(X) if n_components >= 2 else X
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)


def knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Leave-one-out accuracy of a k-nearest-neighbour classifier of ``labels`` on ``points``."""
    from sklearn.neighbors import KNeighborsClassifier

    if len(points) <= k:
        return np.nan
    knn = KNeighborsClassifier(n_neighbors=k + 1).fit(points, labels)
    neighbours = knn.kneighbors(points, return_distance=False)[:, 1:]  # drop the point itself
    votes = labels[neighbours]
    predicted = np.array([np.bincount(v).argmax() for v in votes])
    return float(np.mean(predicted == labels))


def tsne_model(activations_path: str, dataset_path: str, settings: dict, seed: int,
               identity: dict) -> pd.DataFrame:
    """Embedding of every layer: rows ``identity, layer, layer_index, sample_index, label, tsne_1, tsne_2, knn_accuracy``."""
    dataset = open_zarr(dataset_path)
    layers, groups, root = read_layers(activations_path,
                                       dataset if settings["input_layer"] else None)
    samples = root["sample_index"].values
    labels = dataset["label"].values[samples].astype(int)
    chosen = np.arange(len(samples))
    if settings["mode"] == "study":
        plane = PLANES.index(settings["headline_plane"])
        chosen = chosen[dataset["plane"].values[samples] == plane]
    limit = int(settings["tsne_samples"])
    if len(chosen) > limit:
        chosen = np.sort(rng_for(seed, "tsne").choice(chosen, size=limit, replace=False))
    if len(chosen) < 2:
        raise ValueError(f"{activations_path}: {len(chosen)} test samples to embed (at least 2); raise "
                         "analysis.n_test_samples")
    indices = layer_indices(layers)
    frames = []
    for name in layers:
        X = groups[name]["activation"].values[chosen].reshape(len(chosen), -1)
        points = embed(X, settings["tsne_pca"], settings["tsne_perplexity"], seed)
        frames.append(pd.DataFrame({**identity, "layer": name, "layer_index": indices[name],
                                    "sample_index": samples[chosen], "label": labels[chosen],
                                    "tsne_1": points[:, 0], "tsne_2": points[:, 1],
                                    "knn_accuracy": knn_accuracy(points, labels[chosen])}))
        log.info("%s: 5-NN letter accuracy in the embedding %.3f", name, frames[-1]["knn_accuracy"].iat[0])
    return pd.concat(frames, ignore_index=True)


def plot(table: pd.DataFrame, path: str, title: str) -> None:
    """One panel per layer, points coloured by letter (tab20), written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepdraw.contract import LETTERS

    layers = table.drop_duplicates("layer").sort_values("layer_index")
    fig, axes = plt.subplots(1, len(layers), figsize=(2.6 * len(layers) + 1.2, 2.9), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, (_, layer) in zip(axes[0], layers.iterrows()):
        sel = table[table["layer"] == layer["layer"]]
        ax.scatter(sel["tsne_1"], sel["tsne_2"], c=[cmap(int(v) % 20) for v in sel["label"]], s=6, linewidths=0)
        ax.set_title(f"L{layer['layer_index']} {layer['layer']}\n5-NN {sel['knn_accuracy'].iat[0]:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(k), label=LETTERS[k]) for k in range(len(LETTERS))]
    fig.legend(handles=handles, loc="center right", fontsize=6, ncol=1, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 0.9 / fig.get_figwidth(), 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.tsne", __doc__)
    cliutil.add_model_fit(parser)
    parser.add_argument("--figure", required=True, help="output .png")
    parser.add_argument("--table", required=True, help="output: embedding per layer (.csv)")
    args = cliutil.parse_args(parser, argv)
    identity = cliutil.model_identity(args)
    table = tsne_model(args.activations, args.dataset, json.loads(args.analysis), args.seed, identity)
    write_table(table, args.table)
    plot(table, args.figure, f"{args.task} / {args.architecture} / {args.instance}")


if __name__ == "__main__":
    main()
