"""DDP: two CPU processes (gloo) run the same training code; weights stay identical across ranks."""

from __future__ import annotations

import json
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

pytest.importorskip("rdkit")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, ds: str, prior: str, out: str, result_dir: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from pipeline.train.config import TrainConfig
    from pipeline.train.stage import run_train
    from pipeline.types import NullLogger

    cfg = TrainConfig(
        max_steps=4, checkpoint_every=2, log_every=1, atom_budget=12, cpu_threads=1, device="cpu",
        optim={"warmup_steps": 1, "lr": 3e-3}, eval={"every": 0, "sample_molecules": 0},
    )
    res = run_train(cfg, ds, prior, out, NullLogger())
    torch.save({k: v.detach().clone() for k, v in res.extra["model"].state_dict().items()}, f"{result_dir}/rank{rank}.pt")


def test_two_process_gloo_training(tmp_path):
    from pipeline.prior.params import PriorParams
    from pipeline.train.toydata import make_toy_dataset, write_prior_json

    ds = make_toy_dataset(tmp_path / "ds", ["CCO", "CC(=O)O", "CC(C)O", "C=CC"], n_confs=1)
    prior = write_prior_json(tmp_path / "prior", PriorParams())
    out = tmp_path / "out"
    # fork: the children reuse the parent's imports (spawn would re-import torch/e3nn/RDKit: slow on 2 cores)
    ctx = mp.start_processes(
        _worker, args=(2, _free_port(), str(ds), str(prior), str(out), str(tmp_path)), nprocs=2, join=False, start_method="fork"
    )
    deadline = time.monotonic() + 300
    while not ctx.join(timeout=5):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("DDP workers did not finish within 300 s")
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs between ranks"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 4
    # the ranks saw different molecules, yet the weights agree: gradients were averaged
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(ckpt["model"][k], a[k]) for k in a)
    assert (out / "model" / "weights.pt").is_file()
