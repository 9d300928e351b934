"""The shared command line: every module's ``main`` takes ``--log-level`` and logs alike."""

from __future__ import annotations

import importlib
import logging

import pytest

from deepdraw import cliutil

# every module with a command line (python -m deepdraw.<module>, deepdraw <command>)
MODULES = ["activations", "bias", "characters", "config", "datafigures", "dataset", "generation",
           "models", "muscles.__main__", "report", "similarity", "startpoints", "summary", "svm",
           "training.cli", "tuning.cli", "decoding", "tsne"]


@pytest.mark.parametrize("module", MODULES)
def test_every_command_line_takes_log_level(module, capsys):
    main = importlib.import_module(f"deepdraw.{module}").main
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "--log-level" in capsys.readouterr().out


def test_log_level_sets_the_root_logger():
    parser = cliutil.parser("python -m deepdraw.example", "An example.")
    parser.add_argument("--output")
    before = logging.getLogger().level
    try:
        args = cliutil.parse_args(parser, ["--log-level", "WARNING", "--output", "x"])
        assert args.output == "x" and logging.getLogger().level == logging.WARNING
        cliutil.parse_args(parser, ["--output", "x"])
        assert logging.getLogger().level == logging.INFO
    finally:
        logging.getLogger().setLevel(before)
    with pytest.raises(SystemExit):
        cliutil.parse_args(parser, ["--log-level", "LOUD"])


@pytest.mark.parametrize("data", ["--dataset", "--planes"])
def test_model_fit_flags_and_identity(data):
    parser = cliutil.add_model_fit(cliutil.parser("test"), data=data)
    args = parser.parse_args(["--activations", "a.zarr", data, "d.zarr", "--analysis", "{}", "--seed", "7",
                              "--task", "recognition", "--architecture", "spatial_temporal",
                              "--instance", "untrained3"])
    assert args.seed == 7 and getattr(args, data[2:]) == "d.zarr"
    assert cliutil.model_identity(args) == {"task": "recognition", "architecture": "spatial_temporal",
                                            "instance": "untrained3", "trained": False, "seed": 3}
    with pytest.raises(SystemExit):
        parser.parse_args(["--activations", "a.zarr"])
