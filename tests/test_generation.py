"""Shard generation: early-stopped candidates, blockwise assembly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from deepdraw import arm, augmentation, generation, muscles, spindles
from deepdraw.characters import StoredCharacters, preprocess, read_characters

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config/test.yaml").read_text())


@pytest.fixture(scope="module")
def characters():
    charset = read_characters(ROOT / CONFIG["characters"]["file"])
    n = len(charset.labels)
    return StoredCharacters(preprocess(charset.velocities), np.asarray(charset.labels),
                            np.arange(n), np.zeros(n, np.int8), charset.letters, {})


@pytest.fixture(scope="module")
def surrogate():
    return muscles.MuscleSurrogate.load(ROOT / "resources/muscle_surrogate_corrected.npz")


@pytest.mark.parametrize("plane", ["horizontal", "vertical"])
def test_early_stopping_accepts_exactly_the_candidates_the_whole_tests_accept(
        characters, surrogate, plane):
    """Each logged candidate, rebuilt from its draw and tested on its whole movement."""
    settings = dict(CONFIG["generation"], samples_per_shard=12)
    points = augmentation.load_start_points(ROOT / settings["start_points"], plane)
    shard, rejected, table = generation.generate_shard(characters, points, plane, 0, settings,
                                                       3, surrogate.predict)
    assert shard.sizes["sample"] == 12
    latent_values = {k: np.asarray(v) for k, v in augmentation.LATENT_SETS.items()}
    for c in range(table.sizes["candidate"]):
        row = table.isel(candidate=c)
        # the table stores float32 latents: map back to the exact value of the set
        lat = {k: float(v[np.argmin(np.abs(v - float(row[f"latent_{k}"])))])
               for k, v in latent_values.items()}
        path = augmentation.transform(characters.trajectories[int(row["source_index"])], lat)
        target = augmentation.embed(path, plane, points[int(row["start_index"])])[None]
        d = np.array([len(path)])
        assert int(row["steps"]) == d[0]
        if d[0] > settings["window_steps"]:
            assert str(row["first_reason"]) == "too_long"
            continue
        q = arm.inverse_kinematics(target)
        reasons = generation.kinematic_rejections(target, q, d, settings)
        ok = not any(m[0] for m in reasons.values())
        if ok:
            ok = bool(muscles.valid_trajectories(surrogate.predict(q[0]).T[None], d)[0][0])
        assert bool(row["accepted"]) == ok, (c, str(row["first_reason"]))
        if ok:  # the early-stopped solve of an accepted candidate is the whole solve
            np.testing.assert_allclose(row["joint_min"].values, q[0].min(axis=0), atol=1e-4)
            assert int(row["solved_steps"]) == d[0]
        else:
            assert int(row["solved_steps"]) <= d[0]


def _fake_characters(n: int) -> StoredCharacters:
    return StoredCharacters([np.zeros((2, 2))] * n, np.arange(n) % 3, np.arange(n),
                            np.zeros(n, np.int8), "abc", {})


def test_blockwise_assembly_equals_the_whole_shard_computation(monkeypatch):
    rng = np.random.default_rng(0)
    n, window, n_muscles = 9, 40, len(muscles.MUSCLE_NAMES)
    lengths = rng.normal(100, 10, (n + 2, window, n_muscles))
    hand = rng.normal(0, 5, (n + 2, window, 3))
    joints = rng.normal(40, 10, (n + 2, window, 4))
    rows = np.array([0, 1, 2, 4, 5, 6, 7, 8, 10])  # slots 3 and 9 gave up
    durations = rng.integers(5, window + 1, n)
    latents = {k: rng.choice(np.asarray(v, dtype=float), n)
               for k, v in augmentation.LATENT_SETS.items()}
    points = rng.normal(0, 10, (20, 3))
    start_index = rng.integers(0, 20, n)
    args = (_fake_characters(n), np.arange(n), lengths, hand, joints, rows, durations, latents,
            points, start_index, "vertical", window)
    monkeypatch.setattr(generation.assembly, "ASSEMBLY_CHUNK", 2)
    blocks = generation.assemble(*args, np.random.default_rng(5))
    monkeypatch.setattr(generation.assembly, "ASSEMBLY_CHUNK", 1000)
    whole = generation.assemble(*args, np.random.default_rng(5))
    for name in blocks.data_vars:
        assert np.array_equal(blocks[name].values, whole[name].values), name
    # reference: the whole shard at once, NaN after each movement's end
    longest = durations.max()
    padded = np.swapaxes(lengths[rows, :longest], 1, 2).copy()
    padded[np.arange(longest)[None, None, :] >= durations[:, None, None].repeat(n_muscles, 1)] = np.nan
    ref_rng = np.random.default_rng(5)
    onsets = spindles.draw_onsets(durations, window, ref_rng)
    noisy = spindles.add_length_noise(padded, latents["noise"], ref_rng)
    placed = spindles.place_in_window(noisy, durations, onsets, window)
    expected = np.stack([placed, np.gradient(placed, spindles.DT, axis=-1)], -1).astype(np.float32)
    assert np.array_equal(blocks["spindles"].values, expected)
    assert np.array_equal(blocks["onset"].values, onsets)
    assert np.array_equal(blocks["muscle_length"].values, spindles.place_in_window(
        padded, durations, onsets, window).astype(np.float32))
    placed_hand = spindles.place_in_window(np.swapaxes(hand[rows, :longest], 1, 2), durations,
                                           onsets, window)
    assert np.array_equal(blocks["hand"].values, np.swapaxes(placed_hand, 1, 2).astype(np.float32))
    assert np.array_equal(blocks["start_point"].values, points[start_index].astype(np.float32))
    assert blocks["start_index"].dtype == np.int32


def test_monitor_stops_samples_and_leaves_the_others_unchanged(characters):
    points = augmentation.load_start_points(ROOT / CONFIG["generation"]["start_points"], "vertical")
    _, targets, durations = generation.candidate_movements(
        characters, np.arange(6), "vertical", points, np.random.default_rng(2))[1:]
    full = arm.inverse_kinematics(targets)
    calls = []

    def stop_first(t0, t1, q):
        calls.append((t0, t1))
        return np.arange(len(q)) == 0

    stopped = arm.inverse_kinematics(targets, monitor=stop_first, check_every=8)
    assert np.isnan(stopped[0, 8:]).all() and np.array_equal(stopped[0, :8], full[0, :8])
    # the others are solved independently: the same up to the rounding of numpy's vectorised
    # kernels, which can depend on the batch size (measured ~1e-13 deg)
    np.testing.assert_allclose(stopped[1:], full[1:], rtol=0, atol=1e-9)
    assert np.array_equal(np.isnan(stopped[1:]), np.isnan(full[1:]))
    # blocks cover every solved step once, in order
    assert calls[0] == (0, 8) and all(a[1] == b[0] for a, b in zip(calls, calls[1:]))
    assert calls[-1][1] == durations[1:].max()


@pytest.mark.parametrize("plane", ["horizontal", "vertical"])
def test_exact_and_surrogate_backends_accept_the_same_samples(characters, surrogate, plane,
                                                              tmp_path):
    """On a small shard the OpenSim backend (corrected model) and the surrogate built from it
    take the same decisions on the same first-round candidates, except where OpenSim's own
    length jumps at one of the residual wrapping switches (docs/muscles.md): the exact path then
    rejects the candidate as ``muscle_jump`` while the surrogate follows the smooth branch."""
    from deepdraw.config import resolve
    from deepdraw.muscles.model_edits import model_and_surrogate

    config = resolve([ROOT / "config/test.yaml"], ROOT)
    model, shipped = model_and_surrogate(config["muscles"], ROOT, tmp_path)
    settings = dict(CONFIG["generation"], samples_per_shard=6)
    points = augmentation.load_start_points(ROOT / settings["start_points"], plane)
    runs = [generation.generate_shard(characters, points, plane, 0, settings, 5, predict,
                                      check_every=settings["window_steps"])
            for predict in (muscles.length_model("opensim", model),
                            muscles.length_model("surrogate", model, shipped))]
    (shard_exact, _, table_exact), (shard_fast, _, table_fast) = runs
    first_exact = table_exact.isel(candidate=table_exact["attempt"].values == 0)
    first_fast = table_fast.isel(candidate=table_fast["attempt"].values == 0)
    for name in ("sample", "source_index", "start_index", "latent_size", "latent_rotation"):
        np.testing.assert_array_equal(first_exact[name].values, first_fast[name].values, name)
    differ = first_exact["accepted"].values != first_fast["accepted"].values
    assert differ.sum() <= 1
    assert np.all(first_exact["first_reason"].values[differ] == "muscle_jump")
    assert first_fast["accepted"].values[differ].all()
    # samples accepted in the first round by both: the same movement, lengths within 1 mm
    both = first_exact["sample"].values[first_exact["accepted"].values & ~differ]
    rows_exact = np.sort(both)  # a shard holds its samples in sample order
    assert len(rows_exact) >= 5
    np.testing.assert_array_equal(shard_exact["joints"].values[rows_exact],
                                  shard_fast["joints"].values[rows_exact])
    held = ~np.isin(muscles.MUSCLE_NAMES, config["muscles"]["fit"]["residual_muscles"])
    error = np.abs(shard_fast["muscle_length"].values[rows_exact]
                   - shard_exact["muscle_length"].values[rows_exact])[:, held]
    assert np.sqrt(np.mean(error ** 2)) <= 0.1 and error.max() <= 2.0
