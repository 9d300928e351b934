"""Spindle inputs: length noise, placement in the 320-step window, length/velocity channels.

The network input of the study is two channels per muscle and step: muscle fibre length (mm)
and its time derivative (mm/s, ``np.gradient`` with dt = 15 ms), as written by the authors'
``dataset/ModifyInputRepresentations.ipynb`` (``spindle_info``) and read by their training
code (input (batch, 25, 320, 2)).
"""

from __future__ import annotations

import numpy as np

from deepdraw.contract import DT, WINDOW_STEPS as N_STEPS  # noqa: F401 (re-exported)


def _valid_std(x: np.ndarray) -> np.ndarray:
    """Population std over the last axis ignoring NaN; NaN where no value is finite."""
    valid = np.isfinite(x)
    count = valid.sum(axis=-1, keepdims=True)
    work = np.where(valid, x, 0.0)
    mean = np.divide(work.sum(axis=-1, keepdims=True), count,
                     out=np.full(count.shape, np.nan), where=count > 0)
    # (x - mean)^2 on the valid steps, 0 elsewhere, in place (one temporary for both sums)
    np.subtract(x, mean, out=work)
    np.square(work, out=work)
    work[~valid] = 0.0
    squares = work.sum(axis=-1, keepdims=True)
    return np.sqrt(np.divide(squares, count, out=np.full(count.shape, np.nan), where=count > 0))


def add_length_noise(lengths: np.ndarray, level: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Add white noise scaled by each muscle's own variability over time.

    ``lengths + level * std_t(lengths) * N(0, 1)``, the std taken per sample and muscle over
    that sample's valid (finite) steps, with ddof = 0 as the original's ``add_noise``.

    Parameters
    ----------
    lengths : (n, n_muscles, T) mm, NaN after each movement's end
    level : (n,) noise level per sample (fraction of the std)
    rng : random generator (the only source of randomness)

    Returns
    -------
    (n, n_muscles, T) mm, NaN where ``lengths`` is NaN
    """
    lengths = np.asarray(lengths, dtype=float)
    level = np.asarray(level, dtype=float)
    if lengths.ndim != 3 or level.shape != (lengths.shape[0],):
        raise ValueError(f"lengths must be (n, n_muscles, T) and level (n,); got "
                         f"{lengths.shape} and {level.shape}")
    if np.any(level < 0) or not np.isfinite(level).all():
        raise ValueError("noise level must be finite and >= 0")
    scale = level[:, None, None] * _valid_std(lengths)
    noisy = rng.standard_normal(lengths.shape)
    # lengths + scale * noise, in place in the noise's buffer
    np.multiply(scale, noisy, out=noisy)
    return np.add(lengths, noisy, out=noisy)


def draw_onsets(durations: np.ndarray, n_steps: int, rng: np.random.Generator) -> np.ndarray:
    """Random first step of each movement so that it ends inside the window.

    Onsets are uniform over ``0 .. n_steps - duration`` inclusive (the original's
    ``np.random.randint(320 - T)`` excluded the last onset and failed for T = 320).

    Parameters
    ----------
    durations : (n,) int, steps of each movement, 1 <= duration <= n_steps

    Returns
    -------
    (n,) int onsets
    """
    durations = _check_durations(durations, n_steps)
    return rng.integers(0, n_steps - durations + 1)


def _check_durations(durations: np.ndarray, n_steps: int) -> np.ndarray:
    durations = np.asarray(durations)
    if durations.ndim != 1 or not np.issubdtype(durations.dtype, np.integer):
        raise ValueError(f"durations must be a (n,) integer array; got {durations.dtype} "
                         f"{durations.shape}")
    if np.any(durations < 1) or np.any(durations > n_steps):
        raise ValueError(f"durations must be within 1..{n_steps} (window); got "
                         f"{durations.min()}..{durations.max()}; reject longer movements first")
    return durations


def place_in_window(x: np.ndarray, durations: np.ndarray, onsets: np.ndarray,
                    n_steps: int = N_STEPS) -> np.ndarray:
    """Put each movement at its onset in an ``n_steps`` window, holding its end values.

    Before the onset the first value is held, after the movement the last value.

    Parameters
    ----------
    x : (n, ..., T) NaN-padded, movement i valid on its first ``durations[i]`` steps
    durations, onsets : (n,) int, ``onsets + durations <= n_steps``

    Returns
    -------
    (n, ..., n_steps), same dtype as ``x``
    """
    x = np.asarray(x)
    durations = _check_durations(durations, n_steps)
    onsets = np.asarray(onsets)
    if x.shape[0] != len(durations) or onsets.shape != durations.shape:
        raise ValueError(f"x {x.shape}, durations {durations.shape} and onsets {onsets.shape} "
                         "must share the sample axis")
    if np.any(durations > x.shape[-1]):
        raise ValueError(f"durations exceed the {x.shape[-1]} steps of x")
    if np.any(onsets < 0) or np.any(onsets + durations > n_steps):
        raise ValueError(f"each movement must fit in the window: 0 <= onset and onset + "
                         f"duration <= {n_steps}")
    # source step of every window step: clip(t - onset) into the movement's valid steps
    source = np.clip(np.arange(n_steps)[None, :] - onsets[:, None], 0, durations[:, None] - 1)
    source = source.reshape((len(x),) + (1,) * (x.ndim - 2) + (n_steps,))
    return np.take_along_axis(x, source, axis=-1)


def spindle_inputs(lengths: np.ndarray, dt: float = DT, out: np.ndarray | None = None) -> np.ndarray:
    """Two-channel network input: muscle length and muscle velocity.

    Parameters
    ----------
    lengths : (n, n_muscles, n_steps) mm, placed in the window (no NaN)
    dt : float, seconds per step
    out : optional (n, n_muscles, n_steps, 2) float32 array to write into (saves the
        allocation of a new output per call when a shard is assembled block by block)

    Returns
    -------
    (n, n_muscles, n_steps, 2) float32: channel 0 length (mm), channel 1 velocity (mm/s,
    second-order central differences inside, first-order at the window edges: the values of
    ``np.gradient(lengths, dt, axis=-1)``, computed in float64 and rounded once)
    """
    lengths = np.asarray(lengths, dtype=float)
    if lengths.ndim != 3 or lengths.shape[-1] < 2:
        raise ValueError(f"lengths must be (n, n_muscles, n_steps >= 2); got {lengths.shape}")
    if not np.isfinite(lengths).all():
        raise ValueError("lengths contain NaN or inf; place the movements in the window and "
                         "reject invalid muscle outputs first")
    if dt <= 0:
        raise ValueError(f"dt must be > 0 s; got {dt}")
    if out is None:
        out = np.empty(lengths.shape + (2,), dtype=np.float32)
    elif out.shape != lengths.shape + (2,) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {lengths.shape + (2,)}; got "
                         f"{out.dtype} {out.shape}")
    out[..., 0] = lengths
    # the same operations as np.gradient with a uniform step, written straight into ``out``
    velocity = out[..., 1]
    np.divide(lengths[..., 2:] - lengths[..., :-2], 2.0 * dt, out=velocity[..., 1:-1],
              casting="same_kind")
    velocity[..., 0] = (lengths[..., 1] - lengths[..., 0]) / dt
    velocity[..., -1] = (lengths[..., -1] - lengths[..., -2]) / dt
    return out

