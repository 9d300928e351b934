"""One shard of the proprioceptive dataset: augment → inverse kinematics → muscles → spindles.

Modules: :mod:`~deepdraw.generation.draw` (candidate movements), :mod:`~deepdraw.generation.checks`
(rejection tests), :mod:`~deepdraw.generation.shard` (the loop of one shard, visited postures),
:mod:`~deepdraw.generation.assembly` (noise, window, spindle channels),
:mod:`~deepdraw.generation.store` (shard stores), :mod:`~deepdraw.generation.cli`
(``python -m deepdraw.generation``); their public names are importable from here.

A shard is identified by ``(plane, shard)``; its random stream derives from the master seed
and that identity only (:func:`deepdraw.io.rng_for`), so a shard's bytes do not depend on
``--cores``, the scheduler or which shards ran before it.

Every candidate sample goes through the same rejection tests, vectorised over all pending
candidates of the shard: the movement must fit in the window, the inverse kinematics must
trace it (summed hand error) with small joint jerk, and every muscle length must be valid
(finite, in range, no frame-to-frame jumps, inside the surrogate's validated domain). The
tests run every :data:`CHECK_EVERY` IK steps (:class:`CandidateChecks`), so a failing
candidate is stopped there instead of being solved to its end. A rejected candidate keeps its
source character and draws new latents and a new start point. Every candidate tried is logged
in the shard's ``candidates`` group (:func:`candidate_table`, :func:`read_candidates`), the
input of the rejection-bias report (:mod:`deepdraw.bias`).
"""

from deepdraw.generation.assembly import ASSEMBLY_CHUNK, assemble
from deepdraw.generation.checks import CHECK_EVERY, CandidateChecks, kinematic_rejections
from deepdraw.generation.cli import keep_freed_memory, main
from deepdraw.generation.draw import (candidate_movements, draw_candidates, pad_trajectories,
                                      source_characters)
from deepdraw.generation.shard import candidate_table, generate_shard, sample_postures
from deepdraw.generation.store import CANDIDATES_GROUP, read_candidates, write_shard

__all__ = ["ASSEMBLY_CHUNK", "CANDIDATES_GROUP", "CHECK_EVERY", "CandidateChecks", "assemble",
           "candidate_movements", "candidate_table", "draw_candidates", "generate_shard",
           "keep_freed_memory", "kinematic_rejections", "main", "pad_trajectories",
           "read_candidates", "sample_postures", "source_characters", "write_shard"]
