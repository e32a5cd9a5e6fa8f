"""Atom-budget batching covers every conformer job exactly once and respects the budget."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from pipeline.sample.batching import plan_batches


@pytest.mark.parametrize("seed", range(5))
def test_every_job_once_within_budget(seed):
    rng = random.Random(seed)
    sizes = [rng.randint(1, 80) for _ in range(rng.randint(1, 30))]
    jobs = [(m, k) for m in range(len(sizes)) for k in range(rng.randint(0, 6))]
    budget = rng.randint(1, 300)
    batches = plan_batches(sizes, jobs, budget)
    flat = [j for b in batches for j in b]
    assert Counter(flat) == Counter(jobs) and len(flat) == len(jobs)
    for b in batches:
        total = sum(sizes[m] for m, _ in b)
        assert total <= budget or len(b) == 1  # a molecule bigger than the budget goes alone
    assert all(b for b in batches)


def test_mixed_sizes_share_batches_and_bad_budget():
    batches = plan_batches([10, 3, 3], [(0, 0), (1, 0), (2, 0), (1, 1)], atom_budget=16)
    assert batches == [[(0, 0), (1, 0), (2, 0)], [(1, 1)]]
    assert plan_batches([5], [], 10) == []
    with pytest.raises(ValueError):
        plan_batches([5], [(0, 0)], 0)
