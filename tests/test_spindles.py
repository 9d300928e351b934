"""Length noise, window placement and the two-channel spindle input."""

from __future__ import annotations

import numpy as np
import pytest

from deepdraw.contract import DT, N_MUSCLES
from deepdraw.contract import WINDOW_STEPS as N_STEPS
from deepdraw.spindles import (add_length_noise, draw_onsets, place_in_window,
                               spindle_inputs)


def _padded_lengths(rng: np.random.Generator, durations: np.ndarray, n_muscles: int = N_MUSCLES):
    """(n, n_muscles, max duration) mm, smooth per-muscle curves, NaN after each end."""
    n, longest = len(durations), int(durations.max())
    t = np.arange(longest)
    amp = rng.uniform(1, 20, (n, n_muscles, 1))
    lengths = 100 + amp * np.sin(2 * np.pi * t / 90 + rng.uniform(0, 6, (n, n_muscles, 1)))
    return np.where(t[None, None, :] < durations[:, None, None], lengths, np.nan)


def test_noise_has_the_requested_std():
    rng = np.random.default_rng(0)
    durations = np.array([200, 150, 300, 120])
    lengths = _padded_lengths(rng, durations)
    level = np.array([0.0, 0.1, 0.3, 0.3])
    noisy = add_length_noise(lengths, level, np.random.default_rng(1))
    assert np.array_equal(np.isnan(noisy), np.isnan(lengths))
    np.testing.assert_array_equal(noisy[0], lengths[0])  # level 0 leaves the sample untouched
    for i in range(1, 4):
        valid = lengths[i, :, : durations[i]]
        residual = (noisy[i, :, : durations[i]] - valid) / valid.std(axis=1, keepdims=True)
        # residual / std ~ N(0, level^2): 25 x T draws, sampling error of the std ~ 1 / sqrt(2N)
        n_draws = residual.size
        assert abs(residual.std() / level[i] - 1) < 4 / np.sqrt(2 * n_draws)
        assert abs(residual.mean() / level[i]) < 4 / np.sqrt(n_draws)
    again = add_length_noise(lengths, level, np.random.default_rng(1))
    np.testing.assert_array_equal(noisy, again)


def test_noise_std_uses_only_valid_steps():
    lengths = np.full((1, 1, 10), np.nan)
    lengths[0, 0, :4] = [0.0, 2.0, 0.0, 2.0]  # std 1 over the valid steps
    noisy = add_length_noise(lengths, np.array([1.0]), np.random.default_rng(3))
    z = np.random.default_rng(3).standard_normal((1, 1, 10))
    np.testing.assert_allclose(noisy[0, 0, :4], lengths[0, 0, :4] + z[0, 0, :4])


def test_onsets_fit_the_window_and_are_seeded():
    durations = np.array([320, 319, 1, 295, 100] * 200)
    onsets = draw_onsets(durations, N_STEPS, np.random.default_rng(5))
    assert np.all(onsets >= 0) and np.all(onsets + durations <= N_STEPS)
    assert np.all(onsets[durations == 320] == 0)
    assert set(np.unique(onsets[durations == 319])) == {0, 1}  # last onset is reachable
    np.testing.assert_array_equal(onsets, draw_onsets(durations, N_STEPS, np.random.default_rng(5)))
    with pytest.raises(ValueError, match="1..320"):
        draw_onsets(np.array([321]), N_STEPS, np.random.default_rng(0))


def test_placement_holds_first_and_last_values():
    rng = np.random.default_rng(2)
    durations = np.array([5, 3, 8])
    x = _padded_lengths(rng, durations, n_muscles=4)
    onsets = np.array([0, 7, 2])
    placed = place_in_window(x, durations, onsets, n_steps=10)
    assert placed.shape == (3, 4, 10)
    for i, (d, o) in enumerate(zip(durations, onsets)):
        np.testing.assert_array_equal(placed[i, :, o: o + d], x[i, :, :d])
        np.testing.assert_array_equal(placed[i, :, :o], np.repeat(x[i, :, :1], o, axis=1))
        np.testing.assert_array_equal(placed[i, :, o + d:],
                                      np.repeat(x[i, :, d - 1: d], 10 - o - d, axis=1))
    assert np.isfinite(placed).all()


def test_placement_works_for_any_middle_dims():
    x = np.arange(2 * 3 * 2 * 4, dtype=float).reshape(2, 3, 2, 4)
    placed = place_in_window(x, np.array([4, 2]), np.array([1, 3]), n_steps=6)
    assert placed.shape == (2, 3, 2, 6)
    np.testing.assert_array_equal(placed[1, 2, 1], [x[1, 2, 1, 0]] * 4 + [x[1, 2, 1, 1]] * 2)


def test_placement_refuses_overflow():
    x = np.zeros((1, 2, 5))
    with pytest.raises(ValueError, match="fit in the window"):
        place_in_window(x, np.array([5]), np.array([6]), n_steps=10)


def test_velocity_of_a_ramp_is_its_slope():
    slope = 12.5  # mm/s
    t = np.arange(N_STEPS) * DT
    lengths = np.broadcast_to(80 + slope * t, (2, 25, N_STEPS))
    inputs = spindle_inputs(lengths, DT)
    assert inputs.shape == (2, 25, N_STEPS, 2) and inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs[..., 0], lengths.astype(np.float32))
    np.testing.assert_allclose(inputs[..., 1], slope, rtol=1e-5)


def test_velocity_of_a_parabola_inside_the_window():
    t = np.arange(N_STEPS) * DT
    lengths = (3.0 * t**2)[None, None, :]
    velocity = spindle_inputs(lengths, DT)[0, 0, :, 1]
    np.testing.assert_allclose(velocity[1:-1], 6.0 * t[1:-1], rtol=1e-5, atol=1e-5)


def test_spindle_inputs_refuse_nan():
    with pytest.raises(ValueError, match="NaN"):
        spindle_inputs(np.full((1, 25, N_STEPS), np.nan), DT)

