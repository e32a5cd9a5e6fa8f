"""Samplers: reverse SDE (Euler–Maruyama), PF-ODE (Euler, Heun), DDIM (exact PF-ODE step), DDPM
(ancestral, exact posterior step) and DPM-Solver++(2M) in x̂₀ form, deterministic (``dpmpp_2m``) and
stochastic (``dpmpp_2m_sde``). Each step is a few lines using only ``Σ s = (α x̂ − x)/σ²``
(:func:`pipeline.diffusion.forward.sigma_score`); the noise is always ``R z``.

Conventions: ``denoiser(x_t [A,3], t [M], batch) -> x̂₀ [A,3]`` (any callable; ``batch`` is passed
through untouched), time runs ``t_max → t_min`` on a grid (:meth:`Schedule.time_grid`, uniform in
log SNR by default), the start is ``x = σ(t_max) R z`` (the ``α(t_max) x₀`` part is unknown and
``α(t_max)`` is ~1e-3), and by default the result is the final denoised ``x̂₀(x_{t_min}, t_min)``.
Noise is always ``R z`` from :meth:`PriorBatch.sample` with the caller's ``torch.Generator``.

The DDIM step is exact for the PF-ODE ``dx/dt = h x − ½ g² Σ s`` when x̂ is held fixed over the
step. With ``λ = log SNR`` and VP ``h − σ'/σ = λ'/2``, ``g² = −σ² λ'`` the ODE reads
``d(x/σ)/dt = (λ'/2) e^{λ/2} x̂ = d(α/σ)/dt · x̂`` — Σ drops out — so
``x_s = (σ_s/σ_t) x_t + (α_s − α_t σ_s/σ_t) x̂``: the isotropic DDIM formula, whatever Σ is.

DPM-Solver++ (Lu et al. 2022) integrates the same ODE in ``λ = log(α/σ)`` (half the log SNR) with
``x̂`` interpolated linearly in λ through the current and the previous step's x̂ — one network
evaluation per step, second order: with ``h = λ_s − λ_t``, ``r = h_prev/h``,
``D = (1 + 1/(2r)) x̂_t − x̂_prev/(2r)`` (``D = x̂_t`` on the first step) and
``x_s = (σ_s/σ_t) x_t − α_s expm1(−h) D`` (with ``D = x̂_t`` this is the DDIM step). Its SDE variant
solves the reverse SDE the same way: in whitened coordinates ``R⁺x`` the Σ-shaped process is the
isotropic one, so ``x_s = (σ_s/σ_t) e^{−h} x_t − α_s expm1(−2h) x̂_t − ½ α_s expm1(−2h) (x̂_t − x̂_prev)/r
+ σ_s √(−expm1(−2h)) R z``; with x̂ frozen it is the exact DDPM posterior draw.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from pipeline.diffusion.ddpm import posterior
from pipeline.diffusion.forward import sigma_score
from pipeline.diffusion.schedules import Schedule
from pipeline.prior.batch import PriorBatch

__all__ = [
    "Denoiser",
    "SAMPLERS",
    "ODE_METHODS",
    "DEFAULT_SAMPLER",
    "DEFAULT_STEPS",
    "DEFAULT_CORRECTED_STEPS",
    "DEFAULT_CORRECTOR_PASSES",
    "DEFAULT_RELAXED_CORRECTOR_PASSES",
    "DEFAULT_CORRECTOR_NOISE",
    "DEFAULT_CORRECTOR_NOISE_MIN",
    "sample",
    "integrate",
    "correct",
    "corrector_levels",
    "pf_ode_drift",
    "network_evaluations",
]

Denoiser = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


class _Ctx:
    """What every step needs: the denoiser bound to its batch, the prior, the schedule, the generator."""

    def __init__(self, denoiser: Denoiser, prior: PriorBatch, schedule: Schedule, batch: Any, generator: torch.Generator | None):
        self.denoiser, self.prior, self.schedule, self.batch, self.generator = denoiser, prior, schedule, batch, generator
        self.history: tuple[torch.Tensor, torch.Tensor] | None = None  # multistep solvers: (λ, x̂) of the previous step

    def x0(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.denoiser(x, t.expand(self.prior.num_molecules), self.batch)

    def noise(self) -> torch.Tensor:
        return self.prior.sample(self.generator)


def pf_ode_drift(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``dx/dt = h x − ½ g² (α x̂ − x)/σ²``."""
    sch = ctx.schedule
    return sch.h(t) * x - 0.5 * sch.g2(t) * sigma_score(x, ctx.x0(x, t), t, sch)


def _sde_step(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Euler–Maruyama on ``dx = [h x − g² (α x̂ − x)/σ²] dt + g R dw̄`` (dt = s − t < 0)."""
    sch, dt = ctx.schedule, s - t
    drift = sch.h(t) * x - sch.g2(t) * sigma_score(x, ctx.x0(x, t), t, sch)
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


def _half_log_snr(ctx: _Ctx, t: torch.Tensor) -> torch.Tensor:
    return 0.5 * ctx.schedule.log_snr(t)


def _dpmpp_history(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(h, x̂_t, (x̂_t − x̂_prev)/r or None)`` for a DPM-Solver++ multistep update; records (λ_t, x̂_t)."""
    lam_t, lam_s = _half_log_snr(ctx, t), _half_log_snr(ctx, s)
    h = lam_s - lam_t
    x_hat = ctx.x0(x, t)
    diff = None
    if ctx.history is not None:
        lam_prev, x_prev = ctx.history
        diff = (x_hat - x_prev) * (h / (lam_t - lam_prev))
    ctx.history = (lam_t, x_hat)
    return h, x_hat, diff


def _dpmpp_2m_step(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """DPM-Solver++(2M): second-order multistep PF-ODE step, one network evaluation."""
    sch = ctx.schedule
    h, x_hat, diff = _dpmpp_history(ctx, x, t, s)
    d = x_hat if diff is None else x_hat + 0.5 * diff
    return (sch.sigma(s) / sch.sigma(t)) * x - sch.alpha(s) * torch.expm1(-h) * d


def _dpmpp_2m_sde_step(ctx: _Ctx, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """DPM-Solver++(2M) SDE (midpoint form): second-order multistep reverse-SDE step with Σ-shaped noise."""
    sch = ctx.schedule
    h, x_hat, diff = _dpmpp_history(ctx, x, t, s)
    e2 = -torch.expm1(-2.0 * h)  # 1 − e^{−2h}
    d = x_hat if diff is None else x_hat + 0.5 * diff
    return (sch.sigma(s) / sch.sigma(t)) * torch.exp(-h) * x + sch.alpha(s) * e2 * d + sch.sigma(s) * torch.sqrt(e2) * ctx.noise()


SAMPLERS: dict[str, Callable[[_Ctx, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "sde": _sde_step,
    "ode_euler": _ode_euler_step,
    "ode_heun": _ode_heun_step,
    "ddim": _ddim_step,
    "ddpm": _ddpm_step,
    "dpmpp_2m": _dpmpp_2m_step,
    "dpmpp_2m_sde": _dpmpp_2m_sde_step,
}
ODE_METHODS = ("ode_euler", "ode_heun", "ddim", "dpmpp_2m")
#: network evaluations per step of each solver (the final denoise adds one)
EVALS_PER_STEP = {"sde": 1, "ode_euler": 1, "ode_heun": 2, "ddim": 1, "ddpm": 1, "dpmpp_2m": 1, "dpmpp_2m_sde": 1}
#: the default solver and its step count without a corrector (pipeline.diffusion.sample, training's
#: SamplerConfig): 13 DPM-Solver++(2M) SDE steps + the final denoise
DEFAULT_SAMPLER = "dpmpp_2m_sde"
DEFAULT_STEPS = 13
#: the sampling stage's default (SampleConfig, the CLI, the API): 9 solver steps + the final denoise + 14
#: corrector passes (:func:`correct`, σ/α geometric from 0.25 down to 0.02) = 24 network evaluations per raw
#: conformer, chosen on raw-sample quality at equal evaluations (docs/sample.md, "Raw samples"); before a
#: force-field relaxation 6 passes (16 evaluations): the later passes tighten bonds and angles, which the
#: relaxation redoes (all 194 Hutchison relaxed, paired: 14 -> 6, every metric within noise, 23 % fewer CPU-s;
#: docs/sample.md, "Fewer corrector passes before the relaxation")
DEFAULT_CORRECTED_STEPS = 9
DEFAULT_CORRECTOR_PASSES = 14
DEFAULT_RELAXED_CORRECTOR_PASSES = 6
DEFAULT_CORRECTOR_NOISE = 0.25
DEFAULT_CORRECTOR_NOISE_MIN = 0.02


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


def corrector_levels(noise: float, passes: int, noise_min: float | None = None) -> list[float]:
    """The corrector's noise levels σ/α: ``passes`` values geometric from ``noise`` down to ``noise_min``
    (default: ``noise`` every pass)."""
    if passes < 0:
        raise ValueError(f"corrector passes must be >= 0, got {passes}")
    lo = noise if noise_min is None else noise_min
    if not (noise > 0 and lo > 0):
        raise ValueError(f"corrector noise levels must be > 0, got {noise} and {lo}")
    if lo > noise:
        raise ValueError(f"corrector_noise_min ({lo}) must not exceed corrector_noise ({noise})")
    if passes == 1:
        return [float(noise)]
    return [float(noise * (lo / noise) ** (i / (passes - 1))) for i in range(passes)]


def correct(
    denoiser: Denoiser,
    prior: PriorBatch,
    schedule: Schedule,
    x: torch.Tensor,
    noise: float,
    passes: int = 1,
    generator: torch.Generator | None = None,
    batch: Any = None,
    noise_min: float | None = None,
) -> torch.Tensor:
    """Low-noise corrector: for each level ``ν`` of :func:`corrector_levels` (``passes`` levels, geometric
    from ``noise`` down to ``noise_min``), re-noise ``x`` to the time ``t`` where ``σ_t/α_t = ν``
    (``x_t = α_t x + σ_t R z``) and replace it by the denoised ``x̂₀(x_t, t)`` (centred). One network
    evaluation per pass. A sample whose local geometry is slightly off (bond lengths and angles a few
    hundredths of an Å wrong) is, at such a level, indistinguishable from a noisy draw of a clean one;
    the denoiser maps it back towards the data (SDEdit / a restart at low noise, annealed). Levels are in
    the prior's units (``R z`` has covariance Σ), independent of the schedule.
    """
    levels = corrector_levels(noise, passes, noise_min)
    for level in levels:
        t = schedule.t_from_log_snr(torch.tensor(-2.0 * math.log(level), dtype=torch.float64))
        t = t.to(device=prior.device, dtype=prior.dtype)
        alpha, sigma = schedule.alpha(t), schedule.sigma(t)
        x = prior.center(denoiser(alpha * x + sigma * prior.sample(generator), t.expand(prior.num_molecules), batch))
    return x


def network_evaluations(method: str, steps: int, final_denoise: bool = True, corrector_passes: int = 0) -> int:
    """Denoiser calls per conformer of :func:`sample`."""
    return steps * EVALS_PER_STEP[method] + int(final_denoise) + corrector_passes


def sample(
    denoiser: Denoiser,
    prior: PriorBatch,
    schedule: Schedule,
    method: str = DEFAULT_SAMPLER,
    steps: int = DEFAULT_STEPS,
    generator: torch.Generator | None = None,
    batch: Any = None,
    x_init: torch.Tensor | None = None,
    t_grid: torch.Tensor | None = None,
    grid: str = "logsnr",
    final_denoise: bool = True,
    rho: float = 7.0,
    corrector_passes: int = 0,
    corrector_noise: float = DEFAULT_CORRECTOR_NOISE,
    corrector_noise_min: float | None = DEFAULT_CORRECTOR_NOISE_MIN,
) -> torch.Tensor:
    """Draw one conformer per molecule of ``prior``: returns x₀ [A, 3] (centred).

    ``x_init`` [A, 3] replaces the prior draw at ``t_grid[0]`` (it is centred first); ``t_grid``
    (decreasing) replaces the default ``schedule.time_grid(steps, grid, rho)``. ``final_denoise`` returns
    ``x̂₀(x_{t_end}, t_end)`` instead of the last ``x_{t_end}`` (one more network evaluation).
    ``corrector_passes`` > 0 then runs :func:`correct` from ``corrector_noise`` down to ``corrector_noise_min``
    (one evaluation per pass; off here, on in the product's defaults: ``DEFAULT_CORRECTOR_PASSES`` in
    ``SampleConfig`` / ``SamplerConfig``).
    """
    ts = schedule.time_grid(steps, grid, rho) if t_grid is None else torch.as_tensor(t_grid, dtype=torch.float64)
    ts = ts.to(device=prior.device, dtype=prior.dtype)
    if x_init is None:
        x = schedule.sigma(ts[0]) * prior.sample(generator)
    else:
        x = prior.center(x_init.to(device=prior.device, dtype=prior.dtype))
    x = integrate(denoiser, prior, schedule, x, ts, method, generator, batch)
    if final_denoise:
        x = prior.center(denoiser(x, ts[-1].expand(prior.num_molecules), batch))
    return correct(denoiser, prior, schedule, x, corrector_noise, corrector_passes, generator, batch, corrector_noise_min)
