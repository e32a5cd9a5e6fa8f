"""The diffusion core (math only: torch, no model, no tracking): VP schedules, the forward kernel
``x_t = α_t x_0 + σ_t R z``, samplers (reverse SDE, PF-ODE Euler/Heun, DDIM, DDPM, DPM-Solver++) and the
DDPM posterior. See docs/diffusion.md."""

from pipeline.diffusion.ddpm import posterior
from pipeline.diffusion.forward import q_sample, sigma_score
from pipeline.diffusion.samplers import ODE_METHODS, SAMPLERS, correct, integrate, sample
from pipeline.diffusion.schedules import Schedule, get_schedule

__all__ = [
    "Schedule",
    "get_schedule",
    "q_sample",
    "sigma_score",
    "sample",
    "integrate",
    "correct",
    "SAMPLERS",
    "ODE_METHODS",
    "posterior",
]
