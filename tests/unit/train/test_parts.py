"""Training building blocks: LR schedule, atom-budget batching, EMA, t-sampling, loss weights, RMSD."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pipeline.diffusion import get_schedule
from pipeline.train.data import AtomBudgetBatcher
from pipeline.train.ema import EMA
from pipeline.train.evaluate import aligned_rmsd
from pipeline.train.loop import lr_factor
from pipeline.train.loss import loss_weight, sample_times


def test_lr_warmup_then_cosine():
    assert lr_factor(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(500, 10, 100, 0.1) == pytest.approx(0.1)


def _records(sizes, confs=None):
    confs = confs or [3] * len(sizes)
    return [SimpleNamespace(n_atoms=n, n_conformers=k) for n, k in zip(sizes, confs)]


def test_batches_respect_budget_and_cover_each_molecule_once():
    sizes = [5, 17, 9, 30, 12, 8, 21, 3, 14, 60]
    b = AtomBudgetBatcher(_records(sizes), atom_budget=40, seed=3)
    plan = b.epoch_plan(0)
    seen = [i for batch in plan for i, _ in batch]
    assert sorted(seen) == list(range(len(sizes)))
    for batch in plan:
        atoms = sum(sizes[i] for i, _ in batch)
        assert atoms <= 40 or len(batch) == 1  # the 60-atom molecule gets its own batch
    assert all(0 <= k < 3 for batch in plan for _, k in batch)
    assert plan == AtomBudgetBatcher(_records(sizes), 40, 3).epoch_plan(0)  # deterministic
    assert plan != b.epoch_plan(1)  # reshuffled per epoch


def test_repeats_and_ranks():
    sizes = [5] * 12
    plan = AtomBudgetBatcher(_records(sizes), 10, 0, repeats=3).epoch_plan(0)
    counts = np.bincount([i for batch in plan for i, _ in batch])
    assert counts.tolist() == [3] * 12
    r0 = AtomBudgetBatcher(_records(sizes), 10, 0, rank=0, world=2).epoch_plan(0)
    r1 = AtomBudgetBatcher(_records(sizes), 10, 0, rank=1, world=2).epoch_plan(0)
    assert len(r0) == len(r1) == 3
    ids0 = {i for batch in r0 for i, _ in batch}
    ids1 = {i for batch in r1 for i, _ in batch}
    assert not ids0 & ids1


def test_ema_tracks_weights():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    ema = EMA(net, decay=0.5)
    before = ema.model.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)  # warm-up decay min(0.5, 2/11)
    d = 2 / 11
    assert torch.allclose(ema.model.weight, d * before + (1 - d) * net.weight)
    assert not ema.model.weight.requires_grad


def test_stratified_times_cover_the_range():
    sched = get_schedule("cosine")
    g = torch.Generator().manual_seed(0)
    t = sample_times(8, sched, "stratified", g)
    assert float(t.min()) >= sched.t_min and float(t.max()) <= sched.t_max
    strata = ((t - sched.t_min) / (sched.t_max - sched.t_min) * 8).long()
    assert sorted(strata.tolist()) == list(range(8))


def test_loss_weights():
    c_out = torch.tensor([1.0, 0.5, 0.01])
    assert torch.allclose(loss_weight(c_out, "edm", 100.0), torch.tensor([1.0, 4.0, 100.0]))
    assert torch.equal(loss_weight(c_out, "uniform", 100.0), torch.ones(3))


def test_aligned_rmsd_is_rotation_invariant_not_reflection_invariant():
    from e3nn import o3

    torch.manual_seed(1)
    x = torch.randn(6, 3, dtype=torch.float64)
    rot = o3.rand_matrix(dtype=torch.float64)
    assert aligned_rmsd(x @ rot.T + 2.0, x) < 1e-9
    assert aligned_rmsd(-x, x) > 0.1
    y = x + 0.1 * torch.randn(6, 3, dtype=torch.float64)
    assert aligned_rmsd(y, x) <= math.sqrt(float((y - y.mean(0) - x + x.mean(0)).pow(2).sum(-1).mean())) + 1e-12


def test_size_window_batches_similar_sizes_under_a_padded_budget():
    rng = np.random.default_rng(0)
    sizes = rng.integers(10, 25, 300).tolist() + rng.integers(40, 70, 60).tolist()
    plain = AtomBudgetBatcher(_records(sizes), 400, seed=1).epoch_plan(0)
    sized = AtomBudgetBatcher(_records(sizes), 400, seed=1, size_window=360)
    plan = sized.epoch_plan(0)
    assert sorted(i for batch in plan for i, _ in batch) == list(range(len(sizes)))  # every molecule once
    for batch in plan:
        assert len(batch) * max(sizes[i] for i, _ in batch) <= 400 or len(batch) == 1  # padded atoms within budget

    def padded_pairs(p):
        return sum(len(b) * max(sizes[i] for i, _ in b) ** 2 for b in p) / sum(sizes[i] ** 2 for b in p for i, _ in b)

    assert padded_pairs(plan) < 1.3 < padded_pairs(plain)  # far less padding than plain packing
    assert plan == AtomBudgetBatcher(_records(sizes), 400, seed=1, size_window=360).epoch_plan(0)  # deterministic
    assert plan != sized.epoch_plan(1)
    assert [len(b) for b in plan] != sorted(len(b) for b in plan)  # batch order is shuffled, not by size
