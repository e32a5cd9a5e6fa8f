"""``python -m pipeline.train.revalidate``: the common-set validation loss of a checkpoint is the one its run logged."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rdkit")
from pipeline.prior.params import PriorParams  # noqa: E402
from pipeline.train.config import TrainConfig  # noqa: E402
from pipeline.train.history import HISTORY_FILE, read_history  # noqa: E402
from pipeline.train.revalidate import main  # noqa: E402
from pipeline.train.stage import run_train  # noqa: E402
from pipeline.train.toydata import make_toy_dataset, write_prior_json  # noqa: E402
from pipeline.types import NullLogger  # noqa: E402


def test_revalidate_reproduces_the_logged_val_loss(tmp_path, capsys):
    ds = make_toy_dataset(tmp_path / "ds", ["CCO", "CC(=O)O", "C[C@H](N)C(=O)O", "OCCN"], n_confs=2,
                          splits=["train", "train", "val", "val"])
    prior = write_prior_json(tmp_path / "prior", PriorParams())
    cfg = TrainConfig(
        max_steps=6, checkpoint_every=6, log_every=1, atom_budget=14, cpu_threads=1, seed=3,
        optim={"warmup_steps": 2, "lr": 3e-3, "ema_decay": 0.9},
        eval={"every": 6, "sample_molecules": 0, "val_molecules": 2},
        model={"net": {"kind": "pairnet", "preset": "tiny"}}, loss={"metric": "whitened", "aux_distance": 1.0},
    )
    run_train(cfg, ds, prior, tmp_path / "run", NullLogger())
    logged = dict(read_history(tmp_path / "run" / HISTORY_FILE)["val_loss"])[6]
    yaml_cfg = tmp_path / "train.yaml"
    yaml_cfg.write_text(f"atom_budget: {cfg.atom_budget}\nloss: {{metric: whitened, aux_distance: 1.0}}\n")

    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    out = tmp_path / "rows.json"
    assert main([str(ckpt), str(tmp_path / "run" / "model"), "--dataset", str(ds), "--molecules", "2",
                 "--config", str(yaml_cfg), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["step"] for r in rows] == [6, None] and all(r["molecules"] == 2 for r in rows)
    assert rows[0]["val_loss"] == pytest.approx(logged, rel=1e-5)  # the checkpoint's EMA weights, the run's set
    assert rows[1]["val_loss"] == pytest.approx(logged, rel=1e-5)  # its model dir holds the same weights
    assert "| 6 |" in capsys.readouterr().out

    # a different loss on the same set gives a different number: the config is read, not ignored
    other = tmp_path / "other.yaml"
    other.write_text(f"atom_budget: {cfg.atom_budget}\nloss: {{metric: whitened, aux_distance: 0.0}}\n")
    assert main([str(ckpt), "--dataset", str(ds), "--molecules", "2", "--config", str(other), "--json", str(out)]) == 0
    assert json.loads(out.read_text())[0]["val_loss"] != pytest.approx(logged, rel=1e-3)


def test_revalidate_names_a_bad_model(tmp_path, capsys):
    ds = make_toy_dataset(tmp_path / "ds", ["CCO", "OCCN"], n_confs=1, splits=["train", "val"])
    bad = tmp_path / "not_a_model.pt"
    bad.write_bytes(b"junk")
    assert main([str(bad), "--dataset", str(ds)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not_a_model.pt" in err and "Traceback" not in err
