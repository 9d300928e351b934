"""Candidate movements: source characters of a shard, drawn latents and start points, augmented paths."""

from __future__ import annotations

import numpy as np

from deepdraw import augmentation
from deepdraw.characters import StoredCharacters
from deepdraw.io import rng_for


def source_characters(n_characters: int, plane: str, shard: int, samples_per_shard: int,
                      seed: int) -> np.ndarray:
    """Source character of each sample of a shard, cycling through a seeded permutation.

    Cycling keeps the letters balanced; the permutation depends on the seed and the plane
    only, so shards partition one sequence.
    """
    order = rng_for(seed, "sources", plane).permutation(n_characters)
    index = shard * samples_per_shard + np.arange(samples_per_shard)
    return order[index % n_characters]


def pad_trajectories(trajectories: list[np.ndarray], length: int | None = None) -> np.ndarray:
    """Stack (T_i, d) arrays into (n, T_max, d), NaN after each one's end."""
    length = length or max(len(t) for t in trajectories)
    out = np.full((len(trajectories), length, trajectories[0].shape[1]), np.nan)
    for i, t in enumerate(trajectories):
        out[i, : len(t)] = t[:length]
    return out


def draw_candidates(characters: StoredCharacters, sources: np.ndarray, plane: str,
                    start_points: np.ndarray, rng: np.random.Generator
                    ) -> tuple[dict[str, np.ndarray], np.ndarray, list[np.ndarray]]:
    """Draw latents and start points for ``sources`` and augment the source characters.

    Returns
    -------
    latents : dict of (n,) float arrays, one per latent of :data:`deepdraw.augmentation.LATENTS`
    start_index : (n,) int, row of each drawn start point in ``start_points``
    paths : list of n (T_i, 3) arrays, hand targets in world cm
    """
    latents = augmentation.draw_latents(rng, len(sources))
    start_index = rng.integers(len(start_points), size=len(sources))
    paths = []
    for i, src in enumerate(sources):
        path2d = augmentation.transform(characters.trajectories[src],
                                        {name: values[i] for name, values in latents.items()})
        paths.append(augmentation.embed(path2d, plane, start_points[start_index[i]]))
    return latents, start_index, paths


def candidate_movements(characters: StoredCharacters, sources: np.ndarray, plane: str,
                        start_points: np.ndarray, rng: np.random.Generator):
    """Draw latents and start points for ``sources`` and return their hand targets.

    Returns
    -------
    latents : dict of (n,) arrays
    start : (n, 3) cm, the drawn start points
    targets : (n, T_max, 3) world cm, NaN after each movement's end
    durations : (n,) int, number of steps of each movement
    """
    latents, start_index, paths = draw_candidates(characters, sources, plane, start_points, rng)
    durations = np.array([len(p) for p in paths])
    return latents, start_points[start_index], pad_trajectories(paths), durations
