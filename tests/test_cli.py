"""The ``deepdraw`` command: registry, info, models and config on small fake runs."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from deepdraw import cli
from deepdraw.provenance import dataset_fingerprint
from synthetic import LETTERS, make_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = make_synthetic_dataset(tmp_path_factory.mktemp("run") / "dataset.zarr", n_samples=80)
    return path


def _metrics(run: Path, task: str, arch: str, instance: str, test: dict, train: dict | None = None,
             layers: int = 3) -> None:
    folder = run / "models" / task / arch / instance
    folder.mkdir(parents=True)
    trained = instance.startswith("seed")
    metrics = {"task": task, "name": arch, "family": "spatiotemporal",
               "architecture": {"name": arch, "family": "spatiotemporal"},
               "seed": int(instance.removeprefix("seed").removeprefix("untrained")),
               "trained": trained, "n_layers": layers, "n_parameters": 1234,
               "epochs": 5 if trained else None,
               "test": {"n": 40, "loss": 1.0, "confusion": [[1, 0], [0, 1]], **test}}
    if train is not None:
        metrics["train"] = train
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture()
def run(tmp_path):
    run = tmp_path / "results" / "demo"
    _metrics(run, "recognition", "sto_3", "seed0", {"accuracy": 0.72}, {"accuracy": 0.9})
    _metrics(run, "recognition", "sto_3", "untrained0", {"accuracy": 0.05})
    _metrics(run, "recognition", "st_2x2", "seed0", {"accuracy": 0.61})
    _metrics(run, "position", "sto_3", "seed0", {"position_error_cm": 1.25,
                                                  "position_rmse_cm": 1.5})
    return run


def test_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["deepdraw"] == "deepdraw.cli:main"


def test_every_registered_command_loads_and_has_help(capsys):
    for name, command in cli.COMMANDS.items():
        assert callable(command.load()), name
        with pytest.raises(SystemExit) as stop:
            command.load()(["--help"])
        assert stop.value.code == 0
        assert f"deepdraw {name}" in capsys.readouterr().out


def test_top_level_help_lists_the_commands(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_a_module_adds_a_command_with_one_entry(monkeypatch, capsys, tmp_path):
    module = tmp_path / "extra_command_for_test.py"
    module.write_text("def main(argv):\n    print('plotted', *argv)\n    return 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "plot-sample",
                        cli.Command("plot one sample", "extra_command_for_test:main"))
    assert cli.main(["plot-sample", "a.zarr", "--index", "4"]) == 3
    assert capsys.readouterr().out.strip() == "plotted a.zarr --index 4"


def test_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["nosuch"])
    assert stop.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_info_reports_sizes_planes_splits_letters(dataset):
    info = cli.dataset_info(dataset, fingerprint=True)
    assert info["sizes"]["sample"] == 80 and info["sizes"]["muscle"] == 25
    import xarray as xr

    ds = xr.open_zarr(dataset)
    plane, split, label = (ds[v].values for v in ("plane", "split", "label"))
    assert info["planes"] == {"horizontal": int((plane == 0).sum()),
                              "vertical": int((plane == 1).sum())}
    assert info["splits"] == {"train": int((split == 0).sum()),
                              "validation": int((split == 1).sum()),
                              "test": int((split == 2).sum())}
    assert sum(info["splits"].values()) == 80
    assert list(info["letters"]) == list(LETTERS)
    assert info["letters"]["a"] == int((label == 0).sum())
    assert info["variables"]["hand"] == {"dims": ["sample", "time", "xyz"], "dtype": "float32",
                                         "units": "cm"}
    assert info["attrs"]["seed"] == 0 and info["n_rejected"] == {}
    assert info["sha256"] == dataset_fingerprint(dataset)


def test_info_command_prints_text_and_json(dataset, capsys):
    assert cli.main(["info", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "sample 80" in out and "horizontal" in out and "letters   20:" in out
    assert cli.main(["info", str(dataset), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sizes"]["sample"] == 80


def test_info_on_a_wrong_path_names_it(tmp_path, capsys):
    assert cli.main(["info", str(tmp_path / "missing.zarr")]) == 1
    assert "missing.zarr" in capsys.readouterr().err


def test_models_table_has_every_model_and_metric(run):
    table = cli.model_table(run)
    assert len(table) == 4
    row = table[(table["model"] == "sto_3") & (table["instance"] == "seed0")
                & (table["task"] == "recognition")].iloc[0]
    assert row["test_accuracy"] == 0.72 and row["train_accuracy"] == 0.9
    assert row["layers"] == 3 and row["parameters"] == 1234
    position = table[table["task"] == "position"].iloc[0]
    assert position["test_position_error_cm"] == 1.25
    assert "test_confusion" not in table and "test_n" not in table


def test_models_table_shows_the_recorded_dataset(run):
    path = run / "models" / "recognition" / "sto_3" / "seed0" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["dataset"] = {"path": "results/demo/dataset.zarr", "sha256": "ab" * 32}
    path.write_text(json.dumps(metrics))
    table = cli.model_table(run).set_index(["task", "model", "instance"])
    assert table.loc[("recognition", "sto_3", "seed0"), "dataset_sha256"] == "ab" * 6
    assert table["dataset_sha256"].isna().sum() == 3


def test_models_command(run, capsys):
    assert cli.main(["models", str(run)]) == 0
    out = capsys.readouterr().out
    assert "0.720" in out and "untrained0" in out and "1.250" in out
    assert "recognition (3 models)" in out and "position (1 models)" in out
    position = out[out.index("position (1 models)"):out.index("recognition (3 models)")]
    assert "position_error" in position and "accuracy" not in position
    assert cli.main(["models", str(run), "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("task,model,family,instance")


def test_models_of_a_run_without_models(tmp_path, capsys):
    assert cli.main(["models", str(tmp_path)]) == 0
    assert "no finished model" in capsys.readouterr().out


def _contains(resolved, given) -> bool:
    """Every value of ``given`` is in ``resolved`` (which may add schema defaults)."""
    if isinstance(given, dict):
        return isinstance(resolved, dict) and all(
            k in resolved and _contains(resolved[k], v) for k, v in given.items())
    return resolved == given


def test_config_prints_the_resolved_default_and_overlays(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert cli.main(["config"]) == 0
    assert _contains(yaml.safe_load(capsys.readouterr().out), default)
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("run: mine\ntraining:\n  max_epochs: 3\n")
    assert cli.main(["config", str(overlay)]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    # nested sections merge key by key, as snakemake --configfile does
    assert resolved["run"] == "mine" and resolved["training"]["max_epochs"] == 3
    assert resolved["training"]["batch_size"] == default["training"]["batch_size"]
    assert resolved["svm"] == default["svm"]


def test_config_refuses_a_bad_file_naming_the_field(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  max_epochs: 0\nsplit:\n  by: writer\n")
    assert cli.main(["config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "training.max_epochs" in err and "split.by" in err
    assert "2 invalid" in err


def test_config_describe_lists_every_setting(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["config", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "generation.max_tracing_error_cm: " in out and "cm" in out
    assert "(no description)" not in out


def test_console_entry_runs_as_a_module(dataset):
    # the same entry point as the installed `deepdraw` script
    result = subprocess.run([sys.executable, "-m", "deepdraw.cli", "info", str(dataset)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "sample 80" in result.stdout
