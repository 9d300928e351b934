"""Licence and citation files agree with the package metadata."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_licence_file_is_the_declared_licence():
    text = (ROOT / "LICENSE").read_text()
    assert _project()["license"] == {"text": "MIT"}
    assert text.startswith("MIT License\n") and "the deepdraw authors" in text


def test_citation_names_this_version_and_the_works_it_builds_on():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert str(cff["version"]) == _project()["version"] and cff["license"] == "MIT"
    dois = {ref["doi"]: ref for ref in cff["references"]}
    study = dois["10.7554/eLife.81499"]
    assert study["journal"] == "eLife" and study["year"] == 2023
    assert [a["family-names"] for a in study["authors"]] == [
        "Sandbrink", "Mamidanna", "Michaelis", "Bethge", "Mathis", "Mathis"]
    assert dois["10.24432/C58G7V"]["title"] == "Character Trajectories"
    assert dois["10.1080/10255842.2014.916698"]["authors"][0]["family-names"] == "Saul"
