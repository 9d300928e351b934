"""The data contract shared by generation, training and analysis: one definition per fact.

Every stage that writes or reads ``dataset.zarr``, a model folder or an analysis file takes
these names, codes and sizes from here, so that changing one (a plane, the time step) cannot
leave another module silently disagreeing.

- planes: ``PLANES`` (code = index: 0 horizontal, 1 vertical), ``plane_code``, ``PLANE_FLAGS``
- time: ``DT`` = 0.015 s per step, ``WINDOW_STEPS`` = 320 steps (4.8 s) of network input
- input: ``N_MUSCLES`` = 25, ``CHANNELS`` = (length, velocity), ``INPUT_SHAPE`` = (25, 320, 2)
- labels: ``LETTERS``, the 20 single-stroke letters of the UCI set in class order 0..19
- splits: ``SPLITS`` (code = index: 0 train, 1 validation, 2 test), ``SPLIT_CODES``, ``SPLIT_FLAGS``
- model instances: ``seed<N>`` (trained) and ``untrained<N>`` (random-weight control),
  ``instance_name``, ``parse_instance``, ``INSTANCE_WILDCARD``
- network blocks: layer names ``spatial<i>``, ``temporal<i>``, ``spatiotemporal<i>``,
  ``recurrent<i>`` (``BLOCK_PATTERN``)
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

# --- planes -------------------------------------------------------------------------------
PLANES = ("horizontal", "vertical")
"""Planes in which characters are written; a plane's code (int8 in the dataset) is its index."""
PLANE_WILDCARD = "|".join(PLANES)
"""Regular expression matching a plane name (Snakemake wildcard constraint)."""
# world = PLANE_TO_WORLD[plane] @ (x, y) for a character-frame point (x, y) in cm:
# horizontal (y, -x, 0), vertical (0, -x, y); world frame of the arm: x forward, y left, z up
PLANE_TO_WORLD = MappingProxyType({
    "horizontal": np.array([[0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]]),
    "vertical": np.array([[0.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]),
})
"""(3, 2) map from the character frame to world coordinates, per plane."""
IN_PLANE_AXES = MappingProxyType({p: tuple(int(a) for a in np.flatnonzero(m.any(axis=1)))
                                  for p, m in PLANE_TO_WORLD.items()})
"""The two world axes a plane spans (horizontal (0, 1), vertical (1, 2))."""
PLANE_AXIS = MappingProxyType({p: int(np.flatnonzero(~m.any(axis=1))[0])
                               for p, m in PLANE_TO_WORLD.items()})
"""The world axis held constant in a plane (horizontal 2, vertical 0)."""
PLANE_FLAGS = {"flag_values": list(range(len(PLANES))), "flag_meanings": " ".join(PLANES)}
"""CF-style attributes of an int8 ``plane`` variable."""


def plane_code(plane: str) -> int:
    """Integer code of a plane name (0 horizontal, 1 vertical); ValueError names the choices."""
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {PLANES}; got {plane!r}")
    return PLANES.index(plane)


# --- time and input ------------------------------------------------------------------------
DT = 0.015
"""Seconds per trajectory step ("66.7 Hz"): the step the study assumes for every movement."""
WINDOW_STEPS = 320
"""Steps of the network input window (4.8 s); longer movements are rejected."""
N_MUSCLES = 25
"""Muscles of the input (MoBL-ARMS, :data:`deepdraw.muscles.anatomy.MUSCLE_NAMES`)."""
CHANNELS = ("length", "velocity")
"""Input channels per muscle and step: fibre length (mm) and its time derivative (mm/s)."""
INPUT_SHAPE = (N_MUSCLES, WINDOW_STEPS, len(CHANNELS))
"""Shape of one network input (muscle, time, channel)."""

# --- labels --------------------------------------------------------------------------------
LETTERS = "abcdeghlmnopqrsuvwyz"
"""The 20 character classes, label k = ``LETTERS[k]``."""

# --- splits --------------------------------------------------------------------------------
SPLITS = ("train", "validation", "test")
"""Dataset splits; a split's code (int8 in the dataset) is its index."""
SPLIT_CODES = {name: code for code, name in enumerate(SPLITS)}
"""Split name -> code (0 train, 1 validation, 2 test)."""
SPLIT_FLAGS = {"flag_values": list(range(len(SPLITS))), "flag_meanings": " ".join(SPLITS)}
"""CF-style attributes of an int8 ``split`` variable."""

# --- model instances -----------------------------------------------------------------------
TRAINED_PREFIX, UNTRAINED_PREFIX = "seed", "untrained"
INSTANCE_WILDCARD = rf"({TRAINED_PREFIX}|{UNTRAINED_PREFIX})\d+"
"""Regular expression matching an instance folder name (Snakemake wildcard constraint)."""
_INSTANCE = re.compile(rf"^{INSTANCE_WILDCARD}$")


class Instance(NamedTuple):
    """A model instance: ``trained`` (False for a random-weight control) and its ``seed``."""

    trained: bool
    seed: int


def instance_name(seed: int, trained: bool = True) -> str:
    """Folder name of a model instance: ``seed<N>`` when trained, else ``untrained<N>``."""
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")
    return f"{TRAINED_PREFIX if trained else UNTRAINED_PREFIX}{int(seed)}"


def parse_instance(name: str) -> Instance:
    """Inverse of :func:`instance_name`: ``"untrained3"`` -> ``Instance(False, 3)``."""
    match = _INSTANCE.match(str(name))
    if not match:
        raise ValueError(f"model instance {name!r} is neither seed<N> nor untrained<N>")
    return Instance(match.group(1) == TRAINED_PREFIX, int(str(name)[len(match.group(1)):]))


def is_trained(name: str) -> bool:
    """True for a trained instance (``seed<N>``), False for a control (``untrained<N>``)."""
    return parse_instance(name).trained


# --- network blocks ------------------------------------------------------------------------
BLOCK_KINDS = ("spatial", "temporal", "spatiotemporal", "recurrent")
"""Kinds of hidden block; block ``i`` of a kind is the layer named ``<kind><i>``."""
BLOCK_PATTERN = re.compile(rf"^({'|'.join(BLOCK_KINDS)})(\d+)$")
"""Matches the layer name of a hidden block's output (groups: kind, index)."""
