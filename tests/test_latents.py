"""The latent registry: a latent added through it alone reaches the transform, the shard
tables, the bias report and the data figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deepdraw import augmentation, bias, datafigures, generation
from deepdraw.augmentation import LATENTS, Latent, register, transform, unregister
from workflow import ROOT

IDENTITY = dict(size=1.0, rotation=0.0, shear_x=0.0, shear_y=0.0, speed=1.0)


def _jitter_x(path, latents):
    """Translate the character along its own x axis by ``jitter_x`` cm."""
    return path + np.array([latents["jitter_x"], 0.0])


@pytest.fixture
def jitter(request):
    """A toy latent (translation along x) registered for one test, with the given values."""
    latent = register(Latent("jitter_x", getattr(request, "param", (0.0,)), "cm", "jitter x",
                             _jitter_x, order=3))
    yield latent
    unregister(latent.name)


def test_study_latents_and_their_order():
    assert list(LATENTS) == ["size", "rotation", "shear_x", "shear_y", "speed", "noise"]
    assert augmentation.transform_steps() == [LATENTS["size"].apply, LATENTS["rotation"].apply,
                                              LATENTS["speed"].apply]
    assert LATENTS["noise"].apply is None


def test_registry_rejects_duplicates_and_bad_values():
    with pytest.raises(ValueError, match="already registered"):
        register(Latent("size", (1.0,), "1", "size"))
    with pytest.raises(ValueError, match="distinct finite"):
        Latent("bad", (1.0, 1.0), "1", "bad")
    with pytest.raises(ValueError, match="identifier"):
        Latent("not a name", (1.0,), "1", "bad")


@pytest.mark.parametrize("jitter", [(-2.0, 0.0, 2.0)], indirect=True)
def test_registered_latent_is_drawn_and_applied_in_its_order(jitter):
    drawn = augmentation.draw_latents(np.random.default_rng(0), 600)
    assert set(np.unique(drawn["jitter_x"])) == {-2.0, 0.0, 2.0}
    traj = np.column_stack([np.linspace(0, 5, 50), np.sin(np.linspace(0, 3, 50))])
    # order 3: after speed, so the translation is not resampled or rotated
    got = transform(traj, {**IDENTITY, "rotation": 90.0, "jitter_x": 2.0})
    np.testing.assert_allclose(got, np.column_stack([-traj[:, 1], traj[:, 0]]) + [2.0, 0.0],
                               atol=1e-12)
    with pytest.raises(ValueError, match="jitter_x"):
        transform(traj, IDENTITY)
    # the shard rule's parameter changes, so the workflow regenerates the shards
    assert json.loads(augmentation.describe_latents())["jitter_x"] == {
        "values": [-2.0, 0.0, 2.0], "unit": "cm", "order": 3, "transform": "_jitter_x"}


def test_a_registered_latent_reaches_the_shard_bias_report_and_figures(jitter, tmp_path):
    """Generation, bias and data figures handle a new latent without any other edit."""
    from deepdraw.characters import read_characters, split_characters, write_characters
    from deepdraw.config import resolve
    from deepdraw.io import open_zarr, rng_for
    from deepdraw.muscles.model_edits import model_and_surrogate

    config = resolve([ROOT / "config/test.yaml"], ROOT)
    settings = {**config["generation"], "samples_per_shard": 4}
    model, surrogate = model_and_surrogate(config["muscles"], ROOT, tmp_path)
    charset = read_characters(ROOT / config["characters"]["file"])
    split = split_characters(charset.labels, 0.2, rng_for(1, "characters", "split"))
    write_characters(charset, tmp_path / "characters.zarr", split)
    shard = tmp_path / "shard.zarr"
    generation.main([
        "shard", "--characters", str(tmp_path / "characters.zarr"),
        "--start-points", str(ROOT / settings["start_points"]),
        "--surrogate", str(surrogate), "--model", str(model),
        "--settings", json.dumps(settings), "--plane", "horizontal",
        "--shard", "0", "--seed", "3", "--output", str(shard)])
    samples = open_zarr(shard)
    assert samples["latent_jitter_x"].attrs["units"] == "cm"
    np.testing.assert_array_equal(samples["latent_jitter_x"].values, 0.0)
    assert "jitter_x" in json.loads(samples.attrs["latents"])
    table = generation.read_candidates(shard)
    assert "latent_jitter_x" in table and table.sizes["candidate"] >= 4

    out = {k: tmp_path / f"bias.{k}" for k in ("json", "csv", "png")}
    bias.main(["--shards", str(shard), "--start-points", settings["start_points"],
               "--json", str(out["json"]), "--csv", str(out["csv"]), "--figure", str(out["png"]),
               "--tests", str(tmp_path / "tests.csv")])
    report = json.loads(out["json"].read_text())
    entry = report["planes"]["horizontal"]["latents"]["jitter_x"]
    assert entry["accepted"] == [4]
    # one value: nothing to test against uniform, reported as such rather than failing
    assert np.isnan(report["latents_accepted_vs_uniform"]["jitter_x"]["p"])
    tests = pd.read_csv(tmp_path / "tests.csv")
    assert tests["test"].str.startswith("latent jitter_x").sum() == 1

    figure = tmp_path / "distributions.png"
    datafigures.plot_distributions(samples, figure)
    assert figure.stat().st_size > 10_000
