"""Summary of a sweep: one table row per model and test performance against depth."""

from __future__ import annotations

import json
from pathlib import Path

from deepdraw.contract import LETTERS
from deepdraw.io import atomic_path


def summarize(metric_files: list, table, figure, times=None) -> "pd.DataFrame":
    """Table of all models (one row each) and test performance vs depth per family.

    Parameters
    ----------
    metric_files : list of paths
        ``metrics.json`` files of trained (and untrained) models.
    table : path
        CSV: task, name, family, seed, trained, n_layers, n_parameters, hyper-parameters
        (``arch_*`` columns), epochs, test accuracy / error.
    figure : path
        PNG: per task, test metric against number of layers, one colour per family.
    times : path, optional
        CSV of the training time of each trained model (``timing.json`` beside its metrics),
        apart from ``table`` because wall-clock time differs from run to run.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import pandas as pd

    rows = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        row = {k: m.get(k) for k in ("task", "name", "family", "seed", "trained", "n_layers",
                                     "n_parameters", "epochs")}
        row.update({f"arch_{k}": json.dumps(v) if isinstance(v, list) else v
                    for k, v in m["architecture"].items() if k not in ("name", "family")})
        for split in ("train", "validation", "test"):
            for key, value in m.get(split, {}).items():
                if key not in ("confusion", "n", "loss"):
                    row[f"{split}_{key}"] = value
        rows.append(row)
    df = pd.DataFrame(rows).sort_values(["task", "family", "name", "trained", "seed"])
    # integer hyper-parameters stay integers despite the NaNs of other families' columns
    arch_columns = [c for c in df.columns if c.startswith("arch_")]
    df[arch_columns] = df[arch_columns].convert_dtypes()
    with atomic_path(table) as tmp:
        df.to_csv(tmp, index=False)
    if times is not None:
        timings = []
        for path in metric_files:
            timing = Path(path).with_name("timing.json")
            if timing.is_file():
                m = json.loads(Path(path).read_text())
                timings.append({"task": m["task"], "name": m["name"], "seed": m["seed"],
                                **json.loads(timing.read_text())})
        with atomic_path(times) as tmp:
            pd.DataFrame(timings, columns=["task", "name", "seed", "training_time_s"]).to_csv(
                tmp, index=False)

    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        sub = df[df["task"] == task]
        column = "test_accuracy" if task == "recognition" else "test_position_error_cm"
        for i, (family, group) in enumerate(sub.groupby("family")):
            for trained, marker in ((True, "o"), (False, "x")):
                g = group[group["trained"] == trained]
                if len(g):
                    ax.scatter(g["n_layers"], g[column], marker=marker, color=f"C{i}",
                               label=f"{family}{'' if trained else ' (untrained)'}")
        if task == "recognition":
            ax.axhline(1 / len(LETTERS), color="grey", lw=0.8, ls=":")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set(title=task, xlabel="number of layers",
               ylabel="test accuracy" if task == "recognition" else "test position error (cm)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(figure) as tmp:
        fig.savefig(tmp, format=Path(figure).suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    return df
