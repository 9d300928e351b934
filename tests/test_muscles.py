"""Muscle lengths: the derived continuous model, OpenSim backend, validity rules, the surrogate."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepdraw import muscles
from deepdraw.muscles import (MUSCLE_JOINTS, MUSCLE_NAMES, MuscleSurrogate, muscle_lengths,
                              opensim_fiber_lengths, opensim_lengths, valid_trajectories)
from deepdraw.muscles.model_edits import ModelEditError, apply_edits, derive_model, sha256_of
from deepdraw.muscles.surrogate import CubicGrid
from deepdraw.muscles.validation import compare_models, step_anomalies

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL = ROOT / "resources/MoBL_ARMS_module5_scaleIK.osim"
SCHEMA = yaml.safe_load((ROOT / "schemas/config.schema.yaml").read_text())
MUSCLE_SCHEMA = SCHEMA["properties"]["muscles"]["properties"]
EDITS = MUSCLE_SCHEMA["edits"]["default"]
FIT = {k: v["default"] for k, v in MUSCLE_SCHEMA["fit"]["properties"].items()}
SHIPPED = ROOT / "resources/muscle_surrogate_corrected.npz"


@pytest.fixture(scope="module")
def corrected(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    derive_model(ORIGINAL, EDITS, folder / "model.osim", folder / "model.json")
    return folder / "model.osim"


@pytest.fixture(scope="module")
def shipped():
    return MuscleSurrogate.load(SHIPPED)


@pytest.fixture(scope="module")
def held_out_movements(corrected):
    """Two short candidate movements (before any muscle-based rejection), OpenSim on each frame."""
    from deepdraw import augmentation, generation
    from deepdraw.characters import StoredCharacters, preprocess, read_characters

    charset = read_characters(ROOT / "tests/data/uci_characters_subset100.csv")
    n = len(charset.labels)
    table = StoredCharacters(preprocess(charset.velocities), np.asarray(charset.labels),
                             np.arange(n), np.zeros(n, np.int8), charset.letters, {})
    settings = {"planes": ["horizontal", "vertical"], "window_steps": 320, "max_attempts": 30,
                "max_tracing_error_cm": 0.01, "max_joint_jerk": 1.0}
    points = {p: augmentation.load_start_points(ROOT / "resources/pcr_startingpoints.hdf5", p)
              for p in settings["planes"]}
    q, trajectory = generation.sample_postures(table, points, 1, settings, seed=11, key="test")
    keep = np.concatenate([np.flatnonzero(trajectory == t)[:50] for t in np.unique(trajectory)])
    return q[keep], trajectory[keep], opensim_fiber_lengths(q[keep], corrected)


def test_muscle_names_and_order():
    assert len(MUSCLE_NAMES) == 25 and len(set(MUSCLE_NAMES)) == 25
    assert MUSCLE_NAMES[:3] == ("CORB", "DELT1", "DELT2") and MUSCLE_NAMES[-1] == "TRImed"


def test_opensim_gives_plausible_lengths_in_name_order(corrected):
    q = np.array([[20.0, 50.0, -30.0, 40.0], [20.0, 50.0, -30.0, 110.0], [0.0, 80.0, 0.0, 90.0]])
    lengths = opensim_fiber_lengths(q, corrected)
    assert lengths.shape == (3, 25)
    assert np.all(np.isfinite(lengths)) and np.all((lengths > 5) & (lengths < 400))
    flexion = lengths[1] - lengths[0]  # elbow 40 -> 110 deg
    index = {name: i for i, name in enumerate(MUSCLE_NAMES)}
    for flexor in ("BIClong", "BICshort", "BRA", "BRD"):
        assert flexion[index[flexor]] < -5
    for extensor in ("TRIlong", "TRIlat", "TRImed", "ANC"):
        assert flexion[index[extensor]] > 3
    for shoulder_only in ("DELT1", "LAT1", "PECM1", "SUPSP"):
        assert flexion[index[shoulder_only]] == pytest.approx(0.0, abs=1e-6)
    again = muscle_lengths(q.reshape(3, 1, 4), backend="opensim", model_path=corrected)
    np.testing.assert_allclose(again[:, 0], lengths)


def test_muscle_joints_and_additivity_match_opensim(corrected):
    """Which joints each muscle crosses, and f(shoulder) + g(elbow) for the biarticular ones."""
    q0 = np.array([15.0, 45.0, -40.0, 70.0])
    q = np.vstack([q0] + [q0 + 12.0 * np.eye(4)[k] for k in range(4)])
    lengths = opensim_lengths(q, corrected, "mtu")
    np.testing.assert_array_equal(np.abs(lengths[1:] - lengths[0]).T > 1e-6, MUSCLE_JOINTS)
    shoulders = np.array([[15.0, 45.0, -40.0], [60.0, 80.0, 0.0]])
    elbows = np.array([30.0, 110.0])
    grid = np.array([[*s, e] for s in shoulders for e in elbows])
    mtu = opensim_lengths(grid, corrected, "mtu").reshape(2, 2, 25)
    interaction = mtu[0, 0] + mtu[1, 1] - mtu[0, 1] - mtu[1, 0]
    np.testing.assert_allclose(interaction, 0.0, atol=1e-6)


def test_unloadable_model_names_the_file(tmp_path):
    broken = tmp_path / "broken.osim"
    broken.write_text("<OpenSimDocument><Model name='x'><not-closed></OpenSimDocument>")
    with pytest.raises(muscles.OpenSimModelError, match="broken.osim"):
        opensim_fiber_lengths(np.zeros((1, 4)), broken)
    with pytest.raises(muscles.OpenSimModelError, match="missing.osim"):
        opensim_fiber_lengths(np.zeros((1, 4)), tmp_path / "missing.osim")


def path_wraps(path):
    """{(muscle, wrap object): (method, range)} of every muscle path's wraps."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    return {(muscle.get("name"), wrap.findtext("wrap_object").strip()):
            (wrap.findtext("method").strip(), wrap.findtext("range").strip())
            for muscle in root.iter() if muscle.find("GeometryPath/PathWrapSet/objects") is not None
            for wrap in muscle.find("GeometryPath/PathWrapSet/objects")}


def test_derived_model_applies_each_named_edit(corrected, tmp_path):
    import xml.etree.ElementTree as ET
    from scipy.spatial.transform import Rotation

    def wraps(path):
        root = ET.parse(path).getroot()
        return {w.get("name"): w for w in root.iter() if isinstance(w.tag, str)
                and w.tag.startswith("Wrap") and w.get("name")}

    before, after = wraps(ORIGINAL), wraps(corrected)
    assert after["TMINhum"].find("active").text == "false"
    assert after["BIClong"].tag == "WrapSphere" and float(after["BIClong"].find("radius").text) == 0.02
    for name, axis in (("TMAJ_LAThum", "Z"), ("LAT_TMAJ2hh", "Y")):
        r0 = Rotation.from_euler("XYZ", [float(v) for v in before[name].find("xyz_body_rotation").text.split()])
        r1 = Rotation.from_euler("XYZ", [float(v) for v in after[name].find("xyz_body_rotation").text.split()])
        turn = (r0.inv() * r1).as_rotvec(degrees=True)  # about the object's own axes
        np.testing.assert_allclose(turn, 30.0 * (np.array(list("XYZ")) == axis), atol=1e-6)
        assert after[name].find("translation").text == before[name].find("translation").text
    assert after["PEC12hum"].find("quadrant").text == "all"
    assert after["DELT1hh"].find("quadrant").text == "all"
    assert after["INFSP_and_TMIN_hum_head"].tag == "WrapSphere"
    assert after["TRIlongglen"].find("active").text == "false"
    methods = {(e["muscle"], e["object"]): e["method"] for e in EDITS if e["kind"] == "set_wrap_method"}
    assert methods == {("DELT1", "DELT1hh"): "midpoint", ("DELT3", "delt3hum"): "axial"}
    original_paths, derived_paths = path_wraps(ORIGINAL), path_wraps(corrected)
    assert original_paths.keys() == derived_paths.keys()
    for key, (method, range_) in derived_paths.items():
        assert (method, range_) == (methods.get(key, original_paths[key][0]), original_paths[key][1]), key

    def order(paths, muscle):  # the dicts keep the XML order
        return [w for m, w in paths if m == muscle]

    assert order(derived_paths, "DELT3") == ["Delt3", "DELT_TMAJ_LAT_PEC_CORBhh", "delt3hum"]
    assert order(original_paths, "DELT3") == ["Delt3", "delt3hum", "DELT_TMAJ_LAT_PEC_CORBhh"]
    for muscle in {m for m, _ in original_paths} - {"DELT3"}:
        assert order(derived_paths, muscle) == order(original_paths, muscle), muscle
    untouched = set(before) - {edit["object"] for edit in EDITS}
    assert len(untouched) > 50
    for name in untouched:
        assert ET.tostring(after[name]) == ET.tostring(before[name]), name
    note = json.loads((corrected.parent / "model.json").read_text())
    assert note["sha256"] == sha256_of(corrected) and [e["name"] for e in note["edits"]] == [
        e["name"] for e in EDITS]
    assert all(e["reason"] for e in note["edits"])
    # deterministic: the same edits give the same bytes
    derive_model(ORIGINAL, EDITS, tmp_path / "again.osim", tmp_path / "again.json")
    assert sha256_of(tmp_path / "again.osim") == sha256_of(corrected)


def test_bad_edits_are_refused_with_the_edit_named():
    text = ORIGINAL.read_text()
    with pytest.raises(ModelEditError, match="'x'.*no wrap object 'NOPE'"):
        apply_edits(text, [{"name": "x", "kind": "deactivate", "object": "NOPE", "reason": "r"}])
    with pytest.raises(ModelEditError, match="unknown kind 'melt'"):
        apply_edits(text, [{"name": "y", "kind": "melt", "object": "TMINhum", "reason": "r"}])
    with pytest.raises(ModelEditError, match="'m'.*does not wrap 'TMINhum'"):
        apply_edits(text, [{"name": "m", "kind": "set_wrap_method", "muscle": "DELT1",
                            "object": "TMINhum", "method": "axial", "reason": "r"}])
    with pytest.raises(ModelEditError, match="'n'.*no muscle 'NOBODY'"):
        apply_edits(text, [{"name": "n", "kind": "move_wrap", "muscle": "NOBODY",
                            "object": "DELT1hh", "position": 0, "reason": "r"}])
    with pytest.raises(ModelEditError, match="'o'.*position 5 outside 0..1"):
        apply_edits(text, [{"name": "o", "kind": "move_wrap", "muscle": "DELT1",
                            "object": "DELT1hh", "position": 5, "reason": "r"}])
    with pytest.raises(ModelEditError, match="'z'.*TMINhum is a WrapCylinder"):
        apply_edits(text, [{"name": "z", "kind": "ellipsoid_to_sphere", "object": "TMINhum",
                            "radius_mm": 5, "reason": "r"}])


@pytest.mark.parametrize("muscle, elv, fixed, original_step, plausible", [
    # BIClong's far-side island: the original jumps by ~100 mm within 1 deg of elv_angle
    ("BIClong", (31.5, 34.5), (82.82, -42.10, 97.35), 50, (60, 140)),
    # PECM1 leaving PEC1hh's -z quadrant: a 2.5-mm step in the original
    ("PECM1", (-26.0, -23.0), (110.17, 18.34, 94.58), 2, (140, 160)),
    # DELT3 where its humeral-ellipsoid wrap changes the segment the head sphere wraps
    ("DELT3", (91.6, 94.6), (88.8, 20.0, 62.5), 2, (150, 165)),
])
def test_a_movement_through_a_former_switch_is_continuous(corrected, muscle, elv, fixed,
                                                          original_step, plausible):
    """0.1-deg steps of elv_angle across a switch of the original: the derived model moves
    smoothly and stays in the range of its neighbours."""
    angles = np.linspace(*elv, 31)
    q = np.column_stack([angles, *(np.full(31, v) for v in fixed)])
    m = MUSCLE_NAMES.index(muscle)
    original = opensim_fiber_lengths(q, ORIGINAL)[:, m]
    derived = opensim_fiber_lengths(q, corrected)[:, m]
    assert np.nanmax(np.abs(np.diff(original))) > original_step
    assert np.max(np.abs(np.diff(derived))) < 0.5
    assert np.all((derived > plausible[0]) & (derived < plausible[1]))


def test_step_anomaly_finds_a_jump_but_not_a_fast_smooth_movement():
    t = np.arange(40)
    smooth = 100 + 4.0 * t + 0.05 * t ** 2  # fast (4-8 mm per frame) but smooth
    lengths = np.tile(smooth[:, None], (1, 25))
    lengths[20:, 3] += 6.5  # one 6.5-mm flip
    trajectory = np.zeros(40, int)
    _, anomaly = step_anomalies(lengths, trajectory)
    assert np.nanmax(anomaly[:, 0]) < 0.2 and np.nanmax(anomaly[:, 3]) > 6
    rows = compare_models(lengths, np.tile(smooth[:, None], (1, 25)), trajectory)
    assert rows[3]["movements_with_jump_original"] == 1 and rows[3]["movements_with_jump_derived"] == 0
    assert rows[3]["frames_compared"] == 0  # the original is not continuous for that muscle
    assert rows[0]["agreement_max_mm"] == 0.0 and rows[0]["frames_compared"] == 40


def test_cubic_grid_reproduces_quadratics_and_declines_outside():
    rng = np.random.default_rng(5)
    start, step = np.array([-10.0, 0.0, -50.0]), np.array([4.0, 3.0, 5.0])
    axes = [s + d * np.arange(n) for s, d, n in zip(start, step, (8, 9, 10))]
    a, b, c = np.meshgrid(*axes, indexing="ij")
    values = np.stack([1 + 2 * a + 3 * b - c + 0.01 * a * b + 0.02 * c ** 2, 50 + a * c], axis=-1)
    values[7, 8, 9, :] = np.nan  # a node that was not evaluated
    grid = CubicGrid(start, step, values)
    x = np.column_stack([rng.uniform(-6, 10, 200), rng.uniform(3, 15, 200), rng.uniform(-45, -20, 200)])
    out = grid(x)
    np.testing.assert_allclose(out[:, 0], 1 + 2 * x[:, 0] + 3 * x[:, 1] - x[:, 2]
                               + 0.01 * x[:, 0] * x[:, 1] + 0.02 * x[:, 2] ** 2, atol=1e-3)
    np.testing.assert_allclose(out[:, 1], 50 + x[:, 0] * x[:, 2], atol=1e-3)
    near_missing = grid(np.array([[16.5, 21.5, -6.0], [-9.0, 1.0, -40.0]]))
    assert np.all(np.isnan(near_missing))  # stencil touches the missing node / leaves the grid


def test_shipped_surrogate_matches_opensim_on_every_held_out_frame(shipped, corrected,
                                                                    held_out_movements):
    q, trajectory, exact = held_out_movements
    assert shipped.model_sha256 == sha256_of(corrected)
    predicted = shipped.predict(q)
    assert np.all(np.isfinite(predicted)), "held-out candidate frames outside the domain"
    error = np.abs(predicted - exact)
    held = ~np.isin(MUSCLE_NAMES, FIT["residual_muscles"])  # residuals: reported, docs/muscles.md
    assert held.sum() == 24
    assert np.sqrt(np.nanmean(error ** 2, axis=0))[held].max() <= FIT["max_rms_mm"]
    assert np.nanmax(error[:, held]) <= FIT["max_abs_mm"]


def test_surrogate_is_nan_outside_the_joint_limits(shipped, held_out_movements):
    q = np.tile(held_out_movements[0][0], (4, 1))
    q[1, 0] = 140.0  # elv_angle above its limit
    q[2, 3] = -5.0   # elbow below its limit
    q[3, 2] = np.nan
    out = shipped.predict(q)
    assert np.all(np.isfinite(out[0])) and np.all(np.isnan(out[1:]))


def test_surrogate_of_another_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="another OpenSim model.*muscles.surrogate: fit"):
        muscles.length_model("surrogate", ORIGINAL, SHIPPED)


def test_save_load_round_trip(tmp_path, shipped, held_out_movements):
    path = tmp_path / "s.npz"
    shipped.save(path)
    again = MuscleSurrogate.load(path)
    q = held_out_movements[0]
    np.testing.assert_array_equal(again.predict(q), shipped.predict(q))
    assert again.info == shipped.info
    np.testing.assert_array_equal(muscle_lengths(q, backend="surrogate", surrogate=path),
                                  shipped.predict(q))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz.*fit_muscle_surrogate"):
        MuscleSurrogate.load(tmp_path / "junk.npz")


def test_shipped_surrogate_records_its_validation(shipped):
    info = shipped.info
    assert set(info["rms_mm"]) == set(MUSCLE_NAMES)
    held = [m for m in MUSCLE_NAMES if m not in info["residual_muscles"]]
    assert info["residual_muscles"] == sorted(FIT["residual_muscles"])
    assert max(info["rms_mm"][m] for m in held) <= FIT["max_rms_mm"]
    assert max(info["max_mm"][m] for m in held) <= FIT["max_abs_mm"]  # every held-out frame
    assert info["heldout_movements"] >= 200 and info["heldout_movements_outside_domain"] <= 2


def test_valid_trajectories_flags_nan_range_and_jumps_within_duration():
    n, steps = 5, 30
    t = np.arange(steps)
    lengths = np.broadcast_to(100 + 2 * np.sin(t / 5.0), (n, 25, steps)).copy()
    durations = np.array([30, 20, 20, 20, 20])
    lengths[1, 3, 10] = np.nan
    lengths[2, 7, :] = muscles.MAX_FIBER_MM + 1
    lengths[3, 16, 12:] += 3 * muscles.MAX_JUMP_MM
    lengths[4, :, 20:] = np.nan
    lengths[4, 2, 25] = 1e4
    ok, reasons = valid_trajectories(lengths, durations)
    np.testing.assert_array_equal(ok, [True, False, False, False, True])
    np.testing.assert_array_equal(reasons["muscle_nan"], [False, True, False, False, False])
    np.testing.assert_array_equal(reasons["muscle_range"], [False, False, True, False, False])
    np.testing.assert_array_equal(reasons["muscle_jump"], [False, False, False, True, False])
    lengths = np.broadcast_to(100 + (muscles.MAX_JUMP_MM - 0.5) * t, (1, 25, steps))
    assert valid_trajectories(np.minimum(lengths, 390), [steps])[0].all()


def test_fit_cli_fails_naming_muscles_when_tolerance_is_impossible(tmp_path, corrected):
    """A coarse build on OpenSim: tolerance 1e-9 mm cannot hold; report written, no surrogate."""
    line = np.linspace(0, 1, 8)[:, None]
    q = np.concatenate([np.array([10, 40, -30, 60]) + line * np.array([10, 8, 10, 30]) + k
                        for k in range(2)])
    postures = tmp_path / "postures.npz"
    np.savez(postures, postures=q, trajectory=np.repeat(np.arange(2), 8),
             joint_names=np.array(muscles.opensim_backend.JOINT_NAMES))
    out, table, figure = tmp_path / "s.npz", tmp_path / "r.csv", tmp_path / "r.png"
    result = subprocess.run(
        [sys.executable, "-m", "deepdraw.muscles", "fit", "--visited", str(postures),
         "--heldout", str(postures), "--model", str(corrected), "--output", str(out),
         "--table", str(table), "--figure", str(figure), "--max-rms", "1e-9", "--max-abs", "1e-9",
         "--step", "10", "--reach", "20", "--seed", "0", "--processes", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert result.returncode != 0, result.stderr
    assert "surrogate not written" in result.stderr
    assert not out.exists() and figure.stat().st_size > 0
    with open(table) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["muscle"] for r in rows] == list(MUSCLE_NAMES)
    assert {"rms_mm", "max_mm", "frames_outside_domain", "frames_opensim_nan"} <= set(rows[0])



def test_move_wrap_changes_only_that_muscles_wrap_order():
    text = apply_edits(ORIGINAL.read_text(), [{"name": "m", "kind": "move_wrap", "muscle": "LAT1",
                                               "object": "LAT_TMAJhh", "position": 2, "reason": "r"}])
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text)

    def order(name):
        muscle = [m for m in root.iter() if m.get("name") == name and m.find("GeometryPath") is not None][0]
        return [w.findtext("wrap_object").strip() for w in muscle.find("GeometryPath/PathWrapSet/objects")]

    assert order("LAT1") == ["TMAJ_LAThum", "LAT_TMAJ2hh", "LAT_TMAJhh"]
    assert order("LAT2") == ["TMAJ_LAThum", "LAT_TMAJhh", "LAT_TMAJ2hh"]


def test_continue_linearly_extends_a_linear_table_exactly():
    from deepdraw.muscles.fitting import continue_linearly

    i, j, k = np.meshgrid(*[np.arange(9.0)] * 3, indexing="ij")
    truth = 3.0 + 0.5 * i - 2.0 * j + 0.25 * k
    inside = (i - 8) ** 2 + (j - 8) ** 2 + (k - 4) ** 2 < 16  # a ball cut off the corner
    continued = continue_linearly(np.where(inside, -99.0, truth), ~inside, inside, rounds=4)
    reached = inside & np.isfinite(continued)
    assert reached.sum() > 0.8 * inside.sum()
    np.testing.assert_allclose(continued[reached], truth[reached], atol=1e-9)
    np.testing.assert_array_equal(continued[~inside], truth[~inside])


def test_surrogate_puts_delt1s_step_where_opensim_has_it(shipped, corrected):
    """DELT1's acromial point enters the humeral-head ellipsoid: OpenSim drops the wrap and the
    length steps by ~11 mm. The surrogate follows OpenSim on both sides, on every frame."""
    assert shipped.switches == FIT["switches"]
    angles = np.linspace(44.0, 48.0, 41)  # elevation plane through the surface
    q = np.column_stack([angles, np.full(41, 99.4), np.full(41, -47.0), np.full(41, 99.4)])
    m = MUSCLE_NAMES.index("DELT1")
    exact = opensim_fiber_lengths(q, corrected)[:, m]
    assert np.max(np.abs(np.diff(exact))) > 5  # OpenSim's step
    depth = muscles.opensim_backend.OpenSimArm(corrected).point_depths(q, [("DELT1", "DELT1-P3", "DELT1hh")])
    step = np.argmax(np.abs(np.diff(exact)))
    assert depth[step, 0] * depth[step + 1, 0] < 0  # the step is where the point crosses the surface
    np.testing.assert_allclose(shipped.predict(q)[:, m], exact, atol=FIT["max_abs_mm"])


def test_fill_failed_nodes_uses_evaluated_neighbours_only():
    from deepdraw.muscles.fitting import fill_failed_nodes

    values = np.full((4, 4, 4, 2), np.nan)
    values[1:3, 1:3, 1:3, :] = 10.0
    values[1:3, 1:3, 1:3, 1] = np.arange(8.0).reshape(2, 2, 2)
    values[1, 1, 1, 1] = np.nan  # OpenSim failed for muscle 1 at an evaluated node
    filled, count = fill_failed_nodes(values)
    assert count == 1
    assert filled[1, 1, 1, 1] == pytest.approx(np.mean([1.0, 2.0, 4.0]))  # its 3 evaluated neighbours
    assert np.isnan(filled[0, 0, 0]).all()  # never-evaluated nodes stay NaN


def test_validate_cli_reports_the_former_switch(tmp_path, corrected):
    """The validation command on a movement through BIClong's former island: a jump in the
    original model, none in the derived one, one row per muscle."""
    elv = np.linspace(31.5, 34.5, 31)
    q = np.column_stack([elv, np.full(31, 82.82), np.full(31, -42.10), np.full(31, 97.35)])
    postures = tmp_path / "postures.npz"
    np.savez(postures, postures=q, trajectory=np.zeros(31, int),
             joint_names=np.array(muscles.opensim_backend.JOINT_NAMES))
    table, figure = tmp_path / "v.csv", tmp_path / "v.png"
    result = subprocess.run(
        [sys.executable, "-m", "deepdraw.muscles", "validate", "--postures", str(postures),
         "--original", str(ORIGINAL), "--derived", str(corrected), "--table", str(table),
         "--figure", str(figure)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    with open(table) as fh:
        rows = {r["muscle"]: r for r in csv.DictReader(fh)}
    assert list(rows) == list(MUSCLE_NAMES) and figure.stat().st_size > 0
    assert rows["BIClong"]["movements_with_jump_original"] == "1"
    assert rows["BIClong"]["movements_with_jump_derived"] == "0"
    assert float(rows["BIClong"]["max_step_original_mm"]) > 50
