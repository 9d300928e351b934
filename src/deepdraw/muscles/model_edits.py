"""Derive a continuous MoBL-ARMS model from the original by named wrap-object edits.

OpenSim's path wrapping makes some MoBL-ARMS muscle lengths jump between consecutive frames
of a smooth movement (``docs/muscles.md``): a humeral cylinder whose allowed quadrant excludes
the muscles' own insertions (TMAJ, LAT1-3), a sphere with a constrained quadrant (LAT1-2),
a thin humeral cylinder that makes TMIN's multi-object path zig-zag, and an ellipsoid whose
"wrong-way wrap" test flips BIClong onto a far-side path. Each edit below keeps the wrapping
surface (or its minor axes) and changes only what causes the switch. Edits are applied to the
XML text, so the derived file is a deterministic function of the original and the edit list.

Edit kinds (:data:`EDIT_KINDS`), each a function ``(wrap_element, **params)``:

* ``rotate``: turn the object about one of its own axes by ``degrees`` (a cylinder turned
  about its long axis, or a sphere, keeps its surface; only the quadrant turns with it);
* ``deactivate``: the object no longer takes part in any path;
* ``set_quadrant``: let the object act on another half-space (or ``all``);
* ``ellipsoid_to_sphere``: replace an ellipsoid by a sphere of ``radius_mm``, same centre,
  orientation, quadrant and name (so the paths that use it follow).

Path edits (:data:`PATH_EDIT_KINDS`) change how one muscle's path uses an object, not the
object, so the other muscles that wrap it are untouched; each is a function
``(path_wrap_set, wrap_name, **params)`` and the edit names the ``muscle``:

* ``set_wrap_method``: the ellipsoid algorithm (``hybrid``, ``midpoint`` or ``axial``);
* ``move_wrap``: apply the object at another ``position`` (0-based) in the muscle's wrap order.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from deepdraw.io import atomic_path


class ModelEditError(ValueError):
    """An edit names a wrap object, kind or parameter the model or the registry lacks."""


def _vector(element: ET.Element, tag: str) -> np.ndarray:
    return np.array([float(v) for v in element.find(tag).text.split()])


def _set_vector(element: ET.Element, tag: str, values) -> None:
    element.find(tag).text = " " + " ".join(f"{v:.10g}" for v in values)


def rotate(wrap: ET.Element, axis: str, degrees: float) -> None:
    """Rotate ``wrap`` by ``degrees`` about its own ``axis`` ("x", "y" or "z").

    OpenSim stores the orientation as body-fixed X-Y-Z angles (radians); the new orientation
    is ``R @ R_axis(degrees)``, so the object turns about its own axis, not the body's.
    """
    from scipy.spatial.transform import Rotation

    if axis not in ("x", "y", "z"):
        raise ModelEditError(f"rotate: axis must be x, y or z, got {axis!r}")
    current = Rotation.from_euler("XYZ", _vector(wrap, "xyz_body_rotation"))
    turned = current * Rotation.from_euler(axis.upper(), float(degrees), degrees=True)
    angles = turned.as_euler("XYZ")
    _set_vector(wrap, "xyz_body_rotation", angles)
    display = wrap.find("VisibleObject/transform")
    if display is not None:  # the display transform repeats the orientation
        values = [float(v) for v in display.text.split()]
        display.text = " " + " ".join(f"{v:.10g}" for v in list(angles) + values[3:])


def deactivate(wrap: ET.Element) -> None:
    """Take ``wrap`` out of every path that lists it."""
    wrap.find("active").text = "false"


def set_quadrant(wrap: ET.Element, quadrant: str) -> None:
    """Let ``wrap`` act on ``quadrant`` ("all", "x", "-x", "y", "-y", "z" or "-z")."""
    if quadrant not in ("all", "x", "-x", "y", "-y", "z", "-z"):
        raise ModelEditError(f"set_quadrant: unknown quadrant {quadrant!r}")
    wrap.find("quadrant").text = quadrant


def ellipsoid_to_sphere(wrap: ET.Element, radius_mm: float) -> None:
    """Replace the ellipsoid ``wrap`` by a sphere of ``radius_mm`` with the same frame."""
    if wrap.tag != "WrapEllipsoid":
        raise ModelEditError(f"ellipsoid_to_sphere: {wrap.get('name')} is a {wrap.tag}")
    if not radius_mm > 0:
        raise ModelEditError(f"ellipsoid_to_sphere: radius_mm must be > 0, got {radius_mm}")
    wrap.tag = "WrapSphere"
    dimensions = wrap.find("dimensions")
    dimensions.tag = "radius"
    dimensions.text = f"{radius_mm / 1000.0:.10g}"


EDIT_KINDS = {"rotate": rotate, "deactivate": deactivate, "set_quadrant": set_quadrant,
              "ellipsoid_to_sphere": ellipsoid_to_sphere}


def _path_wrap(wrap_set: ET.Element, wrap_name: str) -> ET.Element:
    for path_wrap in wrap_set:
        if path_wrap.findtext("wrap_object", "").strip() == wrap_name:
            return path_wrap
    listed = [w.findtext("wrap_object", "").strip() for w in wrap_set]
    raise ModelEditError(f"the muscle does not wrap {wrap_name!r} (it wraps {', '.join(listed)})")


def set_wrap_method(wrap_set: ET.Element, wrap_name: str, method: str) -> None:
    """Use ``method`` ("hybrid", "midpoint" or "axial") for the muscle's wrap on ``wrap_name``."""
    if method not in ("hybrid", "midpoint", "axial"):
        raise ModelEditError(f"set_wrap_method: unknown method {method!r}")
    _path_wrap(wrap_set, wrap_name).find("method").text = method


def move_wrap(wrap_set: ET.Element, wrap_name: str, position: int) -> None:
    """Apply ``wrap_name`` at ``position`` (0-based) of the muscle's wrap order."""
    path_wrap = _path_wrap(wrap_set, wrap_name)
    if not 0 <= int(position) < len(wrap_set):
        raise ModelEditError(f"move_wrap: position {position} outside 0..{len(wrap_set) - 1}")
    wrap_set.remove(path_wrap)
    wrap_set.insert(int(position), path_wrap)


PATH_EDIT_KINDS = {"set_wrap_method": set_wrap_method, "move_wrap": move_wrap}


def _wrap_sets(root: ET.Element) -> dict[str, ET.Element]:
    """Muscle name -> the list element of its path's wraps (PathWrapSet/objects)."""
    return {muscle.get("name"): muscle.find("GeometryPath/PathWrapSet/objects")
            for muscle in root.iter() if muscle.find("GeometryPath/PathWrapSet/objects") is not None}


def _wrap_objects(root: ET.Element) -> dict[str, tuple[str, ET.Element]]:
    """Wrap objects by name -> (body name, element)."""
    found = {}
    for body in root.iter("Body"):
        wrap_set = body.find("WrapObjectSet/objects")
        if wrap_set is None:
            continue
        for wrap in wrap_set:
            if isinstance(wrap.tag, str) and wrap.tag.startswith("Wrap"):
                found[wrap.get("name")] = (body.get("name"), wrap)
    return found


def apply_edits(xml_text: str, edits: list[dict]) -> str:
    """The model XML with ``edits`` applied, in order.

    Parameters
    ----------
    xml_text : str
        An OpenSim ``.osim`` document.
    edits : list of dict
        Each ``{"name", "kind", "object", "reason", **params}``; ``kind`` from
        :data:`EDIT_KINDS` or :data:`PATH_EDIT_KINDS` (these also name the ``muscle``),
        ``object`` a wrap object's name, the params those of the kind.

    Raises
    ------
    ModelEditError
        Unknown kind or wrap object, or wrong parameters (the edit's name is in the message).
    """
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(xml_text, parser=parser)
    wraps, wrap_sets = _wrap_objects(root), _wrap_sets(root)
    for edit in edits:
        name = edit.get("name", "?")
        kind = edit.get("kind")
        if kind not in EDIT_KINDS and kind not in PATH_EDIT_KINDS:
            raise ModelEditError(f"model edit {name!r}: unknown kind {kind!r}; "
                                 f"known kinds: {', '.join([*EDIT_KINDS, *PATH_EDIT_KINDS])}")
        if edit.get("object") not in wraps:
            raise ModelEditError(f"model edit {name!r}: the model has no wrap object "
                                 f"{edit.get('object')!r}")
        params = {k: v for k, v in edit.items() if k not in ("name", "kind", "object", "reason", "muscle")}
        try:
            if kind in PATH_EDIT_KINDS:
                if edit.get("muscle") not in wrap_sets:
                    raise ModelEditError(f"no muscle {edit.get('muscle')!r} with wrapping in the model "
                                         "(a path edit names its muscle)")
                PATH_EDIT_KINDS[kind](wrap_sets[edit["muscle"]], edit["object"], **params)
            else:
                EDIT_KINDS[kind](wraps[edit["object"]][1], **params)
        except (TypeError, ModelEditError) as exc:
            raise ModelEditError(f"model edit {name!r} ({kind}): {exc}") from exc
    ET.indent(root, space="\t")
    return '<?xml version="1.0" encoding="UTF-8" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def derive_model(original, edits: list[dict], output, provenance) -> None:
    """Write the edited model to ``output`` and a JSON provenance note to ``provenance``.

    The note lists the original's sha256, every edit with its reason and the result's sha256.
    """
    original = Path(original)
    if not original.is_file():
        raise FileNotFoundError(f"OpenSim model not found: {original} (muscles.original_model)")
    text = apply_edits(original.read_text(encoding="utf-8"), edits)
    with atomic_path(output) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    note = {"derived_from": original.name, "derived_from_sha256": sha256_of(original),
            "edits": edits, "sha256": sha256_of(output),
            "note": "wrap-object edits that remove OpenSim path-wrapping switches; "
                    "see docs/muscles.md"}
    with atomic_path(provenance) as tmp:
        Path(tmp).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")


def model_and_surrogate(muscles_config: dict, root, folder) -> tuple[Path, Path]:
    """The OpenSim model and shipped surrogate that a resolved ``muscles`` config selects.

    Outside the workflow (tests, benchmarks): the corrected model is derived into ``folder``
    exactly as rule ``derive_muscle_model`` does; paths in the config are relative to ``root``.
    """
    root, folder = Path(root), Path(folder)
    original = root / muscles_config["original_model"]
    surrogate = root / f"resources/muscle_surrogate_{muscles_config['model']}.npz"
    if muscles_config["model"] == "original":
        return original, surrogate
    model = folder / "model_corrected.osim"
    derive_model(original, muscles_config["edits"], model, folder / "model_corrected.json")
    return model, surrogate
