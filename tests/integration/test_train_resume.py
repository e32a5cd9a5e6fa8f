"""An interrupted-and-resumed training run ends with exactly the parameters of an uninterrupted one."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")
from pipeline.model.spec import net_preset  # noqa: E402
from pipeline.prior.params import PriorParams  # noqa: E402
from pipeline.train.checkpoint import load_checkpoint  # noqa: E402
from pipeline.train.config import TrainConfig  # noqa: E402
from pipeline.train.history import CURVES_FILE, HISTORY_FILE, read_history  # noqa: E402
from pipeline.train.stage import run_train  # noqa: E402
from pipeline.train.toydata import make_toy_dataset, write_prior_json  # noqa: E402
from pipeline.types import NullLogger  # noqa: E402


class Interrupt(Exception):
    pass


class InterruptAt(NullLogger):
    """A metric logger that 'crashes' the run when it is asked to log step ``step``."""

    def __init__(self, step: int):
        self.step = step

    def log_metrics(self, metrics, step=None):
        if step == self.step:
            raise Interrupt(f"simulated crash at step {step}")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    ds = make_toy_dataset(root / "ds", ["CCO", "CC(=O)O", "C[C@H](N)C(=O)O"], n_confs=2, splits=["train", "train", "val"])
    prior = write_prior_json(root / "prior", PriorParams())
    return ds, prior


def _cfg(kind: str = "e3nn", twist: bool = False) -> TrainConfig:
    # atom budget of ~one molecule: several batches per epoch, so the crash lands mid-epoch
    loss = {"metric": "euclidean", "aux_distance": 0.0} if kind == "e3nn" else {"metric": "whitened", "aux_distance": 1.0}
    if twist:  # torsion twists at every noise level: the generator draws them, resume must replay them
        loss["twist"] = {"probability": 0.7, "max_noise": 1.0e6}
    extra = {"model": {"net": {"kind": kind, "preset": "tiny"}}, "loss": loss}
    return TrainConfig(
        max_steps=10, checkpoint_every=4, log_every=1, atom_budget=12, cpu_threads=1, seed=7,
        optim={"warmup_steps": 3, "lr": 3e-3, "ema_decay": 0.9},
        eval={"every": 5, "sample_molecules": 1, "sampler": {"method": "ddim", "steps": 3}},
        **extra,
    )


@pytest.mark.parametrize(("kind", "twist"), [("e3nn", False), ("pairnet", False), ("pairnet", True)])
def test_resume_is_exact(data, tmp_path, kind, twist):
    ds, prior = data
    full = run_train(_cfg(kind, twist), ds, prior, tmp_path / "full", NullLogger())
    assert full.metrics["steps"] == 10

    with pytest.raises(Interrupt):
        run_train(_cfg(kind, twist), ds, prior, tmp_path / "split", InterruptAt(7))
    mid = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert mid["step"] == 4 and mid["batch_in_epoch"] > 0  # resumes in the middle of an epoch
    assert not (tmp_path / "split" / "model").exists()

    resumed = run_train(_cfg(kind, twist), ds, prior, tmp_path / "split", NullLogger(), resume=True)
    assert resumed.metrics["steps"] == 10

    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    for key in ("model", "ema"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs after resume"
    assert torch.equal(a["generator"], b["generator"])
    # the local metrics record is the uninterrupted one too (rows the crashed run wrote after its
    # last checkpoint are dropped on resume); timings are the only values allowed to differ
    ha, hb = read_history(tmp_path / "full" / HISTORY_FILE), read_history(tmp_path / "split" / HISTORY_FILE)
    assert ha.keys() == hb.keys() and "loss" in ha and "val_loss" in ha
    for key in ha.keys() - {"molecules_per_s", "cpu_hours"}:
        assert ha[key] == hb[key], f"metrics.csv {key} differs after resume"
    assert [s for s, _ in hb["loss"]] == list(range(1, 11))
    assert (tmp_path / "split" / CURVES_FILE).stat().st_size > 10_000
    # and training did move the weights
    first = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert any(not torch.equal(first["model"][k], mid["model"][k]) for k in first["model"])


def test_cpu_budget_ends_a_stretch_and_resume_continues(data, tmp_path):
    """A stretch stops when its CPU budget is spent, writes checkpoint + model; the next one resumes from there."""
    import json

    ds, prior = data
    cfg = _cfg()
    cfg.cpu_budget_s = 1e-6  # spent by the first step
    first = run_train(cfg, ds, prior, tmp_path / "o", NullLogger())
    assert first.metrics["steps"] == 1 and (tmp_path / "o" / "model" / "spec.json").is_file()
    summary = json.loads((tmp_path / "o" / "train_summary.json").read_text())
    assert summary["stopped_by"] == "cpu_budget_s" and summary["cpu_hours"] > 0
    cpu1 = load_checkpoint(tmp_path / "o" / "checkpoints" / "last.pt")["cpu_seconds"]
    second = run_train(cfg, ds, prior, tmp_path / "o", NullLogger(), resume=True)
    assert second.metrics["steps"] == 2  # one more step: the budget is per stretch
    assert load_checkpoint(tmp_path / "o" / "checkpoints" / "last.pt")["cpu_seconds"] > cpu1  # CPU time adds up over stretches
    cfg.cpu_budget_s = None
    third = run_train(cfg, ds, prior, tmp_path / "o", NullLogger(), resume=True)
    assert third.metrics["steps"] == 10 and json.loads((tmp_path / "o" / "train_summary.json").read_text())["stopped_by"] == "max_steps"


class SignalAt(NullLogger):
    """A metric logger that sends this process ``sig`` when it is asked to log step ``step`` (a user's Ctrl-C, a kill)."""

    def __init__(self, step: int, sig):
        self.step, self.sig = step, sig

    def log_metrics(self, metrics, step=None):
        if step == self.step:
            import signal

            signal.raise_signal(self.sig)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_the_stretch_cleanly_and_resume_continues(data, tmp_path, signame):
    """SIGTERM or a first Ctrl-C: the step finishes, then checkpoint + final evaluation + model, as at a budget's end."""
    import json
    import signal

    ds, prior = data
    sig = getattr(signal, signame)
    before = signal.getsignal(sig)
    first = run_train(_cfg(), ds, prior, tmp_path / "o", SignalAt(3, sig))
    assert signal.getsignal(sig) is before  # the trainer's handler is gone again
    # the signal comes while step 3 is logged; the step in progress (4) finishes, then the stretch ends
    assert first.metrics["steps"] == 4 and (tmp_path / "o" / "model" / "spec.json").is_file()
    assert json.loads((tmp_path / "o" / "train_summary.json").read_text())["stopped_by"] == signame
    assert load_checkpoint(tmp_path / "o" / "checkpoints" / "last.pt")["step"] == 4
    second = run_train(_cfg(), ds, prior, tmp_path / "o", NullLogger(), resume=True)
    assert second.metrics["steps"] == 10


def _poisoned_loss(monkeypatch, bad_calls):
    """Make the training loss NaN on the calls whose number is in ``bad_calls`` (1-based; a set or 'all')."""
    import pipeline.train.loop as loop

    real, calls = loop.x0_loss, {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, per_mol, t = real(*args, **kwargs)
        if bad_calls == "all" or calls["n"] in bad_calls:
            loss = loss * float("nan")
        return loss, per_mol, t

    monkeypatch.setattr(loop, "x0_loss", poisoned)


def test_a_non_finite_batch_is_skipped_and_counted(data, tmp_path, monkeypatch):
    import json

    ds, prior = data
    _poisoned_loss(monkeypatch, {3, 4})
    out = run_train(_cfg("pairnet"), ds, prior, tmp_path / "o", NullLogger())
    assert out.metrics["steps"] == 10
    state = load_checkpoint(tmp_path / "o" / "checkpoints" / "last.pt")
    assert state["skipped_steps"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert json.loads((tmp_path / "o" / "train_summary.json").read_text())["skipped_steps"] == 2
    skipped = read_history(tmp_path / "o" / HISTORY_FILE)["skipped_steps"]
    assert sum(v for _, v in skipped) == 2


def test_a_diverged_run_stops_with_a_clear_error(data, tmp_path, monkeypatch):
    from pipeline.train.loop import MAX_NONFINITE_STEPS
    from pipeline.types import StageError

    ds, prior = data
    _poisoned_loss(monkeypatch, "all")
    cfg = _cfg("pairnet")
    cfg.max_steps = MAX_NONFINITE_STEPS + 5
    with pytest.raises(StageError, match=f"{MAX_NONFINITE_STEPS} steps in a row .* non-finite"):
        run_train(cfg, ds, prior, tmp_path / "o", NullLogger())


def test_resume_refuses_a_different_model(data, tmp_path):
    ds, prior = data
    cfg = _cfg()
    cfg.max_steps = 2
    run_train(cfg, ds, prior, tmp_path / "o", NullLogger())
    other = _cfg()
    other.model.net = other.model.net.model_copy(update={"scalars": 8})
    from pipeline.types import StageError

    with pytest.raises(StageError, match="spec differs"):
        run_train(other, ds, prior, tmp_path / "o", NullLogger(), resume=True)


def test_init_from_fine_tunes_an_existing_model(data, tmp_path):
    """init_from starts from the given model's EMA weights with its network and prior, whatever the model section says."""
    import json

    from pipeline.model.io import load_model_dir
    from pipeline.types import StageError

    ds, prior = data
    base = _cfg()
    base.max_steps = 3
    run_train(base, ds, prior, tmp_path / "base", NullLogger())
    start, start_spec = load_model_dir(tmp_path / "base" / "model")

    tuned = _cfg()
    tuned.max_steps = 1
    tuned.optim.lr = 1e-30  # one step that cannot move the weights: the output is the starting model
    tuned.model.net = net_preset("base")  # ignored: the network comes from init_from
    tuned.init_from = str(tmp_path / "base" / "model")
    run_train(tuned, ds, prior, tmp_path / "tuned", NullLogger())
    out, spec = load_model_dir(tmp_path / "tuned" / "model")
    assert spec.net == start_spec.net and spec.prior == start_spec.prior
    assert spec.info["init_from"] == tuned.init_from
    a, b = start.state_dict(), out.state_dict()
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    # resuming a fine-tuning run keeps its spec (the checkpoint's), and a missing model is one clear error
    tuned.max_steps = 2
    assert run_train(tuned, ds, prior, tmp_path / "tuned", NullLogger(), resume=True).metrics["steps"] == 2
    json.loads((tmp_path / "tuned" / "train_summary.json").read_text())
    tuned.init_from = str(tmp_path / "nowhere")
    with pytest.raises(StageError, match="init_from"):
        run_train(tuned, ds, prior, tmp_path / "bad", NullLogger())
