"""HistoryLogger: the local metrics record of a training run (CSV + curves), with and without MLflow."""

from __future__ import annotations

from pipeline.train.history import HistoryLogger, plot_history, read_history


class Sink:
    def __init__(self):
        self.calls = []

    def log_metrics(self, metrics, step=None):
        self.calls.append((step, dict(metrics)))

    def log_artifact(self, path, artifact_path=None):
        self.calls.append(("artifact", str(path)))


def test_rows_are_appended_and_forwarded(tmp_path):
    sink = Sink()
    h = HistoryLogger(tmp_path / "m.csv", sink)
    h.begin()
    h.log_metrics({"loss": 2.0, "lr": 1e-3}, step=1)
    h.log_metrics({"loss": 1.5}, step=2)
    assert read_history(tmp_path / "m.csv") == {"loss": [(1, 2.0), (2, 1.5)], "lr": [(1, 1e-3)]}
    assert sink.calls == [(1, {"loss": 2.0, "lr": 1e-3}), (2, {"loss": 1.5})]


def test_fresh_start_clears_and_resume_keeps_rows_up_to_the_checkpoint(tmp_path):
    path = tmp_path / "m.csv"
    h = HistoryLogger(path)
    h.begin()
    for step in range(1, 8):
        h.log_metrics({"loss": 1.0 / step}, step=step)
    HistoryLogger(path).begin(resume_step=4)
    assert [s for s, _ in read_history(path)["loss"]] == [1, 2, 3, 4]
    HistoryLogger(path).begin()
    assert read_history(path) == {}


def test_plot_history(tmp_path):
    path = tmp_path / "m.csv"
    h = HistoryLogger(path)
    h.begin()
    for step in range(1, 40):
        h.log_metrics({"loss": 3.0 / step, "loss_t0": 1.0, "loss_t1": 2.0, "lr": 1e-3, "grad_norm": 0.5}, step=step)
    h.log_metrics({"val_loss": 0.2, "sample_valid_frac": 0.5, "sample_bond_mae": float("nan")}, step=39)
    png = plot_history(path, tmp_path / "c.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_history(tmp_path / "missing.csv", tmp_path / "x.png") is None


def test_progress_bar_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    """A tqdm bar over steps (with loss in its postfix) when stderr is a terminal; nothing otherwise."""
    import sys

    from pipeline.prior.params import PriorParams
    from pipeline.train.config import TrainConfig
    from pipeline.train.stage import run_train
    from pipeline.train.toydata import make_toy_dataset, write_prior_json

    ds = make_toy_dataset(tmp_path / "ds", ["CCO", "CC(=O)O"], n_confs=2, splits=["train", "val"])
    prior = write_prior_json(tmp_path / "p", PriorParams())
    cfg = TrainConfig(max_steps=4, log_every=2, cpu_threads=1, eval={"every": 0, "sample_molecules": 0})
    run_train(cfg, ds, prior, tmp_path / "quiet")
    assert "train:" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    run_train(cfg, ds, prior, tmp_path / "tty")
    err = capsys.readouterr().err
    assert "4/4" in err and "loss=" in err


def test_compare_puts_each_evaluation_at_the_cpu_time_of_its_step(tmp_path):
    import pytest

    from pipeline.train.compare import against_cpu_hours, main

    hist = {"cpu_hours": [(10, 0.1), (20, 0.2), (30, 0.3)], "val_loss": [(20, 5.0), (25, 4.0), (30, 3.0)]}
    assert against_cpu_hours(hist, "val_loss") == ([0.2, 0.2, 0.3], [5.0, 4.0, 3.0])
    assert against_cpu_hours(hist, "missing") == ([], [])
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,key,value\n10,cpu_hours,0.1\n10,loss,2.0\n10,sample_bond_mae,0.3\n")
    out = tmp_path / "cmp.png"
    assert main([f"a={run}", f"b={run}", "--out", str(out)]) == 0 and out.stat().st_size > 5_000
    with pytest.raises(SystemExit):
        main([f"a={tmp_path / 'nothing'}", "--out", str(out)])
