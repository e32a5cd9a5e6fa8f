"""Under torchrun only rank 0 of `bondiff train` tracks and prints; the other ranks train silently."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipeline.train.stage as train_stage
from pipeline.cli import main
from pipeline.types import StageResult


@pytest.fixture
def fake_train(monkeypatch, tmp_path):
    calls = []

    def run_train(cfg, dataset, prior, out, logger, resume=False):
        calls.append((type(logger).__name__, Path(out)))
        return StageResult("train", outputs={"model_dir": Path(out) / "model"}, metrics={"steps": 4, "train_molecules": 2, "loss": 1.5})

    monkeypatch.setattr(train_stage, "run_train", run_train)
    for d in ("ds", "prior"):
        (tmp_path / d).mkdir()
    return calls


@pytest.mark.parametrize("rank, printed", [("1", False), ("0", True)])
def test_only_rank_zero_reports(fake_train, tmp_path, monkeypatch, capsys, rank, printed):
    monkeypatch.setenv("RANK", rank)
    args = ["train", "--dataset", str(tmp_path / "ds"), "--prior", str(tmp_path / "prior"), "--out", str(tmp_path / "o")]
    if rank == "0":
        args.append("--no-track")  # rank 0 with tracking would start an MLflow run; the print is what is tested
    assert main(args) == 0
    assert fake_train == [("NullLogger", tmp_path / "o")]  # every rank trains, none of them logs to MLflow here
    out = capsys.readouterr().out
    assert ("trained 4 steps on 2 molecules" in out) is printed
