"""Forward kernel ``q(x_t | x_0) = N(α_t x_0, σ_t² Σ)``: ``x_t = α_t x_0 + σ_t R z``."""

from __future__ import annotations

import torch

from pipeline.diffusion.schedules import Schedule
from pipeline.prior.batch import PriorBatch

__all__ = ["q_sample", "sigma_score"]


def q_sample(
    x0: torch.Tensor,
    t: torch.Tensor,
    prior: PriorBatch,
    schedule: Schedule,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise ``x0`` [A, 3] to per-molecule times ``t`` [M]; returns ``(x_t, noise)`` with ``noise = R z``.

    ``x0`` should be centred (it is what the dataset stores); ``x_t`` is then centred too.
    """
    t = t.to(device=x0.device, dtype=x0.dtype)
    noise = prior.sample(generator).to(x0.dtype)
    x_t = prior.per_atom(schedule.alpha(t)) * x0 + prior.per_atom(schedule.sigma(t)) * noise
    return x_t, noise


def sigma_score(x_t: torch.Tensor, x0_hat: torch.Tensor, t: torch.Tensor, schedule: Schedule, prior: PriorBatch | None = None) -> torch.Tensor:
    """``Σ s_t(x) = (α_t x̂₀ − x_t) / σ_t²`` — the only form of the score samplers need (Σ is never inverted).

    ``t`` is one time for the whole batch (a scalar: the samplers), or one per molecule [M] with
    ``prior`` given to spread it over the atoms.
    """
    a, s2 = schedule.alpha(t).to(x_t), schedule.sigma2(t).to(x_t)
    if prior is not None:
        a, s2 = prior.per_atom(a), prior.per_atom(s2)
    return (a * x0_hat - x_t) / s2
