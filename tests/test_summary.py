"""The end-of-run summary, on small fake outputs."""

from __future__ import annotations

import io

import pandas as pd

from deepdraw.summary import main, print_run_summary, run_summary
from synthetic import make_synthetic_dataset


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def _fake_run(run):
    _write(run / "models" / "summary.csv", [
        {"task": "recognition", "name": "sto_3", "family": "spatiotemporal", "seed": 0,
         "trained": True, "train_accuracy": 0.91, "test_accuracy": 0.74},
        {"task": "recognition", "name": "st_2x2", "family": "spatial_temporal", "seed": 0,
         "trained": True, "train_accuracy": 0.80, "test_accuracy": 0.66},
        {"task": "recognition", "name": "sto_3", "family": "spatiotemporal", "seed": 0,
         "trained": False, "test_accuracy": 0.04},
        {"task": "recognition", "name": "st_2x2", "family": "spatial_temporal", "seed": 0,
         "trained": False, "test_accuracy": 0.07},
        {"task": "position", "name": "sto_3", "family": "spatiotemporal", "seed": 0,
         "trained": True, "test_position_error_cm": 1.8},
        {"task": "position", "name": "st_2x2", "family": "spatial_temporal", "seed": 0,
         "trained": True, "test_position_error_cm": 2.4},
    ])
    _write(run / "svm" / "summary.csv", [
        {"representation": "spindles", "pairwise_mean": 0.79, "multiclass": 0.24},
        {"representation": "hand", "pairwise_mean": 0.84, "multiclass": 0.29},
    ])
    fractions = []
    for instance, trained, seed in (("seed0", True, 0), ("seed1", True, 1),
                                    ("untrained0", False, 0), ("untrained1", False, 1)):
        for layer, value in (("spatiotemporal0", 0.3), ("spatiotemporal1", 0.5)):
            fractions.append({"task": "recognition", "architecture": "sto_3",
                              "instance": instance, "trained": trained, "seed": seed,
                              "layer": layer, "encoding_model": "direction",
                              "fraction_tuned": value + 0.1 * seed if trained else 0.02})
            fractions.append({"task": "recognition", "architecture": "sto_3",
                              "instance": instance, "trained": trained, "seed": seed,
                              "layer": layer, "encoding_model": "speed", "fraction_tuned": 0.9})
    _write(run / "analysis" / "summary" / "fractions.csv", fractions)
    _write(run / "analysis" / "summary" / "comparison.csv", [
        {"encoding_model": "direction", "layer": "spatiotemporal0", "trained_mean": 0.35,
         "untrained_mean": 0.02, "p_bonferroni": 0.01},
        {"encoding_model": "direction", "layer": "spatiotemporal1", "trained_mean": 0.55,
         "untrained_mean": 0.02, "p_bonferroni": 0.2},
        {"encoding_model": "speed", "layer": "spatiotemporal1", "trained_mean": 0.9,
         "untrained_mean": 0.9, "p_bonferroni": 1.0},
    ])
    (run / "analysis" / "report.html").write_text("<html></html>")
    (run / "config.yaml").write_text("run: demo\n")


def test_summary_reads_the_headline_numbers(tmp_path):
    run = tmp_path / "results" / "demo"
    _fake_run(run)
    text = "\n".join(run_summary(run))
    assert str((run / "analysis" / "report.html").resolve()) in text
    assert "sto_3: test accuracy 0.740, train 0.91" in text and "2 trained" in text
    assert "test accuracy 0.040-0.070 (2 models)" in text
    assert "best position decoder" in text and "sto_3: hand position error 1.80 cm" in text
    assert "spindles 0.240, pairwise 0.790; hand 0.290" in text
    # direction model only: mean over the 2 trained instances of the best layer (0.5, 0.6)
    assert ("trained: up to 0.55 of a layer (recognition / sto_3 / spatiotemporal1; mean over 2 "
            "instances)") in text
    assert "untrained: up to 0.02" in text
    assert "1 of 2 layers with more direction-tuned units" in text
    assert f"config                     {run / 'config.yaml'}" in text
    assert "could not be read" not in text


def test_summary_of_a_run_without_training_or_analysis(tmp_path):
    run = tmp_path / "results" / "test"
    make_synthetic_dataset(run / "dataset.zarr", n_samples=30)
    lines = run_summary(run)
    assert lines[0] == f"deepdraw run {run}"
    assert any(line.startswith("dataset ") for line in lines)
    text = "\n".join(lines)
    for absent in ("report", "recognition", "SVM", "direction-tuned"):
        assert absent not in text.replace("deepdraw run", "")
    assert lines[-1].startswith("logs ")


def test_summary_names_an_unreadable_output_instead_of_failing(tmp_path):
    run = tmp_path / "results" / "broken"
    (run / "svm").mkdir(parents=True)
    (run / "svm" / "summary.csv").write_text("representation,multiclass\nspindles,lots\n")
    out = io.StringIO()
    text = print_run_summary(run, file=out)
    assert out.getvalue().strip() == text
    assert "(svm: could not be read: ValueError" in text
    assert text.splitlines()[-1].startswith("logs ")


def test_summary_falls_back_to_the_models_metrics(tmp_path):
    import json

    run = tmp_path / "results" / "partial"
    folder = run / "models" / "recognition" / "sto_3" / "seed0"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(
        {"task": "recognition", "name": "sto_3", "test": {"accuracy": 0.5}}))
    text = "\n".join(run_summary(run))
    assert "sto_3: test accuracy 0.500 (chance 0.05; 1 trained)" in text


def test_summary_command(tmp_path, capsys):
    run = tmp_path / "results" / "demo"
    _fake_run(run)
    assert main([str(run)]) == 0
    assert "best recognition network" in capsys.readouterr().out
