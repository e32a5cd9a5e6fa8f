"""Flags that set config keys: help, type, choices and default from the pydantic field; given flags applied
typed and validated over the config file and --set; ``bondiff --help`` registers no command's flags."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
import pytest

import pipeline
from pipeline.commands._common import add_config_args, add_config_flag, stage_config
from pipeline.config import ConfigError
from tests.helpers.config import WithSection as Cfg


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t")
    add_config_args(p)
    add_config_flag(p, Cfg, "steps", "--steps")
    add_config_flag(p, Cfg, "mode", "--mode")
    add_config_flag(p, Cfg, "progress", "--no-progress", const=False, help="no progress bar")
    add_config_flag(p, Cfg, "window", "--window", metavar="KCAL", context="with --mode slow")
    add_config_flag(p, Cfg, "inner.delta", "--delta")
    add_config_flag(p, Cfg, "inner.tags", "--tags")
    return p


def test_flag_help_is_the_field_description_with_its_default():
    text = _parser().format_help()
    for line in (
        "solver steps (default: 10)",
        "how to run (default: fast)",
        "no progress bar",
        "with --mode slow: energy window",
        "coverage threshold in Å (default: 0.75)",
        "tags to keep (comma-separated) (default: a,b)",
    ):
        assert line in " ".join(text.split()), line
    assert "{fast,slow}" in text  # a Literal field gives the flag its choices


def test_given_flags_win_over_the_file_and_set_others_keep_them(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\nmode: slow\ninner:\n  delta: 0.6\n")
    args = _parser().parse_args(["-c", str(path), "--set", "steps=7", "--delta", "0.5", "--no-progress", "--tags", "x, y"])
    cfg = stage_config(Cfg, args)
    assert (cfg.steps, cfg.mode, cfg.inner.delta, cfg.progress, cfg.inner.tags) == (7, "slow", 0.5, False, ["x", "y"])
    assert stage_config(Cfg, _parser().parse_args([])) == Cfg()


def test_a_bad_flag_value_names_the_flag_and_the_key():
    args = _parser().parse_args(["--steps", "0", "--window", "3"])
    with pytest.raises(ConfigError) as err:
        stage_config(Cfg, args)
    assert "--steps 0" in str(err.value) and "steps: Input should be greater than or equal to 1" in str(err.value)


def test_top_level_help_imports_no_stage():
    """``bondiff --help`` registers no command's flags, so no config (and no torch) is imported."""
    code = "import sys; from pipeline.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules, 'pipeline.sample.config' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(pipeline.__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "False False"
