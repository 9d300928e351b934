"""Rejection-bias report: chi-square flags, unused start points by chance, shard candidate tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deepdraw import augmentation, bias, generation
from deepdraw.arm import JOINT_NAMES


def synthetic_candidates(n: int, rng: np.random.Generator, size_acceptance=(0.5, 0.5, 0.5),
                         n_points: int = 50, plane: str = "horizontal") -> pd.DataFrame:
    """Candidates drawn uniformly; acceptance depends on the size latent only."""
    columns = {"plane": plane, "shard": 0, "sample": np.arange(n), "attempt": 0,
               "label": rng.integers(0, 4, n), "start_index": rng.integers(0, n_points, n)}
    for name, values in augmentation.LATENT_SETS.items():
        columns[f"latent_{name}"] = rng.choice(np.asarray(values, dtype=float), n)
    size_index = np.searchsorted(augmentation.LATENT_SETS["size"], columns["latent_size"])
    columns["accepted"] = rng.random(n) < np.asarray(size_acceptance)[size_index]
    columns["first_reason"] = np.where(columns["accepted"], "", "muscle_jump")
    columns["muscle_rejected"] = ~columns["accepted"]
    for j in JOINT_NAMES:
        columns[f"joint_min_{j}"] = rng.uniform(0, 10, n)
        columns[f"joint_max_{j}"] = rng.uniform(10, 20, n)
    return pd.DataFrame(columns)


def test_a_latent_value_accepted_less_often_is_flagged():
    rng = np.random.default_rng(3)
    biased = synthetic_candidates(6000, rng, size_acceptance=(0.6, 0.6, 0.3))
    report = bias.bias_report(biased, {"horizontal": 50}, "abcd")
    assert report["latents_accepted_vs_uniform"]["size"]["p"] < 1e-3
    plane = report["planes"]["horizontal"]
    acceptance = plane["latents"]["size"]["acceptance"]
    assert acceptance[2] == pytest.approx(0.3, abs=0.05) and acceptance[0] == pytest.approx(0.6, abs=0.05)
    # the other latents and the letters were not used by the rejection: not flagged at the
    # level that flags the size (six tests: a p below 0.01 by chance is not rare)
    for name in ("rotation", "shear_x", "shear_y", "speed", "noise"):
        assert report["latents_accepted_vs_uniform"][name]["p"] > 1e-3
    assert plane["letters"]["accepted_vs_requested"]["p"] > 1e-3
    assert report["muscle_rejection_fraction"] == pytest.approx(1 - biased["accepted"].mean())


def test_a_uniform_draw_is_not_flagged():
    report = bias.bias_report(synthetic_candidates(6000, np.random.default_rng(4)),
                              {"horizontal": 50}, "abcd")
    for name, test in report["latents_accepted_vs_uniform"].items():
        assert test["p"] > 0.01, name
    assert report["planes"]["horizontal"]["start_points"]["accepted_vs_uniform"]["p"] > 0.01


def test_chi_square_closed_form():
    # (10-20)^2/20 + (30-20)^2/20 = 10 with 1 degree of freedom
    result = bias.chi_square([10, 30])
    assert result["chi2"] == pytest.approx(10.0) and result["dof"] == 1
    assert result["p"] == pytest.approx(0.0015654, rel=1e-4)
    # expected counts are rescaled to the observed total
    assert bias.chi_square([10, 30], [1, 3])["chi2"] == pytest.approx(0.0)


@pytest.mark.parametrize("n, m", [(150, 100), (2000, 539), (40, 10)])
def test_expected_unused_points_match_a_simulation(n, m):
    rng = np.random.default_rng(n + m)
    simulated = np.sum(rng.multinomial(n, np.full(m, 1 / m), size=20000) == 0, axis=1)
    assert bias.expected_unused(n, m) == pytest.approx(simulated.mean(),
                                                       abs=4 * simulated.std() / np.sqrt(20000))


def test_unused_start_points_beyond_chance_are_flagged():
    rng = np.random.default_rng(5)
    uniform = np.bincount(rng.integers(0, 100, 300), minlength=100)
    test = bias.unused_test(uniform, seed=1)
    assert test["unused"] == int(np.sum(uniform == 0)) and test["p"] > 0.01
    assert test["expected"] == pytest.approx(100 * 0.99 ** 300)
    # the same number of samples on only 60 of the 100 points: 40 unused where ~5 are expected
    crowded = np.zeros(100, dtype=int)
    crowded[:60] = np.bincount(rng.integers(0, 60, 300), minlength=60)
    flagged = bias.unused_test(crowded, seed=1)
    assert flagged["unused"] >= 40 and flagged["p"] < 1e-3


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """A shard of the test configuration's size, made by the generator's command line."""
    from workflow import ROOT

    from deepdraw.characters import read_characters, split_characters, write_characters
    from deepdraw.io import rng_for

    tmp = tmp_path_factory.mktemp("shard")
    from deepdraw.config import resolve
    from deepdraw.muscles.model_edits import model_and_surrogate

    config = resolve([ROOT / "config/test.yaml"], ROOT)
    model, surrogate = model_and_surrogate(config["muscles"], ROOT, tmp)
    charset = read_characters(ROOT / config["characters"]["file"])
    split = split_characters(charset.labels, 0.2, rng_for(1, "characters", "split"))
    write_characters(charset, tmp / "characters.zarr", split)
    generation.main([
        "shard", "--characters", str(tmp / "characters.zarr"),
        "--start-points", str(ROOT / config["generation"]["start_points"]),
        "--surrogate", str(surrogate), "--model", str(model),
        "--settings", json.dumps(config["generation"]), "--plane", "horizontal",
        "--shard", "1", "--seed", "7", "--output", str(tmp / "shard.zarr")])
    return tmp / "shard.zarr", config


def test_shard_candidate_table_accepted_rows_are_the_samples(shard):
    from deepdraw.io import open_zarr

    path, config = shard
    samples = open_zarr(path)
    table = generation.read_candidates(path)
    accepted = table.isel(candidate=np.flatnonzero(table["accepted"].values))
    order = np.argsort(accepted["sample"].values)
    accepted = accepted.isel(candidate=order)
    n = config["generation"]["samples_per_shard"]
    assert samples.sizes["sample"] == n
    assert accepted["sample"].values.tolist() == list(range(n))
    for name in ("source_index", "label", "start_index",
                 *[f"latent_{k}" for k in augmentation.LATENT_SETS]):
        assert np.array_equal(accepted[name].values, samples[name].values), name
    points = augmentation.load_start_points(config["generation"]["start_points"], "horizontal")
    assert np.array_equal(samples["start_point"].values,
                          points[samples["start_index"].values].astype(np.float32))
    # joint ranges of the accepted candidates are those of the stored joint trajectories
    joints = samples["joints"].values
    assert np.array_equal(accepted["joint_min"].values, joints.min(axis=1))
    assert np.array_equal(accepted["joint_max"].values, joints.max(axis=1))
    # every rejected candidate says why, and the counts add up to the provenance
    rejected = ~table["accepted"].values
    assert np.all(table["first_reason"].values[rejected] != "")
    assert np.all(table["first_reason"].values[~rejected] == "")
    counts = json.loads(samples.attrs["n_rejected"])
    for name in json.loads(table.attrs["reasons"]):
        assert counts[name] == int(table[f"reason_{name}"].values.sum())
    assert samples.attrs["n_candidates"] == table.sizes["candidate"]
    # attempts of one sample are numbered 0, 1, ... and only the last is accepted
    for sample in range(n):
        rows = table["sample"].values == sample
        assert table["attempt"].values[rows].tolist() == list(range(rows.sum()))
        assert table["accepted"].values[rows].tolist() == [False] * (rows.sum() - 1) + [True]


def test_bias_command_writes_the_report(shard, tmp_path):
    path, config = shard
    out = {k: tmp_path / f"bias.{k}" for k in ("json", "csv", "png")}
    out["tests"] = tmp_path / "bias_tests.csv"
    bias.main(["--shards", str(path), "--start-points", config["generation"]["start_points"],
               "--json", str(out["json"]), "--csv", str(out["csv"]), "--figure", str(out["png"]),
               "--tests", str(out["tests"])])
    report = json.loads(out["json"].read_text())
    table = generation.read_candidates(path)
    assert report["candidates"] == table.sizes["candidate"]
    assert report["accepted"] == config["generation"]["samples_per_shard"]
    points = pd.read_csv(out["csv"])
    assert points["candidates"].sum() == table.sizes["candidate"]
    assert points["accepted"].sum() == report["accepted"]
    assert {"x_cm", "y_cm", "z_cm"} <= set(points.columns)
    assert out["png"].stat().st_size > 10_000
    tests = pd.read_csv(out["tests"])
    latent = tests[tests["test"].str.startswith("latent size")]
    assert len(latent) == 1 and latent["p"].iloc[0] == pytest.approx(
        report["planes"]["horizontal"]["latents"]["size"]["accepted_vs_uniform"]["p"], rel=1e-3)
    assert tests["test"].str.contains("never used").sum() == 1
