"""The σ-score ``Σ s = (α x̂₀ − x_t)/σ²`` (one formula, used by every sampler) against the forward kernel."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.diffusion import get_schedule, q_sample, sigma_score
from pipeline.prior import PriorBatch, PriorParams

GRAPHS = [(6, np.array([[i, (i + 1) % 6] for i in range(6)])), (3, np.array([[0, 1], [1, 2]]))]


def _prior() -> PriorBatch:
    return PriorBatch.from_graphs([n for n, _ in GRAPHS], [b for _, b in GRAPHS], PriorParams(c=2.0, lam=0.3), dtype=torch.float64)


def test_with_the_true_x0_the_sigma_score_is_minus_the_noise_over_sigma():
    """``x_t = α x₀ + σ R z``, so with x̂₀ = x₀: ``Σ s = −R z/σ`` atom by atom, each molecule at its own time."""
    prior, sch = _prior(), get_schedule("cosine")
    x0 = prior.center(torch.randn(prior.num_atoms, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    t = torch.tensor([0.2, 0.7], dtype=torch.float64)
    x_t, noise = q_sample(x0, t, prior, sch, torch.Generator().manual_seed(1))
    expected = -noise / prior.per_atom(sch.sigma(t))
    assert torch.allclose(sigma_score(x_t, x0, t, sch, prior), expected, rtol=1e-10, atol=1e-12)

