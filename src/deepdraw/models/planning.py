"""Architecture geometry: validating an architecture and laying out its hidden blocks.

:func:`layer_plan` checks an architecture against its family (:data:`FAMILIES`) and lists its
blocks with their geometry (a :class:`Planner` follows the shapes while the family lays them
out); :func:`sample_architectures` draws valid architectures from the study's search space.
"""

from __future__ import annotations

import math

import numpy as np

from deepdraw.contract import INPUT_SHAPE
from deepdraw.models.families import FAMILIES

# besides the family's keys: the name, the dropout and the instances to train (the workflow's)
_OPTIONAL = {"name", "family", "dropout", "seeds", "untrained_seeds"}


def _positive_ints(arch: dict, key: str, minimum: int = 1) -> list[int]:
    value = arch[key]
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ValueError(f"architecture {arch.get('name')!r}: {key} must not be empty")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            what = "stride" if "stride" in key else key
            raise ValueError(f"architecture {arch.get('name')!r}: {key}={value!r}; every {what}"
                             f" must be an integer >= {minimum}")
    return [int(v) for v in values]


def _same_out(extent: int, stride: int) -> int:
    """Output extent of a 'same'-padded convolution."""
    return math.ceil(extent / stride)


class Planner:
    """Running geometry of a network while a family lays out its blocks.

    Attributes ``space`` (muscle rows), ``time`` (steps), ``channels`` and ``time_stride``
    (input steps per step) describe the current block output; ``plan`` lists the blocks.
    """

    def __init__(self, arch: dict, input_shape: tuple[int, int, int]):
        self.arch = arch
        self.space, self.time, self.channels = input_shape
        self.time_stride = 1
        self.plan: list[dict] = []

    def ints(self, key: str) -> list[int]:
        """The architecture's ``key`` as a list of positive integers (validated)."""
        return _positive_ints(self.arch, key)

    def int(self, key: str) -> int:
        """The architecture's ``key`` as one positive integer (validated)."""
        (value,) = _positive_ints(self.arch, key)
        return value

    def _check_kernel(self, block: str, axis: str, kernel: int, extent: int) -> None:
        # With 'same' padding a kernel may exceed its input a little (the paper's best net has
        # a 7-tap kernel on 4 muscles); beyond 2*extent-1 some taps could only see padding.
        if kernel > 2 * extent - 1:
            raise ValueError(
                f"architecture {self.arch.get('name')!r}: {block} kernel {kernel} is larger than"
                f" its input ({extent} {axis}; at most {2 * extent - 1} with 'same' padding); "
                f"use a smaller kernel, a smaller stride or fewer layers")

    def conv(self, block: str, filters: int, kernel: tuple[int, int],
             strides: tuple[int, int]) -> None:
        """Append a convolution block (kernel and strides over (muscles, time))."""
        if kernel[0] > 1:
            self._check_kernel(block, "muscle rows", kernel[0], self.space)
        if kernel[1] > 1:
            self._check_kernel(block, "time steps", kernel[1], self.time)
        self.space, self.time = _same_out(self.space, strides[0]), _same_out(self.time, strides[1])
        self.channels = filters
        self.time_stride *= strides[1]
        self.plan.append({"name": block, "kind": "conv", "filters": filters, "kernel": kernel,
                          "strides": strides, "space": self.space, "time_steps": self.time,
                          "channels": self.channels, "time_stride": self.time_stride})

    def lstm(self, block: str, units: int) -> None:
        """Append an LSTM layer reading the flattened (muscle x channel) vector of every step."""
        self.space, self.channels = 1, units
        self.plan.append({"name": block, "kind": "lstm", "units": units, "space": 1,
                          "time_steps": self.time, "channels": units,
                          "time_stride": self.time_stride})


def layer_plan(arch: dict, input_shape: tuple[int, int, int] = INPUT_SHAPE) -> list[dict]:
    """Validate an architecture and list its hidden blocks with their geometry.

    Parameters
    ----------
    arch : dict
        One architecture (see :mod:`deepdraw.models`).
    input_shape : tuple
        ``(muscles, time steps, channels)`` of the network input.

    Returns
    -------
    list of dict
        One entry per block in order: ``name``, ``kind`` ("conv" or "lstm"), ``filters``,
        ``kernel`` and ``strides`` (``(space, time)``) for convolutions, ``units`` for LSTMs, and
        the block output geometry ``space``, ``time_steps``, ``channels``, ``time_stride``.

    Raises
    ------
    ValueError
        Unknown family, missing or unknown keys, non-positive strides or kernels, a kernel larger
        than its layer's input.
    """
    family = FAMILIES.get(arch.get("family"))
    if family is None:
        raise ValueError(f"architecture {arch.get('name')!r}: unknown family "
                         f"{arch.get('family')!r}; expected one of {', '.join(FAMILIES)}")
    missing = family.keys - set(arch)
    unknown = set(arch) - family.keys - _OPTIONAL
    if missing or unknown:
        raise ValueError(f"architecture {arch.get('name')!r} ({family.name}): missing keys "
                         f"{sorted(missing)}, unknown keys {sorted(unknown)}")
    planner = Planner(arch, input_shape)
    family.blocks(arch, planner)
    if not planner.plan:
        raise ValueError(f"architecture {arch.get('name')!r}: no hidden blocks")
    dropout = arch.get("dropout", 0.3)
    if not 0 <= dropout < 1:
        raise ValueError(f"architecture {arch.get('name')!r}: dropout={dropout} not in [0, 1)")
    return planner.plan


def sample_architectures(family: str, n: int, seed: int) -> list[dict]:
    """``n`` distinct valid architectures of ``family`` drawn from the study's search space.

    Draws are uniform per hyper-parameter (filters sorted so that they never decrease with
    depth); draws that :func:`layer_plan` rejects (e.g. a kernel far larger than the muscle rows
    left after striding) or repeat an earlier one are redrawn. Names are ``<family>_<k>``.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    rng = np.random.default_rng([seed, list(FAMILIES).index(family)])
    found: list[dict] = []
    for _ in range(1000 * n):
        if len(found) == n:
            break
        arch = FAMILIES[family].draw(rng)
        try:
            layer_plan(arch)
        except ValueError:
            continue
        if arch not in found:
            found.append(arch)
    else:
        raise ValueError(f"{family}: could not draw {n} distinct valid architectures")
    return [{"name": f"{family}_{k}", **arch} for k, arch in enumerate(found)]


def n_layers(arch: dict) -> int:
    """Number of hidden blocks (convolutions and LSTM layers) of an architecture."""
    return len(layer_plan(arch))
