"""The shared command line: every module's ``main`` takes ``--log-level`` and logs alike."""

from __future__ import annotations

import importlib
import logging

import pytest

from deepdraw import cliutil

# every module with a command line (python -m deepdraw.<module>, deepdraw <command>)
MODULES = ["activations", "bias", "characters", "config", "datafigures", "dataset", "generation",
           "models", "muscles.__main__", "report", "similarity", "startpoints", "summary", "svm",
           "training.cli", "tuning"]


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
