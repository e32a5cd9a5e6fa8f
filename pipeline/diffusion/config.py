"""Typed configs for the diffusion core, for other stages to embed (train / sample / ModelSpec)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.config import StrictModel
from pipeline.diffusion.samplers import DEFAULT_CORRECTOR_NOISE, DEFAULT_CORRECTOR_NOISE_MIN, DEFAULT_SAMPLER, DEFAULT_STEPS
from pipeline.diffusion.schedules import Schedule, schedule_from_config

__all__ = ["ScheduleConfig", "SamplerConfig", "SolverName", "GridName"]

#: the solvers of :data:`pipeline.diffusion.samplers.SAMPLERS` (a test keeps the two lists equal)
SolverName = Literal["sde", "ode_euler", "ode_heun", "ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde"]
GridName = Literal["logsnr", "edm", "uniform"]


class ScheduleConfig(StrictModel):
    """A VP schedule by name; ``None`` fields take the schedule's defaults (see ``schedules.py``)."""

    name: Literal["cosine", "linear", "quadratic"] = "cosine"
    t_min: float | None = Field(None, ge=0, lt=1)
    t_max: float | None = Field(None, gt=0, le=1)
    s: float | None = Field(None, gt=0, description="cosine offset (cosine only)")
    beta_min: float | None = Field(None, ge=0, description="β schedules only")
    beta_max: float | None = Field(None, gt=0, description="β schedules only")

    def build(self) -> Schedule:
        return schedule_from_config(self.model_dump())


class SamplerConfig(StrictModel):
    """How to integrate from the prior to the data (arguments of :func:`pipeline.diffusion.sample`)."""

    method: SolverName = DEFAULT_SAMPLER
    steps: int = Field(DEFAULT_STEPS, ge=1)
    grid: GridName = "logsnr"
    rho: float = Field(7.0, gt=0, description="the EDM grid's ρ (grid: edm)")
    final_denoise: bool = True
    corrector_passes: int = Field(0, ge=0, description="low-noise corrector passes after the solver (0 = off, as in pipeline.diffusion.sample)")
    corrector_noise: float = Field(DEFAULT_CORRECTOR_NOISE, gt=0, description="the corrector's first σ/α (prior units)")
    corrector_noise_min: float | None = Field(DEFAULT_CORRECTOR_NOISE_MIN, gt=0, description="its last σ/α (geometric levels; unset: constant)")
