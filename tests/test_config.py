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
