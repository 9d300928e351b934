"""Reachability of start points: the shipped ones pass the original's test, far ones fail."""

import numpy as np
import pytest

from deepdraw import arm, contract, startpoints
from deepdraw.augmentation import load_start_points

START_POINTS = "resources/pcr_startingpoints.hdf5"


@pytest.mark.parametrize("plane", contract.PLANES)
def test_shipped_start_points_are_reachable(plane):
    points = load_start_points(START_POINTS, plane)
    sample = points[np.random.default_rng(0).choice(len(points), 12, replace=False)]
    assert startpoints.is_reachable(sample, plane).all()


@pytest.mark.parametrize("plane", contract.PLANES)
def test_points_beyond_the_arm_are_not_reachable(plane):
    reach = arm.UPPER_ARM_CM + arm.FOREARM_CM
    far = np.array([[reach + 5.0, 0.0, 0.0], [0.0, 0.0, -(reach - 2.0)]])
    # the second lies within reach, but most of its 15 x 15 cm box does not
    assert not startpoints.is_reachable(far, plane).any()


def test_fine_grid_lies_in_the_writing_plane():
    centre = np.array([[30.0, -10.0, -20.0]])
    for plane, axis in contract.PLANE_AXIS.items():
        grid = startpoints.fine_grid(centre, plane)
        assert grid.shape == (1, 225, 3)
        np.testing.assert_array_equal(grid[..., axis], centre[0, axis])
        in_plane = [a for a in range(3) if a != axis]
        spans = grid[0][:, in_plane].max(axis=0) - grid[0][:, in_plane].min(axis=0)
        np.testing.assert_array_equal(spans, [14.0, 14.0])
