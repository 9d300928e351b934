"""Accepted samples to the dataset's variables: length noise, window placement, spindle channels."""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepdraw import arm, augmentation, muscles, spindles
from deepdraw.characters import StoredCharacters
from deepdraw.contract import DT, PLANE_FLAGS, plane_code


# Samples per block of the assembly: bounds the float64 temporaries of noise, window placement
# and velocity to a few MB while keeping numpy's per-call overhead negligible.
ASSEMBLY_CHUNK = 256


def assemble(characters: StoredCharacters, sources: np.ndarray, lengths: np.ndarray,
              hand: np.ndarray, joints: np.ndarray, rows: np.ndarray, durations: np.ndarray,
              latents: dict[str, np.ndarray], start_points: np.ndarray, start_index: np.ndarray,
              plane: str, window: int, rng: np.random.Generator) -> xr.Dataset:
    """Noise, window placement and spindle channels for the accepted samples of a shard.

    Parameters
    ----------
    lengths : (n_slots, T, 25) mm, hand : (n_slots, T, 3) cm, joints : (n_slots, T, 4) deg
        Per-sample buffers; the accepted sample k is in slot ``rows[k]``, valid on its first
        ``durations[k]`` steps (later steps hold anything).

    The random stream gives first the onsets of all samples, then the noise of all samples,
    muscles and steps up to the longest movement in C order, so the work can run in blocks of
    :data:`ASSEMBLY_CHUNK` samples (no shard-sized float64 temporaries) with the same result
    as one whole-shard computation.
    """
    n = len(rows)
    n_muscles = len(muscles.MUSCLE_NAMES)
    durations = np.asarray(durations, dtype=int)
    longest = int(durations.max()) if n else 1
    onsets = spindles.draw_onsets(durations, window, rng)
    inputs = np.empty((n, n_muscles, window, 2), dtype=np.float32)
    placed_lengths = np.empty((n, n_muscles, window), dtype=np.float32)
    placed_hand = np.empty((n, window, 3), dtype=np.float32)
    placed_joints = np.empty((n, window, 4), dtype=np.float32)
    after_end = np.arange(longest)[None, None, :] >= durations[:, None, None]
    for a in range(0, n, ASSEMBLY_CHUNK):
        b = min(a + ASSEMBLY_CHUNK, n)
        block = np.ascontiguousarray(np.swapaxes(lengths[rows[a:b], :longest], 1, 2))
        block[np.broadcast_to(after_end[a:b], block.shape)] = np.nan
        noisy = spindles.add_length_noise(block, latents["noise"][a:b], rng)
        d, o = durations[a:b], onsets[a:b]
        spindles.spindle_inputs(spindles.place_in_window(noisy, d, o, window), DT,
                                out=inputs[a:b])
        placed_lengths[a:b] = spindles.place_in_window(block, d, o, window)
        for source, target in ((hand, placed_hand), (joints, placed_joints)):
            moved = np.swapaxes(source[rows[a:b], :longest], 1, 2)
            target[a:b] = np.swapaxes(spindles.place_in_window(moved, d, o, window), 1, 2)
    start = start_points[start_index].reshape(n, 3)
    data_vars = {
        "spindles": (("sample", "muscle", "time", "channel"), inputs,
                     {"long_name": "spindle inputs: noisy muscle length and velocity",
                      "units": "mm (length), mm/s (velocity)"}),
        "label": ("sample", characters.labels[sources].astype(np.int16),
                  {"long_name": "character class", "letters": characters.letters}),
        "plane": ("sample", np.full(n, plane_code(plane), dtype=np.int8), PLANE_FLAGS),
        "source_index": ("sample", sources.astype(np.int32),
                         {"long_name": "index of the source character in characters.zarr"}),
        "start_point": (("sample", "xyz"), start.astype(np.float32),
                        {"units": "cm", "long_name": "start point, world frame"}),
        "start_index": ("sample", np.asarray(start_index, dtype=np.int32),
                        {"long_name": "row of the start point in the plane's start-point array"}),
        "onset": ("sample", onsets.astype(np.int16), {"units": "step"}),
        "duration": ("sample", durations.astype(np.int16), {"units": "step"}),
        "hand": (("sample", "time", "xyz"), placed_hand,
                 {"units": "cm", "long_name": "hand position, world frame"}),
        "joints": (("sample", "time", "joint"), placed_joints,
                   {"units": "deg", "long_name": "joint angles"}),
        "muscle_length": (("sample", "muscle", "time"), placed_lengths,
                          {"units": "mm", "long_name": "noise-free muscle fibre length"}),
    }
    for name, latent in augmentation.LATENTS.items():
        data_vars[f"latent_{name}"] = ("sample", latents[name].astype(np.float32),
                                       {"units": latent.unit, "long_name": f"latent {latent.label}"})
    coords = {
        "muscle": list(muscles.MUSCLE_NAMES),
        "time": ("time", np.arange(window) * DT, {"units": "s"}),
        "channel": ["length", "velocity"],
        "joint": list(arm.JOINT_NAMES),
        "xyz": ["x", "y", "z"],
    }
    return xr.Dataset(data_vars, coords=coords)
