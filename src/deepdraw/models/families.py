"""Network families: the registry :data:`FAMILIES`, the three families and the study's search space.

A :class:`Family` says how the hidden blocks of an architecture (one entry of
``training.architectures``) are laid out (with a :class:`deepdraw.models.planning.Planner`),
which keys the entry needs, how the study's search space draws one, and the study's learning
rate and batch size for the family (see :mod:`deepdraw.models`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from deepdraw.models.planning import Planner


@dataclass(frozen=True)
class Family:
    """A network family: its architecture keys, block layout and search space.

    Attributes
    ----------
    name : str
        Value of an architecture's ``family`` key.
    keys : frozenset of str
        Keys an architecture of this family must have (besides ``name``, ``family`` and the
        optional ``dropout``).
    blocks : callable ``(arch, planner) -> None``
        Lays out the hidden blocks with ``planner.conv(...)`` / ``planner.lstm(...)``
        (:class:`Planner`), validating the keys it reads.
    draw : callable ``(rng) -> dict``
        One architecture (without ``name``) drawn from the study's search space.
    prefixes : tuple of str
        Names of its blocks without the 1-based index (``spatial`` for ``spatial1``, ...).
    study_learning_rate : float
        Adam learning rate the study trained this family with (no unit).
    study_batch_size : int
        Batch size the study trained this family with (samples).
    """

    name: str
    keys: frozenset
    blocks: Callable[[dict, "Planner"], None]
    draw: Callable[[np.random.Generator], dict]
    prefixes: tuple
    study_learning_rate: float
    study_batch_size: int


#: Registered network families, by name (insertion order fixes the sweep seeds).
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES` (an existing name is an error)."""
    if family.name in FAMILIES:
        raise ValueError(f"network family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def block_pattern() -> re.Pattern:
    """Regular expression of the hidden-block names of every registered family."""
    prefixes = sorted({p for f in FAMILIES.values() for p in f.prefixes}, key=len, reverse=True)
    return re.compile(rf"^({'|'.join(map(re.escape, prefixes))})(\d+)$")


# The study's architecture search space (Sandbrink et al. 2023, Methods).
SEARCH_SPACE = {
    "layers": (1, 2, 3, 4),
    "filters": (8, 16, 32, 64),
    "kernel": (3, 5, 7, 9),
    "spatial_stride": (1, 2),
    "temporal_stride": (1, 2, 3),
    "lstm_pre_layers": (1, 2, 3),
    "lstm_filters": (8, 16, 32),
    "lstm_units": (32, 64, 128),
}


def _rising(rng: np.random.Generator, choices: tuple[int, ...], n: int) -> list[int]:
    """``n`` values drawn from ``choices``, sorted: kernels per layer never decrease."""
    return sorted(int(v) for v in rng.choice(choices, size=n))


def _spatial_blocks(arch: dict, planner: Planner) -> None:
    k, s = planner.int("spatial_kernel"), planner.int("spatial_stride")
    for i, f in enumerate(planner.ints("spatial_filters"), 1):
        planner.conv(f"spatial{i}", f, (k, 1), (s, 1))


def _spatial_temporal_blocks(arch: dict, planner: Planner) -> None:
    _spatial_blocks(arch, planner)
    k, s = planner.int("temporal_kernel"), planner.int("temporal_stride")
    for i, f in enumerate(planner.ints("temporal_filters"), 1):
        planner.conv(f"temporal{i}", f, (1, k), (1, s))


def _spatiotemporal_blocks(arch: dict, planner: Planner) -> None:
    k, s = planner.int("kernel"), planner.int("stride")
    for i, f in enumerate(planner.ints("filters"), 1):
        planner.conv(f"spatiotemporal{i}", f, (k, k), (s, s))


def _recurrent_blocks(arch: dict, planner: Planner) -> None:
    _spatial_blocks(arch, planner)
    for i, units in enumerate(planner.ints("lstm_units"), 1):
        planner.lstm(f"recurrent{i}", units)


def _draw_spatial_temporal(rng: np.random.Generator) -> dict:
    space = SEARCH_SPACE
    n = int(rng.choice(space["layers"]))
    filters = _rising(rng, space["filters"], 2 * n)
    return {"family": "spatial_temporal", "spatial_filters": filters[:n],
            "spatial_kernel": int(rng.choice(space["kernel"])),
            "spatial_stride": int(rng.choice(space["spatial_stride"])),
            "temporal_filters": filters[n:],
            "temporal_kernel": int(rng.choice(space["kernel"])),
            "temporal_stride": int(rng.choice(space["temporal_stride"]))}


def _draw_spatiotemporal(rng: np.random.Generator) -> dict:
    space = SEARCH_SPACE
    n = int(rng.choice(space["layers"]))
    return {"family": "spatiotemporal", "filters": _rising(rng, space["filters"], n),
            "kernel": int(rng.choice(space["kernel"])),
            "stride": int(rng.choice(space["spatial_stride"]))}


def _draw_recurrent(rng: np.random.Generator) -> dict:
    space = SEARCH_SPACE
    return {"family": "recurrent",
            "spatial_filters": _rising(rng, space["lstm_filters"],
                                       int(rng.choice(space["lstm_pre_layers"]))),
            "spatial_kernel": int(rng.choice(space["kernel"])),
            "spatial_stride": int(rng.choice(space["spatial_stride"])),
            "lstm_units": [int(rng.choice(space["lstm_units"]))]}


_SPATIAL = frozenset({"spatial_filters", "spatial_kernel", "spatial_stride"})
# the study trained convolutional networks at lr 5e-4 in batches of 256 and LSTMs at 1e-3 in
# batches of 128 (its training scripts)
register_family(Family(
    "spatial_temporal",
    _SPATIAL | {"temporal_filters", "temporal_kernel", "temporal_stride"},
    _spatial_temporal_blocks, _draw_spatial_temporal, ("spatial", "temporal"), 5e-4, 256))
register_family(Family(
    "spatiotemporal", frozenset({"filters", "kernel", "stride"}), _spatiotemporal_blocks,
    _draw_spatiotemporal, ("spatiotemporal",), 5e-4, 256))
register_family(Family(
    "recurrent", _SPATIAL | {"lstm_units"}, _recurrent_blocks, _draw_recurrent,
    ("spatial", "recurrent"), 1e-3, 128))
