"""The line `bondiff run` ends with: a command that works as printed, the store, the run's URL."""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.commands import ui


def _fake_install(tmp_path: Path, monkeypatch, on_path: bool) -> Path:
    """An installation at tmp/.venv/bin (python + bondiff script), cwd = tmp, optionally on $PATH."""
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "bondiff"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", str(bin_dir) if on_path else str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    return bin_dir


def test_hint_names_the_venv_script_when_the_venv_is_not_active(tmp_path, monkeypatch):
    # `make quickstart` runs .venv/bin/bondiff without activating the venv: a bare `bondiff ui` would not be found
    _fake_install(tmp_path, monkeypatch, on_path=False)
    hint = ui.ui_hint(f"sqlite:///{tmp_path / 'mlflow.db'}", "1", "abc")
    assert hint == "open the UI: .venv/bin/bondiff ui   then http://127.0.0.1:5000/#/experiments/1/runs/abc"


def test_hint_is_plain_bondiff_when_it_is_on_path(tmp_path, monkeypatch):
    _fake_install(tmp_path, monkeypatch, on_path=True)
    other = "sqlite:////data/store/mlflow.db"
    assert ui.ui_hint(other, "2") == f"open the UI: bondiff ui --tracking-uri {other}   then http://127.0.0.1:5000/#/experiments/2/runs?workflowType=machine_learning"  # the runs view, not MLflow 3's GenAI view


def test_hint_for_a_tracking_server_is_its_url(tmp_path, monkeypatch):
    _fake_install(tmp_path, monkeypatch, on_path=False)
    assert ui.ui_hint("http://mlflow.internal:5000/", "3", "r") == "open the UI: http://mlflow.internal:5000/#/experiments/3/runs/r"
