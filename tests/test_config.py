"""The config schema documents every setting, and every shipped config satisfies it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepdraw import config as cfg

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["config/test.yaml", "config/medium.yaml", "config/paper.yaml"]


@pytest.fixture(scope="module")
def schema():
    return cfg.load_schema(ROOT)


def test_every_schema_property_has_a_description(schema):
    properties = list(cfg.iter_properties(schema))
    # the walk reaches nested sections, array items and $ref'd definitions
    paths = {path for path, _ in properties}
    assert {"characters.file", "muscles.fit.max_rms_mm", "training.architectures[].kernel",
            "training.seeds"} <= paths
    undocumented = [path for path, prop in properties
                    if not str(prop.get("description", "")).strip()]
    assert not undocumented, f"schema properties without a description: {undocumented}"


def test_the_walk_finds_an_undocumented_property():
    schema = {"$defs": {"n": {"type": "integer"}},
              "properties": {"a": {"description": "x", "properties": {"b": {"type": "number"}}},
                             "c": {"type": "array", "items": {"properties": {
                                 "d": {"$ref": "#/$defs/n"}}}}}}
    found = {path: prop for path, prop in cfg.iter_properties(schema)}
    assert set(found) == {"a", "a.b", "c", "c[].d"}
    assert found["c[].d"] == {"type": "integer"}


@pytest.mark.parametrize("overlay", [[]] + [[name] for name in SHIPPED])
def test_shipped_configs_are_valid_and_name_existing_files(overlay):
    config = cfg.resolve([ROOT / f for f in overlay], ROOT)
    for path in (config["characters"]["file"], config["generation"]["start_points"],
                 config["muscles"]["original_model"],
                 f"resources/muscle_surrogate_{config['muscles']['model']}.npz"):
        assert (ROOT / path).is_file(), path


def test_every_run_but_the_test_one_reads_all_2858_characters():
    for overlay in ([], ["config/medium.yaml"], ["config/paper.yaml"]):
        config = cfg.resolve([ROOT / f for f in overlay], ROOT)
        assert config["characters"]["file"] == "resources/uci_characters_full2858.mat"
    test = cfg.resolve([ROOT / "config/test.yaml"], ROOT)
    assert test["characters"]["file"] == "tests/data/uci_characters_subset100.csv"


def test_validation_fills_defaults_and_names_bad_fields():
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"section": {"type": "object", "default": {}, "properties": {
                  "n": {"type": "integer", "minimum": 1, "default": 4}}}}}
    assert cfg.validate({}, schema) == {"section": {"n": 4}}
    assert cfg.validate({"section": {"n": 2}}, schema) == {"section": {"n": 2}}
    with pytest.raises(cfg.ConfigError, match=r"(?s)my.yaml: 1 invalid.*section\.n: 0 is less"):
        cfg.validate({"section": {"n": 0}}, schema, "my.yaml")
    with pytest.raises(cfg.ConfigError, match="typo"):
        cfg.validate({"typo": 1}, schema)


def test_merge_is_recursive_for_mappings_only():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    merged = cfg.merge(base, {"a": {"y": [3]}, "c": 3})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 2, "c": 3}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}


def test_bad_yaml_and_missing_files_are_named(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("training: [unclosed\n")
    with pytest.raises(cfg.ConfigError, match="broken.yaml"):
        cfg.read_yaml(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(cfg.ConfigError, match="list.yaml.*mapping"):
        cfg.read_yaml(listing)
    with pytest.raises(FileNotFoundError, match="absent.yaml"):
        cfg.resolve([tmp_path / "absent.yaml"], ROOT)


def test_written_run_config_reproduces_the_run(tmp_path):
    config = cfg.resolve([ROOT / "config/medium.yaml"], ROOT)
    cfg.main(["--config", json.dumps(config), "--output", str(tmp_path / "config.yaml")])
    text = (tmp_path / "config.yaml").read_text()
    assert text.startswith("# The resolved configuration of this run")
    # given back as --configfile, it resolves to the same settings
    assert cfg.resolve([tmp_path / "config.yaml"], ROOT) == config


def _resolve_with(tmp_path, overlay: dict) -> dict:
    path = tmp_path / "overlay.yaml"
    path.write_text(json.dumps(overlay))  # JSON is YAML
    return cfg.resolve([path], ROOT)


@pytest.mark.parametrize("run", ["../x", "..", ".", "/tmp/x", "a/b", ""])
def test_run_names_that_would_leave_results_are_refused(tmp_path, run):
    with pytest.raises(cfg.ConfigError, match=r"run: .* does not match"):
        _resolve_with(tmp_path, {"run": run})


@pytest.mark.parametrize(("overlay", "message"), [
    ({"generation": {"samples_per_shard": -5}}, "generation.samples_per_shard: -5 is less"),
    ({"generation": {"planes": ["sagittal"]}}, "generation.planes.0: 'sagittal' is not one of"),
    ({"muscles": {"backend": "lookup"}}, "muscles.backend: 'lookup' is not one of"),
    ({"characters": {"test_fraction": 1.5}}, "characters.test_fraction: 1.5 is greater"),
    ({"training": {"sweep": {"per_family": 2}}}, "training.sweep: 'seed' is a required"),
])
def test_bad_values_are_named_with_their_field(tmp_path, overlay, message):
    with pytest.raises(cfg.ConfigError, match=message):
        _resolve_with(tmp_path, overlay)


def test_declared_input_files_are_opened_before_any_job(tmp_path):
    not_a_model = tmp_path / "model.osim"
    not_a_model.write_text("<Model/>")
    broken_points = tmp_path / "points.hdf5"
    broken_points.write_bytes(b"not hdf5")
    with pytest.raises(cfg.ConfigError) as refused:
        _resolve_with(tmp_path, {
            "characters": {"file": str(tmp_path / "absent.mat")},
            "generation": {"start_points": str(broken_points)},
            "muscles": {"original_model": str(not_a_model)}})
    message = str(refused.value)
    assert "3 unusable input file(s)" in message
    assert "characters.file: " in message and "absent.mat not found" in message
    assert "generation.start_points: " in message and "points.hdf5: not a readable HDF5" in message
    assert "muscles.original_model: " in message and "no <OpenSimDocument><Model>" in message


def test_truncated_shipped_surrogate_is_refused(tmp_path):
    root = tmp_path / "workflow"
    (root / "resources").mkdir(parents=True)
    for name in ("schemas", "config.yaml"):
        (root / name).symlink_to(ROOT / name)
    for path in (ROOT / "resources").iterdir():
        (root / "resources" / path.name).symlink_to(path)
    shipped = root / "resources/muscle_surrogate_corrected.npz"
    shipped.unlink()
    shipped.write_bytes((ROOT / "resources/muscle_surrogate_corrected.npz").read_bytes()[:5000])
    with pytest.raises(cfg.ConfigError, match=r"muscles.surrogate: .*muscle_surrogate_corrected"
                                              r"\.npz: not a muscle surrogate file"):
        cfg.resolve([], root)
    # the opensim backend does not read the surrogate
    opensim = tmp_path / "opensim.yaml"
    opensim.write_text("muscles: {backend: opensim}\n")
    assert cfg.resolve([opensim], root)["muscles"]["backend"] == "opensim"


def test_sweep_is_drawn_deterministically_after_the_listed_architectures(tmp_path):
    from deepdraw.models import layer_plan

    spec = {"training": {"sweep": {"per_family": 3, "seed": 11,
                                   "families": ["spatiotemporal", "recurrent"]}}}
    first, again = _resolve_with(tmp_path, spec), _resolve_with(tmp_path, spec)
    listed = cfg.resolve([], ROOT)["training"]["architectures"]
    archs = first["training"]["architectures"]
    assert archs == again["training"]["architectures"]
    assert archs[:len(listed)] == listed
    archs = archs[len(listed):]
    assert [a["name"] for a in archs] == [f"{f}_{k}" for f in ("spatiotemporal", "recurrent")
                                          for k in range(3)]
    for arch in archs:
        layer_plan(arch)  # every drawn architecture is buildable
    other = _resolve_with(tmp_path, {"training": {"sweep": {"per_family": 3, "seed": 12}}})
    assert other["training"]["architectures"][len(listed):][:3] != archs[:3]


def test_paper_config_draws_the_studys_sweep():
    paper = cfg.resolve([ROOT / "config/paper.yaml"], ROOT)["training"]["architectures"]
    # the study's two best networks (5 + 5 instances each), then 50 drawn per family
    assert [a["name"] for a in paper[:2]] == ["st_best", "sto_best"]
    assert len(paper) == 152
    assert {a["family"] for a in paper[2:]} == {"spatial_temporal", "spatiotemporal", "recurrent"}
    assert len({json.dumps(a, sort_keys=True) for a in paper}) == 152


def _leaves(tree: dict, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_state_only_what_differs_from_the_default(name):
    default = cfg.resolve([], ROOT)
    import yaml

    overlay = yaml.safe_load((ROOT / name).read_text())
    same = []
    for path, value in _leaves(overlay):
        node = default
        for key in path:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if node == value:
            same.append(".".join(path))
    assert not same, f"{name} restates defaults: {same}"


def test_defaults_live_only_in_the_schema():
    """The default run is the schema's defaults: config.yaml names the run and nothing else."""
    import yaml

    assert yaml.safe_load((ROOT / "config.yaml").read_text()) == {"run": "default"}
    schema = cfg.load_schema(ROOT)
    resolved = cfg.resolve([], ROOT)
    missing = [path for path, prop in cfg.iter_properties(schema)
               if "[]" not in path and "default" not in prop
               and not path.startswith("training.sweep")]
    assert not missing, f"settings without a default: {missing}"
    assert resolved["training"]["plateau_patience"] == 3
    assert resolved["analysis"]["statsmodels_units"] == 20
