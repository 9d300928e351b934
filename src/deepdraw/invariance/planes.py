"""Test sets on fixed parallel planes: characters written at one height of one orientation.

The study asks whether a unit keeps its preferred direction when the same kind of movement
is made elsewhere in the workspace: horizontal characters at different heights (world z) or
vertical characters at different depths (world x). Each set here holds held-out characters
(the characters file's test split, never seen in training when the dataset is split by
character) augmented exactly as the dataset's shards are (:func:`deepdraw.generation.
generate_shard`: latents, inverse kinematics, rejection, muscles, spindles), but with every
start point on one plane. A horizontal character is embedded as ``(y, -x, 0) + start`` and a
vertical one as ``(0, -x, y) + start`` (:data:`deepdraw.augmentation.PLANE_TO_WORLD`), so a
start point on the plane keeps the whole hand path on it.

Start points come from the shipped reachable set (``pcr_startingpoints.hdf5``, a 3 cm grid).
Heights on the grid use the set's points at that height; a height between grid levels uses
the points of the nearest level projected onto the plane (a warning is logged; the rejection
tests still drop unreachable movements).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import xarray as xr

from deepdraw.characters import StoredCharacters
from deepdraw.contract import PLANE_AXIS, PLANES, SPLIT_CODES, SPLIT_FLAGS
from deepdraw.io import rng_for

log = logging.getLogger(__name__)

#: Plane orientations, in the dataset's code order (0 horizontal, 1 vertical).
ORIENTATIONS = PLANES
#: World axis that is constant on a plane of each orientation (horizontal 2 = z, vertical 0 = x).
HEIGHT_AXIS = PLANE_AXIS
HEIGHT_NAME = {plane: "xyz"[axis] for plane, axis in PLANE_AXIS.items()}
#: The study's parallel planes (cm) and central plane of each orientation
#: (amathislab/DeepDraw, single_cell/generalization.py): z = -45..30 and x = 6..54, every 3 cm.
STUDY_HEIGHTS = {"horizontal": tuple(range(-45, 31, 3)), "vertical": tuple(range(6, 55, 3))}
STUDY_CENTRAL = {"horizontal": 0, "vertical": 30}
#: Tolerance (cm) for a start point to count as lying on a plane.
ON_PLANE_CM = 1e-6


def check_orientation(orientation: str) -> str:
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}; got {orientation!r}")
    return orientation


def check_settings(settings: dict) -> dict:
    """Validate the ``analysis.invariance`` settings: the central plane is one of the heights.

    Raises ``ValueError`` naming the field and the fix.
    """
    for orientation in ORIENTATIONS:
        heights = [float(h) for h in settings["heights"][orientation]]
        central = float(settings["central"][orientation])
        if central not in heights:
            raise ValueError(f"config analysis.invariance.central.{orientation} = {central:g} cm is not one "
                             f"of analysis.invariance.heights.{orientation} {heights}; add it to the heights "
                             "(every deviation is measured from the central plane)")
        if len(heights) < 2:
            raise ValueError(f"config analysis.invariance.heights.{orientation}: give the central plane and "
                             "at least one other height")
    return settings


def plane_start_points(points: np.ndarray, orientation: str, height: float) -> np.ndarray:
    """Start points of ``orientation`` lying on the plane at ``height`` (cm).

    Parameters
    ----------
    points : (m, 3) world cm, the orientation's reachable start points
    height : world z (horizontal) or x (vertical) of the plane, cm

    Returns
    -------
    (k, 3) world cm, every point's height coordinate equal to ``height``. Points of the grid
    level at ``height`` when there are any; otherwise those of the nearest level, projected.
    """
    axis = HEIGHT_AXIS[check_orientation(orientation)]
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 3 or not len(points):
        raise ValueError(f"start points must be a non-empty (m, 3) array; got {points.shape}")
    levels = np.unique(points[:, axis])
    nearest = levels[np.argmin(np.abs(levels - height))]
    if abs(nearest - height) > ON_PLANE_CM:
        log.warning("%s plane %s = %g cm: no start point on it; projecting the %d points of the nearest "
                    "level %g cm", orientation, HEIGHT_NAME[orientation], height,
                    int(np.sum(points[:, axis] == nearest)), nearest)
    chosen = points[np.abs(points[:, axis] - nearest) <= ON_PLANE_CM].copy()
    chosen[:, axis] = height
    return chosen


def held_out_characters(characters: StoredCharacters) -> tuple[StoredCharacters, np.ndarray]:
    """The characters of the test split (``split == 1``) and their rows in the full store.

    Falls back to every character (with a warning) when the store has no held-out ones.
    """
    rows = np.flatnonzero(np.asarray(characters.split) == 1)
    if not len(rows):
        log.warning("the characters store holds no held-out (test split) characters: using all of them")
        rows = np.arange(len(characters.labels))
    subset = dataclasses.replace(
        characters, trajectories=[characters.trajectories[i] for i in rows],
        labels=np.asarray(characters.labels)[rows], source_indices=np.asarray(characters.source_indices)[rows],
        split=np.asarray(characters.split)[rows])
    return subset, rows


def set_seed(seed: int, orientation: str, height: float) -> int:
    """Master seed of one plane's set, derived from the run's seed and the plane's identity.

    The generator draws its stream from ``(seed, "shard", plane, shard)``; a derived seed keeps
    the test sets' draws independent of the training shards' (and of each other).
    """
    return int(rng_for(seed, "invariance-set", orientation, f"{float(height):g}").integers(2**31 - 1))


def generate_plane_set(characters: StoredCharacters, start_points: np.ndarray, orientation: str,
                       height: float, n_samples: int, generation: dict, seed: int,
                       length_model, nan_reason: str = "muscle_nan") -> xr.Dataset:
    """Samples of held-out characters written on one plane, in the dataset's layout.

    Parameters
    ----------
    characters : the run's characters (``characters.zarr``)
    start_points : (m, 3) world cm, the orientation's reachable start points
    height : cm, world z (horizontal) or x (vertical)
    n_samples : samples to make (fewer if some find no valid augmentation)
    generation : the config's ``generation`` section (rejection thresholds, window, attempts)
    length_model : joint angles (..., 4) deg -> muscle lengths (..., 25) mm

    Returns
    -------
    Dataset following the ``dataset.zarr`` contract (every sample in the test split,
    ``split == 2``) plus ``height (sample)`` cm; attrs ``orientation``, ``height_cm``,
    ``height_axis``, ``n_rejected``.
    """
    from deepdraw import generation as gen

    check_orientation(orientation)
    subset, rows = held_out_characters(characters)
    points = plane_start_points(start_points, orientation, height)
    settings = {**generation, "samples_per_shard": int(n_samples)}
    shard, rejected, _ = gen.generate_shard(subset, points, orientation, 0, settings,
                                            set_seed(seed, orientation, height), length_model, nan_reason)
    n = shard.sizes["sample"]
    shard["source_index"] = ("sample", rows[shard["source_index"].values].astype(np.int32),
                             shard["source_index"].attrs)
    shard["split"] = ("sample", np.full(n, SPLIT_CODES["test"], dtype=np.int8), dict(SPLIT_FLAGS))
    shard["height"] = ("sample", np.full(n, height, dtype=np.float32),
                       {"units": "cm", "long_name": f"world {HEIGHT_NAME[orientation]} of the writing plane"})
    shard.attrs.update({"orientation": orientation, "height_cm": float(height),
                        "height_axis": HEIGHT_NAME[orientation],
                        "n_rejected": dict(sorted((k, int(v)) for k, v in rejected.items()))})
    return shard


def hand_off_plane(dataset: xr.Dataset) -> np.ndarray:
    """(sample,) largest distance (cm) of each sample's hand from its plane (0 when on it)."""
    plane = dataset["plane"].values.astype(int)
    height = dataset["height"].values.astype(float)
    hand = dataset["hand"].values.astype(float)
    axes = np.array([HEIGHT_AXIS[ORIENTATIONS[p]] for p in plane], dtype=int)
    coordinate = np.take_along_axis(hand, axes[:, None, None], axis=2)[..., 0]
    return np.nanmax(np.abs(coordinate - height[:, None]), axis=1) if len(hand) else np.zeros(0)


def gather_sets(sets: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate plane sets along ``sample`` (in the given order) into one test store."""
    sets = [s for s in sets if s.sizes["sample"] > 0]
    if not sets:
        raise ValueError("every plane set is empty; check the invariance_set logs")
    data = xr.concat(sets, dim="sample", data_vars="minimal", coords="minimal", compat="override",
                     combine_attrs="drop")
    data.attrs = {"planes": [{"orientation": s.attrs.get("orientation"), "height_cm": s.attrs.get("height_cm"),
                              "n_samples": int(s.sizes["sample"])} for s in sets],
                  "created_by": "deepdraw.invariance gather"}
    return data
