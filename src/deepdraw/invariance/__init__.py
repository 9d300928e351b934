"""Plane invariance of preferred directions, the study's way: parallel planes at several heights.

Sandbrink et al. fit direction tuning separately on parallel planes of one orientation
(horizontal planes at heights z = -45 ... 30 cm, vertical planes at depths x = 6 ... 54 cm, every
3 cm), take each tuned unit's deviation of its preferred direction from its direction on the
central plane (z = 0 / x = 30 cm), average |deviation| per layer and compare trained with
untrained networks by a paired t-test over the instances. This package

* :mod:`~deepdraw.invariance.planes` makes the test sets: held-out characters written on one
  plane each (every hand path stays on its plane);
* :mod:`~deepdraw.invariance.fits` fits every unit's direction tuning on each plane;
* :mod:`~deepdraw.invariance.summary` computes the deviations per layer and height, the
  per-layer means, the trained-vs-untrained tests and the deviation-curve figure.

The horizontal-vs-vertical comparison of the tuning analysis (``deepdraw.tuning``) is a
second, different analysis and stays there. Command line: ``python -m deepdraw.invariance
{plane-set,gather,fit,summarize} --help``.
"""

from deepdraw.invariance.fits import fit_plane, fit_planes
from deepdraw.invariance.planes import (ORIENTATIONS, STUDY_CENTRAL, STUDY_HEIGHTS, check_settings,
                                        gather_sets, generate_plane_set, hand_off_plane,
                                        plane_start_points)
from deepdraw.invariance.summary import (height_deviations, layer_deviations, plot_deviation_curves,
                                         signed_deviation, summarize)

__all__ = ["ORIENTATIONS", "STUDY_CENTRAL", "STUDY_HEIGHTS", "check_settings", "fit_plane", "fit_planes",
           "gather_sets", "generate_plane_set", "hand_off_plane", "height_deviations", "layer_deviations",
           "plane_start_points", "plot_deviation_curves", "signed_deviation", "summarize"]
