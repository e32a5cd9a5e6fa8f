"""Discrete DDPM arrays for the tests: the yardstick the continuous schedule and its posterior are checked against.

* :func:`discretize`: for a continuous VP schedule and ``T`` steps on the grid ``t_i = t_max·i/T``
  (``t_0 = 0`` is the data; ``t_i < t_min`` are clamped by the schedule), ``ᾱ_i = α(t_i)²``, ``β_i = 1 − ᾱ_i/ᾱ_{i−1}``, ``α_i = 1 − β_i``;
  then ``∏_{j≤i} α_j = ᾱ_i`` exactly (cosine schedule of Nichol & Dhariwal in this form).
* :func:`euler_betas`: the DDPM convention ``β_i ≈ β(t_i)·Δt`` with ``Δt = t_max/T`` (Song et al.:
  ``β_i = β(t_i)/T``): its products converge to ``α(t_i)²`` as ``T → ∞`` (first order in 1/T).
* :func:`x0_from_eps` / :func:`eps_from_x0`: ``x̂₀ = (x_t − σ_t R ε̂)/α_t`` and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.diffusion.schedules import Schedule

__all__ = ["DiscreteSchedule", "discretize", "euler_betas", "x0_from_eps", "eps_from_x0"]


@dataclass(frozen=True, eq=False)
class DiscreteSchedule:
    """DDPM arrays, index 1..T (index 0 is the clean data: ``alphas_cumprod[0] = 1``)."""

    t: torch.Tensor  # [T+1] continuous times
    betas: torch.Tensor  # [T+1], betas[0] = 0
    alphas: torch.Tensor  # [T+1] = 1 - betas
    alphas_cumprod: torch.Tensor  # [T+1] ᾱ_i
    posterior_mean_coef_xt: torch.Tensor  # [T+1] a_i (index ≥ 1)
    posterior_mean_coef_x0: torch.Tensor  # [T+1] b_i
    posterior_variance: torch.Tensor  # [T+1] β̃_i


def _posterior_from_cumprod(abar: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    prev = torch.cat([abar.new_ones(1), abar[:-1]])
    denom = (1.0 - abar).clamp_min(torch.finfo(abar.dtype).tiny)
    coef_xt = torch.sqrt(1.0 - betas) * (1.0 - prev) / denom
    coef_x0 = torch.sqrt(prev) * betas / denom
    var = betas * (1.0 - prev) / denom
    coef_xt[0], coef_x0[0], var[0] = 0.0, 1.0, 0.0
    return coef_xt, coef_x0, var


def _grid(schedule: Schedule, T: int) -> torch.Tensor:
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    return torch.linspace(0.0, schedule.t_max, T + 1, dtype=torch.float64)


def discretize(schedule: Schedule, T: int) -> DiscreteSchedule:
    """DDPM arrays whose ᾱ products equal the continuous ``α(t_i)²`` on ``t_i = t_max·i/T`` (float64).

    ``t_0 = 0`` is the data (``ᾱ_0 = 1``); the schedule clamps ``t_i < t_min`` to ``t_min``.
    """
    t = _grid(schedule, T)
    abar = schedule.alpha(t) ** 2
    abar[0] = 1.0
    betas = 1.0 - abar / torch.cat([abar.new_ones(1), abar[:-1]])
    betas[0] = 0.0
    a, b, v = _posterior_from_cumprod(abar, betas)
    return DiscreteSchedule(t, betas, 1.0 - betas, abar, a, b, v)


def euler_betas(schedule: Schedule, T: int) -> torch.Tensor:
    """``β_i = β(t_i)·t_max/T`` on ``t_i = t_max·i/T`` (index 0 unused = 0): the classic DDPM discretisation."""
    t = _grid(schedule, T)
    betas = schedule.beta(t) * (schedule.t_max / T)
    betas[0] = 0.0
    return betas


def x0_from_eps(x_t: torch.Tensor, r_eps: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``x̂₀ = (x_t − σ R ε̂)/α`` (``r_eps = R ε̂``, coefficients broadcastable)."""
    return (x_t - sigma * r_eps) / alpha


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``R ε = (x_t − α x₀)/σ``."""
    return (x_t - alpha * x0) / sigma
