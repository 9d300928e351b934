"""The study's headline numbers: each with its source, and each gap with the reason it is a gap."""

import math

import pandas as pd
import pytest

from deepdraw import study
from deepdraw.report.comparison import study_comparison


def test_every_entry_has_a_number_or_says_why_not():
    for entry in study.RESULTS:
        assert len(entry.source) > 10, entry.key
        assert entry.variant in ("eLife 2023", "bioRxiv 2020"), entry.key
        if math.isnan(entry.value):
            # a gap names the figure that plots the result and where the number was looked for
            assert "Figure" in entry.source or "figure" in entry.source, entry.key
            assert entry.unstated.startswith("plotted only"), entry.key
            assert entry.formatted() == "–"
        else:
            assert entry.unstated == "", entry.key
            assert entry.formatted() != "–"


def test_keys_are_unique_and_looked_up_by_name():
    keys = [entry.key for entry in study.RESULTS]
    assert len(keys) == len(set(keys))
    assert study.result("svm_pairwise").formatted() == "0.866 ± 0.125"
    with pytest.raises(KeyError, match="known: accuracy_spatial_temporal"):
        study.result("no_such_result")


def test_spread_is_written_the_way_the_source_gives_it():
    assert study.result("accuracy_lstm").formatted() == "0.996 (0.995–0.997)"
    symmetric = study.StudyResult("k", "r", 1.0, low=0.75, high=1.25, spread="± SD")
    assert symmetric.formatted() == "1 ± 0.25"


def test_comparison_tells_why_a_study_cell_is_empty():
    table = study_comparison({}, pd.DataFrame(), pd.DataFrame())
    assert len(table) == len(study.RESULTS)
    for entry in study.RESULTS:
        row = table[table["result"] == entry.result].iloc[0]
        assert row["study_value"] == entry.formatted()
        assert row["study_source"] == entry.source
        assert ("plotted only" in row["study_note"]) == math.isnan(entry.value), entry.key
