"""The DDPM posterior on the continuous schedule (docs/diffusion.md).

:func:`posterior`: ``q(x_s | x_t, x_0) = N(a x_t + b x_0, ṽ Σ)`` for any ``s < t`` of the
continuous schedule. With Σ-shaped noise the coefficients are the scalar DDPM ones, the
covariance is ``ṽ Σ`` (noise ``sqrt(ṽ) R z``):
``α_{t|s} = α_t/α_s``, ``σ²_{t|s} = σ_t² − α_{t|s}² σ_s²``,
``a = α_{t|s} σ_s²/σ_t²``, ``b = α_s σ²_{t|s}/σ_t²``, ``ṽ = σ²_{t|s} σ_s²/σ_t²``.
On consecutive steps of a DDPM discretisation (``ᾱ_i = α(t_i)²``, ``β_i = 1 − ᾱ_i/ᾱ_{i−1}``) this is the
DDPM posterior: ``a = √α_i (1 − ᾱ_{i−1})/(1 − ᾱ_i)``, ``b = √ᾱ_{i−1} β_i/(1 − ᾱ_i)``,
``ṽ = β̃_i = β_i (1 − ᾱ_{i−1})/(1 − ᾱ_i)`` (checked against those arrays in tests/numeric/test_diffusion_ddpm.py).

ε ↔ x̂₀ ↔ score: ``x̂₀ = (x_t − σ_t R ε̂)/α_t`` and ``Σ s = −R ε̂/σ_t``
(:func:`pipeline.diffusion.forward.sigma_score`).
"""

from __future__ import annotations

import torch

from pipeline.diffusion.schedules import Schedule, Time

__all__ = ["posterior"]


def posterior(schedule: Schedule, t: Time, s: Time) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(a, b, ṽ)`` with ``q(x_s | x_t, x_0) = N(a x_t + b x_0, ṽ Σ)`` for ``s < t`` (continuous times)."""
    a_t, a_s = schedule.alpha(t), schedule.alpha(s)
    s2_t, s2_s = schedule.sigma2(t), schedule.sigma2(s)
    a_ts = a_t / a_s
    s2_ts = s2_t - a_ts**2 * s2_s
    return a_ts * s2_s / s2_t, a_s * s2_ts / s2_t, s2_ts * s2_s / s2_t
