"""Samplers: reverse SDE (Euler–Maruyama), PF-ODE (Euler, Heun), DDIM (exact PF-ODE step) and DDPM
(ancestral, exact posterior step). Each step is a few lines using only ``Σ s = (α x̂ − x)/σ²``.

Conventions: ``denoiser(x_t [A,3], t [M], batch) -> x̂₀ [A,3]`` (any callable; ``batch`` is passed
through untouched), time runs ``t_max → t_min`` on a grid (:meth:`Schedule.time_grid`, uniform in
log SNR by default), the start is ``x = σ(t_max) R z`` (the ``α(t_max) x₀`` part is unknown and
``α(t_max)`` is ~1e-3), and by default the result is the final denoised ``x̂₀(x_{t_min}, t_min)``.
Noise is always ``R z`` from :meth:`PriorBatch.sample` with the caller's ``torch.Generator``.

The DDIM step is exact for the PF-ODE ``dx/dt = h x − ½ g² Σ s`` when x̂ is held fixed over the
step. With ``λ = log SNR`` and VP ``h − σ'/σ = λ'/2``, ``g² = −σ² λ'`` the ODE reads
``d(x/σ)/dt = (λ'/2) e^{λ/2} x̂ = d(α/σ)/dt · x̂`` — Σ drops out — so
``x_s = (σ_s/σ_t) x_t + (α_s − α_t σ_s/σ_t) x̂``: the isotropic DDIM formula, whatever Σ is.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from pipeline.diffusion.ddpm import posterior
from pipeline.diffusion.schedules import Schedule
from pipeline.prior.batch import PriorBatch

__all__ = ["Denoiser", "SAMPLERS", "ODE_METHODS", "sample", "integrate", "pf_ode_drift"]

Denoiser = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


class _Ctx:
    """What every step needs: the denoiser bound to its batch, the prior, the schedule, the generator."""

    def __init__(self, denoiser: Denoiser, prior: PriorBatch, schedule: Schedule, batch: Any, generator: torch.Generator | None):
        self.denoiser, self.prior, self.schedule, self.batch, self.generator = denoiser, prior, schedule, batch, generator

    def x0(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.denoiser(x, t.expand(self.prior.num_molecules), self.batch)

    def noise(self) -> torch.Tensor:
        return self.prior.sample(self.generator)


def pf_ode_drift(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``dx/dt = h x − ½ g² (α x̂ − x)/σ²``."""
    sch = ctx.schedule
    sigma_score = (sch.alpha(t) * ctx.x0(x, t) - x) / sch.sigma2(t)
    return sch.h(t) * x - 0.5 * sch.g2(t) * sigma_score


def _sde_step(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Euler–Maruyama on ``dx = [h x − g² (α x̂ − x)/σ²] dt + g R dw̄`` (dt = s − t < 0)."""
    sch, dt = ctx.schedule, s - t
    sigma_score = (sch.alpha(t) * ctx.x0(x, t) - x) / sch.sigma2(t)
    drift = sch.h(t) * x - sch.g2(t) * sigma_score
    return x + drift * dt + torch.sqrt(sch.g2(t) * -dt) * ctx.noise()


def _ode_euler_step(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return x + (s - t) * pf_ode_drift(ctx, x, t)


def _ode_heun_step(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    d_t = pf_ode_drift(ctx, x, t)
    x_euler = x + (s - t) * d_t
    return x + 0.5 * (s - t) * (d_t + pf_ode_drift(ctx, x_euler, s))


def _ddim_step(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Exact PF-ODE step with x̂ frozen at t (either direction in time)."""
    sch = ctx.schedule
    ratio = sch.sigma(s) / sch.sigma(t)
    return ratio * x + (sch.alpha(s) - sch.alpha(t) * ratio) * ctx.x0(x, t)


def _ddpm_step(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Ancestral step: draw from ``q(x_s | x_t, x₀ = x̂)`` = N(a x_t + b x̂, ṽ Σ)."""
    a, b, var = posterior(ctx.schedule, t, s)
    return a * x + b * ctx.x0(x, t) + torch.sqrt(var) * ctx.noise()


SAMPLERS: dict[str, Callable[[_Ctx, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "sde": _sde_step,
    "ode_euler": _ode_euler_step,
    "ode_heun": _ode_heun_step,
    "ddim": _ddim_step,
    "ddpm": _ddpm_step,
}
ODE_METHODS = ("ode_euler", "ode_heun", "ddim")


def integrate(
    denoiser: Denoiser,
    prior: PriorBatch,
    schedule: Schedule,
    x: torch.Tensor,
    t_grid: torch.Tensor,
    method: str = "ode_heun",
    generator: torch.Generator | None = None,
    batch: Any = None,
) -> torch.Tensor:
    """Step ``x`` along ``t_grid`` (1-D). ODE methods run either way (increasing = encode data → prior);
    stochastic methods (``sde``, ``ddpm``) only towards the data (decreasing grid)."""
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {', '.join(SAMPLERS)}")
    ts = t_grid.to(device=x.device, dtype=x.dtype)
    if method not in ODE_METHODS and bool((ts[1:] > ts[:-1]).any()):
        raise ValueError(f"sampler {method!r} only runs towards t = 0 (decreasing time grid)")
    ctx, step = _Ctx(denoiser, prior, schedule, batch, generator), SAMPLERS[method]
    for t, s in zip(ts[:-1], ts[1:]):
        x = step(ctx, x, t, s)
    return x


def sample(
    denoiser: Denoiser,
    prior: PriorBatch,
    schedule: Schedule,
    method: str = "sde",
    steps: int = 50,
    generator: torch.Generator | None = None,
    batch: Any = None,
    x_init: torch.Tensor | None = None,
    t_grid: torch.Tensor | None = None,
    grid: str = "logsnr",
    final_denoise: bool = True,
) -> torch.Tensor:
    """Draw one conformer per molecule of ``prior``: returns x₀ [A, 3] (centred).

    ``x_init`` [A, 3] replaces the prior draw at ``t_grid[0]`` (it is centred first); ``t_grid``
    (decreasing) replaces the default ``schedule.time_grid(steps, grid)``. ``final_denoise`` returns
    ``x̂₀(x_{t_end}, t_end)`` instead of the last ``x_{t_end}``.
    """
    ts = schedule.time_grid(steps, grid) if t_grid is None else torch.as_tensor(t_grid, dtype=torch.float64)
    ts = ts.to(device=prior.device, dtype=prior.dtype)
    if x_init is None:
        x = schedule.sigma(ts[0]) * prior.sample(generator)
    else:
        x = prior.center(x_init.to(device=prior.device, dtype=prior.dtype))
    x = integrate(denoiser, prior, schedule, x, ts, method, generator, batch)
    if final_denoise:
        x = prior.center(denoiser(x, ts[-1].expand(prior.num_molecules), batch))
    return x
