"""The quality-vs-evaluations benchmark spends the budget it names."""

from __future__ import annotations

import pytest

from pipeline.sample.curve import steps_for


@pytest.mark.parametrize("sampler, evals, steps", [("ode_heun", 5, 2), ("ode", 41, 20), ("dpmpp_2m", 10, 9), ("dpmpp_2m_sde", 100, 99), ("ddim", 2, 1)])
def test_steps_for_an_evaluation_budget(sampler, evals, steps):
    assert steps_for(sampler, evals) == steps


def test_a_sampler_call_spends_steps_times_evals_per_step_plus_one_plus_corrector_passes():
    import torch

    from pipeline.diffusion import get_schedule, sample
    from pipeline.diffusion.samplers import network_evaluations
    from pipeline.prior import PriorBatch, PriorParams

    prior = PriorBatch.from_graphs([3], [[[0, 1], [1, 2]]], PriorParams(c=1.0), dtype=torch.float64)
    for method in ("ode_heun", "dpmpp_2m", "dpmpp_2m_sde"):
        calls = []
        den = lambda x, t, b: calls.append(1) or torch.zeros_like(x)  # noqa: E731
        sample(den, prior, get_schedule(), method=method, steps=steps_for(method, 21), generator=torch.Generator().manual_seed(0))
        assert len(calls) == 21, method
        calls.clear()
        steps = steps_for(method, 21, corrector_passes=2)
        sample(den, prior, get_schedule(), method=method, steps=steps, generator=torch.Generator().manual_seed(0), corrector_passes=2)
        assert len(calls) == 21 == network_evaluations(method, steps, corrector_passes=2), method
