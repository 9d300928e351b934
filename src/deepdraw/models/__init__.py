"""Task-driven network models of the proprioceptive pathway (Keras 3).

A network is one entry of each of two registries:

:data:`FAMILIES` (name -> :class:`Family`)
    how the hidden blocks of an architecture (one entry of ``training.architectures``) are laid
    out, which keys the entry needs, how the study's search space draws one, and the study's
    learning rate and batch size for the family;
:data:`TASKS` (name -> :class:`Task`)
    what the network outputs: the read-out layers, outputs per time step, loss, Keras metrics,
    how the targets are computed from ``dataset.zarr`` and how the test split is scored.

Adding a family or a task is one :func:`register_family` / :func:`register_task` call
(docs/architecture.md, "How to add a network family" and "How to add a task").

Families
--------
``spatial_temporal``
    ``n`` convolutions over the muscle axis (kernel ``(k_s, 1)``, stride ``(s_s, 1)``), then
    ``m`` convolutions over time (kernel ``(1, k_t)``, stride ``(1, s_t)``)::

        {"name": "st", "family": "spatial_temporal", "spatial_filters": [8, 16],
         "spatial_kernel": 7, "spatial_stride": 2, "temporal_filters": [16, 32],
         "temporal_kernel": 9, "temporal_stride": 3}

``spatiotemporal``
    ``n`` joint convolutions (kernel ``(k, k)``, stride ``(s, s)``)::

        {"name": "sto", "family": "spatiotemporal", "filters": [8, 16], "kernel": 7, "stride": 2}

``recurrent``
    spatial convolutions as above, then LSTM layer(s) over the 320 time steps::

        {"name": "lstm", "family": "recurrent", "spatial_filters": [8], "spatial_kernel": 5,
         "spatial_stride": 2, "lstm_units": [64]}

Every convolution is followed by layer normalisation (``GroupNormalization(groups=1)``: statistics
over space, time and channels per sample, one scale and offset per channel, as
``tf.contrib.layers.layer_norm`` in the original code) and a ReLU.

Stable layer names (the tuning and similarity analyses rely on them): blocks ``spatial1..n``,
``temporal1..n``, ``spatiotemporal1..n``, ``recurrent1..n``; inside a block the convolution is
``<block>_conv`` and the normalisation ``<block>_norm``; the block output (after the ReLU, or the
LSTM output sequence) is the layer named ``<block>`` itself. The input layer is ``spindles``, the
input normalisation ``input_normalization`` and the linear read-out ``readout``.

Tasks
-----
``recognition``
    20-way softmax over characters, cross-entropy, accuracy.
``position``, ``position_velocity``
    hand position x, y, z (cm) [and velocity, cm/s] at each of the 320 input steps. A linear
    read-out per output time step (after dropout) predicts standardised targets for the
    ``time_stride`` input steps that step covers; a final inverted normalisation returns
    physical units; loss: mean squared error with each output divided by its training std.
``position_study``
    the study's trajectory decoder: a linear read-out of 3 hand coordinates (cm) at each output
    time step of the last block, without dropout or target standardisation; loss: mean
    squared error (cm^2) against the hand position sampled at those steps (every
    ``320 // (n_out - 1)``-th input step from step 0, :func:`study_output_steps`); score: the
    mean Euclidean distance (cm) over samples and output steps.

Modules
-------
``families``
    :class:`Family`, :data:`FAMILIES`, :func:`register_family`, the three families, the study's
    search space (:data:`SEARCH_SPACE`), :func:`block_pattern`.
``planning``
    :class:`Planner`, :func:`layer_plan`, :func:`n_layers`, :func:`sample_architectures`.
``losses``
    Keras losses and metrics (:class:`StandardizedMSE`, :class:`StudyMSE`,
    ``position_error_cm``, ``study_position_error_cm``), :func:`study_output_steps`,
    :func:`study_position_error`.
``tasks``
    :class:`Task`, :data:`TASKS`, :func:`register_task`, :func:`get_task`, the four tasks.
``build``
    :func:`build_model`, :data:`BLOCK_LAYERS`, :func:`compile_model`, :func:`hidden_layers`.
``cli``
    ``python -m deepdraw.models`` (:func:`main`).
"""

from deepdraw.models.families import (FAMILIES, SEARCH_SPACE, Family, block_pattern,
                                      register_family)
from deepdraw.models.planning import Planner, layer_plan, n_layers, sample_architectures
from deepdraw.models.losses import (StandardizedMSE, StudyMSE, position_error_cm,
                                    study_output_steps, study_position_error,
                                    study_position_error_cm)
from deepdraw.models.tasks import TASKS, Task, get_task, register_task, task_outputs
from deepdraw.models.build import BLOCK_LAYERS, build_model, compile_model, hidden_layers
from deepdraw.models.cli import main

__all__ = [
    "BLOCK_LAYERS", "FAMILIES", "Family", "Planner", "SEARCH_SPACE", "StandardizedMSE",
    "StudyMSE", "TASKS", "Task", "block_pattern", "build_model", "compile_model", "get_task",
    "hidden_layers", "layer_plan", "main", "n_layers", "position_error_cm", "register_family",
    "register_task", "sample_architectures", "study_output_steps", "study_position_error",
    "study_position_error_cm", "task_outputs",
]
