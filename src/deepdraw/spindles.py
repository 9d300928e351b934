"""Spindle inputs: length noise, placement in the 320-step window, length/velocity channels.

The network input of the study is two channels per muscle and step: muscle fibre length (mm)
and its time derivative (mm/s, ``np.gradient`` with dt = 15 ms), as written by the authors'
``dataset/ModifyInputRepresentations.ipynb`` (``spindle_info``) and read by their training
code (input (batch, 25, 320, 2)).

Where the noise of a sample (level ``L``, a fraction of a signal's std over the movement)
enters is a choice (``generation.noise``, :data:`NOISE_MODES`):

``lengths``
    white noise ``L * std(length)`` on each muscle's length during the movement, before the
    window placement and the differencing: the velocity channel carries the differenced noise
    (std ``L * std(length) / (sqrt(2) dt)`` inside, much larger than ``L * std(velocity)``), and
    the still steps before and after the movement hold one noisy value (no noise on them).
``channels``
    the noise-free length and velocity channels, each with its own white noise
    ``L * std(channel)`` on the steps of the movement; the still steps stay noise-free.
``kinematic``
    the noise-free length and velocity channels, each with its own white noise
    ``L * std(channel)`` on every step of the window, the still steps included: a sensor
    reading the noise-free kinematics with independent noise.

The std is taken per sample, muscle and channel over the movement's steps (ddof 0).
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


def _channel_noise(lengths: np.ndarray, durations: np.ndarray, onsets: np.ndarray,
                   level: np.ndarray, rng: np.random.Generator, n_steps: int, dt: float,
                   out: np.ndarray | None, whole_window: bool) -> np.ndarray:
    """Noise-free channels plus ``level * std(channel)`` white noise per channel."""
    out = spindle_inputs(place_in_window(lengths, durations, onsets, n_steps), dt, out=out)
    steps = np.arange(n_steps)[None, None, :, None]
    moving = ((steps >= onsets[:, None, None, None])
              & (steps < (onsets + durations)[:, None, None, None]))
    clean = np.where(moving, out, np.nan).astype(float)
    scale = level[:, None, None, None] * np.swapaxes(_valid_std(np.swapaxes(clean, 2, 3)), 2, 3)
    noise = rng.standard_normal(out.shape) * scale
    if not whole_window:
        noise *= moving
    out += noise.astype(np.float32)
    return out


def _noise_on_lengths(lengths, durations, onsets, level, rng, n_steps, dt, out):
    noisy = add_length_noise(lengths, level, rng)
    return spindle_inputs(place_in_window(noisy, durations, onsets, n_steps), dt, out=out)


def _noise_on_channels(lengths, durations, onsets, level, rng, n_steps, dt, out):
    return _channel_noise(lengths, durations, onsets, level, rng, n_steps, dt, out, False)


def _noise_on_kinematics(lengths, durations, onsets, level, rng, n_steps, dt, out):
    return _channel_noise(lengths, durations, onsets, level, rng, n_steps, dt, out, True)


#: Where the noise enters (module docstring): name -> function of
#: ``(lengths, durations, onsets, level, rng, n_steps, dt, out)``.
NOISE_MODES = {"lengths": _noise_on_lengths, "channels": _noise_on_channels,
               "kinematic": _noise_on_kinematics}


def noisy_inputs(lengths: np.ndarray, durations: np.ndarray, onsets: np.ndarray,
                 level: np.ndarray, mode: str, rng: np.random.Generator,
                 n_steps: int = N_STEPS, dt: float = DT,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Network input of movements placed in the window, with noise entering as ``mode`` says.

    Parameters
    ----------
    lengths : (n, n_muscles, T) mm, noise-free, NaN after each movement's end
    durations, onsets : (n,) int, steps of each movement and its first step in the window
    level : (n,) noise level per sample (fraction of a signal's std over the movement)
    mode : {"lengths", "channels", "kinematic"}
        Where the noise enters (:data:`NOISE_MODES`, module docstring).
    rng : random generator (the only source of randomness); the draws of samples come one
        after the other, so that blocks of samples give the values of one whole computation
    n_steps : window length; dt : s per step
    out : optional (n, n_muscles, n_steps, 2) float32 array to write into

    Returns
    -------
    (n, n_muscles, n_steps, 2) float32: noisy length (mm) and velocity (mm/s)
    """
    if mode not in NOISE_MODES:
        raise ValueError(f"generation.noise={mode!r}; expected one of {', '.join(NOISE_MODES)}")
    lengths = np.asarray(lengths, dtype=float)
    level = np.asarray(level, dtype=float)
    if np.any(level < 0) or not np.isfinite(level).all():
        raise ValueError("noise level must be finite and >= 0")
    return NOISE_MODES[mode](lengths, np.asarray(durations), np.asarray(onsets), level, rng,
                             n_steps, dt, out)


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

