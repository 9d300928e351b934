"""The data contract: its names and codes agree with each other, the schema and the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from deepdraw import contract
from deepdraw.muscles.anatomy import MUSCLE_NAMES

ROOT = Path(__file__).resolve().parents[1]


def test_instance_names_round_trip():
    assert contract.instance_name(3) == "seed3"
    assert contract.instance_name(0, trained=False) == "untrained0"
    for seed in (0, 7, 12):
        for trained in (True, False):
            parsed = contract.parse_instance(contract.instance_name(seed, trained))
            assert parsed == (trained, seed)
    assert contract.is_trained("seed10") and not contract.is_trained("untrained10")


@pytest.mark.parametrize("bad", ["seed", "seedx", "trained1", "seed-1", "untrained1a", ""])
def test_bad_instance_names_are_rejected(bad):
    with pytest.raises(ValueError, match="seed<N> nor untrained<N>"):
        contract.parse_instance(bad)


def test_block_pattern_matches_block_outputs_only():
    for name in ("spatial1", "temporal12", "spatiotemporal3", "recurrent2"):
        assert contract.BLOCK_PATTERN.match(name)
    for name in ("spatial1_conv", "temporal2_norm", "readout", "input_normalization", "spatial"):
        assert not contract.BLOCK_PATTERN.match(name)


def test_codes_are_indices():
    assert [contract.plane_code(p) for p in contract.PLANES] == [0, 1]
    assert contract.SPLIT_CODES == {"train": 0, "validation": 1, "test": 2}
    assert contract.SPLIT_FLAGS["flag_meanings"].split() == list(contract.SPLITS)
    with pytest.raises(ValueError, match="plane must be one of"):
        contract.plane_code("sagittal")


def test_plane_geometry():
    """Each plane maps the character frame isometrically onto two world axes."""
    for plane, matrix in contract.PLANE_TO_WORLD.items():
        np.testing.assert_allclose(matrix.T @ matrix, np.eye(2))
        axes = contract.IN_PLANE_AXES[plane]
        assert contract.PLANE_AXIS[plane] not in axes
        assert sorted((*axes, contract.PLANE_AXIS[plane])) == [0, 1, 2]
    assert contract.PLANE_AXIS == {"horizontal": 2, "vertical": 0}


def test_sizes_agree_with_the_model_and_the_config():
    assert len(MUSCLE_NAMES) == contract.N_MUSCLES
    assert len(contract.LETTERS) == len(set(contract.LETTERS)) == 20
    assert contract.INPUT_SHAPE == (contract.N_MUSCLES, contract.WINDOW_STEPS, len(contract.CHANNELS))
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    generation = schema["properties"]["generation"]["properties"]
    assert tuple(generation["planes"]["items"]["enum"]) == contract.PLANES
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert config["generation"]["window_steps"] == contract.WINDOW_STEPS
