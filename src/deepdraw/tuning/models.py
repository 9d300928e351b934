"""Registry of encoding (tuning) models: name -> regressors from the rows, directional, row filter.

An encoding model says how a unit's activation is predicted from the hand kinematics of one
row (one sample at one layer time step). Each entry of :data:`REGISTRY` is a
:class:`TuningModel`: the names of its regressors, a function building them from the
:class:`Rows` (an intercept is always added), whether its first two regressors define a
preferred direction, and the rows where it is defined (e.g. no movement direction while the
hand is still). :data:`MODE_MODELS` lists the models each analysis mode fits.

===========================  ================================================  ============
model                        regressors (plus an intercept)                    rows
===========================  ================================================  ============
``direction``                cos(theta), sin(theta) of the velocity            speed > 0
``speed``                    |v|                                               all
``velocity``                 |v| cos(theta), |v| sin(theta)  (= vx, vy)        |v| > 0
``position_cartesian``       x, y                                              all
``position_polar``           rho cos(psi), rho sin(psi): hand relative to the  rho > 0
                             movement's first point
``acceleration``             |a|                                               all
``label``                    one-hot character label (first class dropped);    all
                             scored by one-vs-rest linear SVMs in mode study
``position_polar_shoulder``  r, cos(phi), sin(phi) about the shoulder          all
``acceleration_xy``          ax, ay                                            all
===========================  ================================================  ============

"speed > 0" is ``speed > rows.min_speed``: 0 (exactly still) in mode ``study``, the config's
``min_speed`` in mode ``ours``; "|v| > 0" drops only exactly still rows, where the study's
angle of the velocity is undefined. Register a new model with
:func:`register`; it is then available to ``analysis.encoding_models``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class Rows(dict):
    """Kinematics of the regression rows: ``{feature: (rows,) array}`` plus row-independent settings.

    Keys (all ``(rows,)``): ``x, y`` in-plane hand position (cm, shoulder origin), ``r, phi``
    its polar form, ``rel_r, rel_phi`` polar position relative to the movement's first point
    (cm, rad), ``vx, vy`` (cm/s), ``speed`` (cm/s), ``direction`` (rad), ``ax, ay`` (cm/s^2),
    ``acceleration`` (|a|, cm/s^2), ``sample`` (row of the activation store), ``label``,
    ``plane`` (0 horizontal, 1 vertical), ``step`` (layer time step).

    Attributes
    ----------
    n_classes : number of character classes (for the one-hot label design)
    min_speed : speed (cm/s) at or below which a row has no movement direction
    """

    def __init__(self, data=(), n_classes: int = 20, min_speed: float = 0.0):
        super().__init__(data)
        self.n_classes = int(n_classes)
        self.min_speed = float(min_speed)

    def subset(self, mask: np.ndarray) -> "Rows":
        """The rows where ``mask`` (rows,) is True, same settings."""
        return Rows({k: np.asarray(v)[mask] for k, v in self.items()}, self.n_classes, self.min_speed)


def _all_rows(rows: Rows) -> np.ndarray:
    return np.ones(len(rows["sample"]), bool)


def moving(rows: Rows) -> np.ndarray:
    """Rows where the hand moves (a movement direction exists): ``speed > rows.min_speed``."""
    return rows["speed"] > rows.min_speed


def nonzero_velocity(rows: Rows) -> np.ndarray:
    """Rows where the velocity is not exactly zero (its angle exists)."""
    return rows["speed"] > 0


def displaced(rows: Rows) -> np.ndarray:
    """Rows where the hand is away from the movement's first point (its polar angle exists)."""
    return rows["rel_r"] > 0


@dataclass(frozen=True)
class TuningModel:
    """One encoding model.

    Parameters
    ----------
    name : key in the registry and value of the tables' ``encoding_model`` column
    regressors : names of the regressor columns (without the intercept)
    columns : ``f(rows) -> list of (rows,) arrays``, one per regressor
    directional : the first two regressors (a, b) define a preferred direction atan2(b, a)
    row_filter : ``f(rows) -> (rows,) bool``, rows where the model is defined
    classification : scored by one-vs-rest classification of the rows' labels (mode study)
    description : one line for the docs and the report
    """

    name: str
    regressors: tuple[str, ...]
    columns: Callable[[Rows], list]
    directional: bool = False
    row_filter: Callable[[Rows], np.ndarray] = field(default=_all_rows)
    classification: bool = False
    description: str = ""

    def names(self, rows_or_classes) -> list[str]:
        """Column names of :meth:`design` (``const`` first)."""
        if self.name == "label":
            n_classes = getattr(rows_or_classes, "n_classes", rows_or_classes)
            return ["const"] + [f"label_{k}" for k in range(1, int(n_classes))]
        return ["const", *self.regressors]

    def design(self, rows: Rows) -> np.ndarray:
        """Design matrix ``(rows, 1 + regressors)`` with a leading intercept column."""
        n = len(rows["sample"])
        cols = [np.asarray(c, dtype=float) for c in self.columns(rows)]
        return np.column_stack([np.ones(n)] + cols)


#: name -> TuningModel
REGISTRY: dict[str, TuningModel] = {}


def register(model: TuningModel, replace: bool = False) -> TuningModel:
    """Add ``model`` to :data:`REGISTRY` (refuses to overwrite a name unless ``replace``)."""
    if model.name in REGISTRY and not replace:
        raise ValueError(f"tuning model {model.name!r} is already registered")
    REGISTRY[model.name] = model
    return model


def get(name: str) -> TuningModel:
    """The registered model ``name``; a clear error lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown encoding model {name!r}; registered: {', '.join(REGISTRY)} "
                         "(add one with deepdraw.tuning.models.register)") from None


def _onehot(rows: Rows) -> list:
    labels = np.asarray(rows["label"])
    return list((labels[:, None] == np.arange(1, rows.n_classes)[None, :]).T.astype(float))


for _model in (
    TuningModel("direction", ("cos_theta", "sin_theta"),
                lambda r: [np.cos(r["direction"]), np.sin(r["direction"])], True, moving,
                description="movement direction: cos and sin of the velocity's angle"),
    TuningModel("speed", ("speed",), lambda r: [r["speed"]],
                description="hand speed |v|"),
    TuningModel("velocity", ("vx", "vy"), lambda r: [r["vx"], r["vy"]], True, nonzero_velocity,
                description="velocity |v| cos(theta), |v| sin(theta)"),
    TuningModel("position_cartesian", ("x", "y"), lambda r: [r["x"], r["y"]],
                description="in-plane hand position x, y"),
    TuningModel("position_polar", ("rho_cos_psi", "rho_sin_psi"),
                lambda r: [r["rel_r"] * np.cos(r["rel_phi"]), r["rel_r"] * np.sin(r["rel_phi"])],
                True, displaced,
                description="polar position relative to the movement's first point, rho cos(psi), rho sin(psi)"),
    TuningModel("acceleration", ("acceleration",), lambda r: [r["acceleration"]],
                description="magnitude of the hand acceleration |a|"),
    TuningModel("label", (), _onehot, classification=True,
                description="character label (one-vs-rest classification score)"),
    TuningModel("position_polar_shoulder", ("r", "cos_phi", "sin_phi"),
                lambda r: [r["r"], np.cos(r["phi"]), np.sin(r["phi"])],
                description="polar position about the shoulder r, cos(phi), sin(phi)"),
    TuningModel("acceleration_xy", ("ax", "ay"), lambda r: [r["ax"], r["ay"]], True,
                description="acceleration vector ax, ay"),
):
    register(_model)

#: Encoding models fitted by each analysis mode, in the order of the figures.
MODE_MODELS = {
    "study": ("direction", "speed", "velocity", "position_cartesian", "position_polar",
              "acceleration", "label"),
    "ours": ("direction", "speed", "velocity", "position_cartesian", "position_polar_shoulder",
             "acceleration_xy", "label"),
}
#: Every model the figures know, study models first.
ENCODING_MODELS = MODE_MODELS["study"] + ("position_polar_shoulder", "acceleration_xy")


def directional_models() -> tuple[str, ...]:
    """Names of the registered models with a preferred direction."""
    return tuple(name for name, model in REGISTRY.items() if model.directional)


def models_for(settings: dict) -> list[TuningModel]:
    """The models to fit: ``settings['encoding_models']`` if given, else those of the mode."""
    names = settings["encoding_models"] or MODE_MODELS[settings["mode"]]
    return [get(name) for name in names]
