"""Muscle fibre lengths of the 25 arm muscles of MoBL-ARMS: OpenSim and a fast surrogate.

Submodules: :mod:`~deepdraw.muscles.anatomy` (names, joints crossed),
:mod:`~deepdraw.muscles.model_edits` (the continuous model derived from the original),
:mod:`~deepdraw.muscles.opensim_backend` (exact, per frame), :mod:`~deepdraw.muscles.validity`
(rejection rules), :mod:`~deepdraw.muscles.surrogate` (tables), :mod:`~deepdraw.muscles.fitting`
(building and scoring the surrogate), :mod:`~deepdraw.muscles.validation` (derived vs original
model). The command line is ``python -m deepdraw.muscles``.
"""

from __future__ import annotations

import numpy as np

from deepdraw.muscles.anatomy import MUSCLE_JOINTS, MUSCLE_NAMES
from deepdraw.muscles.opensim_backend import (OpenSimModelError, opensim_fiber_lengths,
                                              opensim_lengths)
from deepdraw.muscles.surrogate import MuscleSurrogate
from deepdraw.muscles.validity import (MAX_FIBER_MM, MAX_JUMP_MM, MIN_FIBER_MM, frame_flags,
                                       trajectory_flags, valid_trajectories)

BACKENDS = ("surrogate", "opensim")

__all__ = ["BACKENDS", "MAX_FIBER_MM", "MAX_JUMP_MM", "MIN_FIBER_MM", "MUSCLE_JOINTS",
           "MUSCLE_NAMES", "MuscleSurrogate", "OpenSimModelError", "frame_flags",
           "length_model", "muscle_lengths", "opensim_fiber_lengths", "opensim_lengths",
           "trajectory_flags", "valid_trajectories"]


def length_model(backend: str, model_path, surrogate_path=None):
    """The map ``q (..., 4) deg -> fibre lengths (..., 25) mm`` of ``backend``.

    Both backends use the same OpenSim model: the surrogate must have been built from
    ``model_path`` (checked by sha256), so that the exact and the fast path never disagree
    about which model they stand for.
    """
    from deepdraw.muscles.model_edits import sha256_of

    if backend == "opensim":
        from deepdraw.muscles.opensim_backend import OpenSimArm

        arm = OpenSimArm(model_path)

        def exact(q):
            q = np.asarray(q, dtype=float)
            return arm.lengths(q.reshape(-1, 4)).reshape(q.shape[:-1] + (len(MUSCLE_NAMES),))
        return exact
    if backend != "surrogate":
        raise ValueError(f"muscles.backend must be one of {BACKENDS}, got {backend!r}")
    if surrogate_path is None:
        raise ValueError("the surrogate backend needs a surrogate file (.npz)")
    surrogate = MuscleSurrogate.load(surrogate_path)
    model_sha = sha256_of(model_path)
    if surrogate.model_sha256 != model_sha:
        raise ValueError(
            f"muscle surrogate {surrogate_path} was built from another OpenSim model than "
            f"{model_path} (sha256 {surrogate.model_sha256[:12]} vs {model_sha[:12]}): set "
            "muscles.surrogate: fit to rebuild it for this model, or choose the muscles.model "
            "it was built for")
    return surrogate.predict


def muscle_lengths(q, backend: str = "surrogate", surrogate=None, model_path=None) -> np.ndarray:
    """Fibre lengths (mm) of postures ``q`` (..., 4) deg -> (..., 25).

    Parameters
    ----------
    backend : {"surrogate", "opensim"}
    surrogate : MuscleSurrogate or path-like
        Required for ``backend="surrogate"``; NaN outside its domain.
    model_path : path-like
        Required for ``backend="opensim"``.
    """
    q = np.asarray(q, dtype=float)
    if backend == "surrogate":
        if surrogate is None:
            raise ValueError("backend='surrogate' needs a surrogate (MuscleSurrogate or .npz path)")
        if not isinstance(surrogate, MuscleSurrogate):
            surrogate = MuscleSurrogate.load(surrogate)
        return surrogate.predict(q)
    if backend == "opensim":
        if model_path is None:
            raise ValueError("backend='opensim' needs model_path (the .osim file)")
        flat = opensim_fiber_lengths(q.reshape(-1, 4), model_path)
        return flat.reshape(q.shape[:-1] + (len(MUSCLE_NAMES),))
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
