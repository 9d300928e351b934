"""Readable labels for the code names of tasks, families, encoding models, layers and columns."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pandas as pd

TASK_LABELS = {"recognition": "character recognition", "position": "hand position decoding",
               "position_velocity": "hand position and velocity decoding"}
FAMILY_LABELS = {"spatial_temporal": "spatial-temporal", "spatiotemporal": "spatiotemporal",
                 "recurrent": "LSTM"}
ENCODING_LABELS = {"direction": "movement direction", "speed": "speed", "velocity": "velocity",
                   "position_cartesian": "position (Cartesian)", "position_polar": "position (polar)",
                   "acceleration": "acceleration", "label": "character label"}
TARGET_LABELS = {"input": "spindle input", "hand_position": "hand position",
                 "hand_velocity": "hand velocity", "label": "character label"}
REPRESENTATION_LABELS = {"spindles": "spindle inputs", "muscle_length": "muscle lengths",
                         "joints": "joint angles", "hand": "hand trajectory"}
PLANE_LABELS = {"horizontal": "horizontal plane", "vertical": "vertical plane"}
TRAINED_STYLE = {True: {"color": "tab:blue", "ls": "-", "label": "trained"},
                 False: {"color": "tab:gray", "ls": "--", "label": "untrained"}}
#: Fewer tuned units than this in a layer: no histogram or correlation is drawn, only a note.
MIN_UNITS = 5
N_CLASSES = 20
#: More (task, architecture) networks than this: figures and per-layer tables show the best of
#: each family per task (a figure row per network would exceed what matplotlib can draw).
MAX_NETWORKS = 8
FIGURES = ("performance", "learning_curves", "fractions", "directions", "invariance", "cka")


def _ordered_tasks(tasks) -> list[str]:
    """Distinct tasks, the article's first (recognition, then decoding), others after."""
    distinct = set(tasks)
    return [t for t in TASK_LABELS if t in distinct] + sorted(distinct - set(TASK_LABELS))


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task.replace("_", " "))


def encoding_label(model: str) -> str:
    return ENCODING_LABELS.get(model, model.replace("_", " "))


def layer_label(name: str, index: int) -> str:
    """``temporal1`` at index 4 -> ``L4 temporal``: depth first (0 = spindle input), then the
    block kind."""
    kind = re.sub(r"\d+$", "", str(name))
    return f"L{int(index)} {kind}"


def _lengths(value) -> int:
    """Number of layers of a hyper-parameter list stored as JSON text in the models table."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return 0
    return len(json.loads(value)) if isinstance(value, str) else len(value)


def architecture_labels(models: pd.DataFrame | None, names) -> dict[str, str]:
    """Readable label per architecture name, from the family and layer counts of the models table.

    Falls back to the name with spaces when the table is missing; identical labels of two
    architectures get a running number so that figure rows stay distinguishable.
    """
    labels = {}
    rows = {} if models is None else {r["name"]: r for _, r in models.drop_duplicates("name").iterrows()}
    for name in names:
        row = rows.get(name)
        if row is None:
            labels[name] = str(name).replace("_", " ")
            continue
        family = row.get("family")
        spatial = _lengths(row.get("arch_spatial_filters"))
        if family == "spatial_temporal":
            temporal = _lengths(row.get("arch_temporal_filters"))
            depth = f"{spatial + temporal} layers ({spatial} spatial, {temporal} temporal)"
        elif family == "spatiotemporal":
            n = _lengths(row.get("arch_filters"))
            depth = f"{n} layer{'s' if n != 1 else ''}"
        elif family == "recurrent":
            lstm = _lengths(row.get("arch_lstm_units"))
            depth = f"{spatial + lstm} layers ({spatial} spatial, {lstm} LSTM)"
        else:
            depth = f"{row.get('n_layers')} layers"
        labels[name] = f"{FAMILY_LABELS.get(family, str(family))}, {depth}"
    counts, seen = Counter(labels.values()), Counter()
    for name in sorted(labels):
        label = labels[name]
        if counts[label] > 1:
            seen[label] += 1
            labels[name] = f"{label} #{seen[label]}"
    return labels



def _readable(frame: pd.DataFrame, arch_labels: dict) -> pd.DataFrame:
    """Code values of the identity columns -> readable labels (layers as ``L<depth> kind``)."""
    out = frame.copy()
    if "task" in out:
        out["task"] = out["task"].map(task_label)
    if "architecture" in out:
        out["architecture"] = out["architecture"].map(lambda a: arch_labels.get(a, a))
    if "encoding_model" in out:
        out["encoding_model"] = out["encoding_model"].map(encoding_label)
    if "target" in out:
        out["target"] = out["target"].map(lambda t: TARGET_LABELS.get(t, t))
    if "layer" in out and "layer_index" in out:
        out["layer"] = [layer_label(n, i) for n, i in zip(out["layer"], out["layer_index"])]
    if "trained" in out:
        out["trained"] = out["trained"].map({True: "trained", False: "untrained"})
    return out

