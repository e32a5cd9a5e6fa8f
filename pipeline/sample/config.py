"""Typed configuration of the sampling stage (``bondiff sample``, ``configs/sample.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import StrictModel
from pipeline.diffusion.config import GridName
from pipeline.diffusion.samplers import (
    DEFAULT_CORRECTED_STEPS,
    DEFAULT_CORRECTOR_NOISE,
    DEFAULT_CORRECTOR_NOISE_MIN,
    DEFAULT_CORRECTOR_PASSES,
    DEFAULT_RELAXED_CORRECTOR_PASSES,
    DEFAULT_SAMPLER,
    SAMPLERS,
    corrector_levels,
)
from pipeline.sample.guidance import StereoGuidanceConfig
from pipeline.sample.refine import RefineMethod
from pipeline.sample.steric import StericGuidanceConfig
from pipeline.sample.torsion import TorsionGuidanceConfig

__all__ = ["SamplerName", "SAMPLER_METHODS", "StereoConfig", "DivergenceConfig", "SampleConfig"]

SamplerName = Literal["sde", "ode", "ode_euler", "ode_heun", "ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde"]

# user-facing sampler name -> ``pipeline.diffusion.sample(method=...)``: the solvers by their own
# names, and ``ode``: an alias of ``ode_heun`` (the PF-ODE with Heun steps), kept for configs that use it
SAMPLER_METHODS: dict[str, str] = {**{name: name for name in SAMPLERS}, "ode": "ode_heun"}


class StereoConfig(StrictModel):
    """How stereochemistry is handled.

    ``enumerate_unspecified``: unspecified tetrahedral centres / double bonds are assigned one
    stereoisomer per molecule (RDKit ``EnumerateStereoisomers``, seeded by ``seed``); the choice is
    recorded in the ``stereo_assigned`` SDF property. ``mirror_fix``: when every specified
    tetrahedral centre of a sample comes out inverted, reflect it (x -> -x, distances unchanged).
    ``guidance``: sign guidance of centres and double bonds late in the trajectory
    (:mod:`pipeline.sample.guidance`).
    """

    enumerate_unspecified: bool = True
    mirror_fix: bool = True
    guidance: StereoGuidanceConfig = StereoGuidanceConfig()


class DivergenceConfig(StrictModel):
    """When is a sample 'diverged' (then retried with a new seed)? Non-finite coordinates always;
    a bonded distance outside ``[min_bond_length, max_bond_length]`` Å; an atom farther than
    ``max_radius`` Å from the centroid."""

    min_bond_length: float = Field(0.3, ge=0.0)
    max_bond_length: float = Field(4.0, gt=0.0)
    max_radius: float = Field(100.0, gt=0.0)
    max_retries: int = Field(3, ge=0, description="extra attempts for a diverged conformer, each with a new seed")
    retry_wrong_stereo: bool = Field(
        True, description="also redraw samples whose stereo is wrong after the mirror guard (the last one is kept if all are)"
    )


class SampleConfig(StrictModel):
    """Everything ``run_sample`` needs besides the model and the input molecules."""

    num_confs: int = Field(10, ge=1, description="conformers per molecule")
    per_reference: int | None = Field(
        None, ge=1, description="if set: this many x K conformers for a molecule with K reference conformers"
    )
    sampler: SamplerName = Field(
        DEFAULT_SAMPLER, description="solver: dpmpp_2m = DPM-Solver++ 2M, dpmpp_2m_sde its SDE form, ode = ode_heun (the PF-ODE with Heun steps)"
    )
    steps: int = Field(DEFAULT_CORRECTED_STEPS, ge=1, description="solver steps (network evaluations: steps x evaluations per step + 1 + the corrector passes)")
    grid: GridName = Field("logsnr", description="time grid: logsnr (uniform in log SNR), edm (Karras rho=7) or uniform in t")
    corrector_passes: int | None = Field(
        None, ge=0,
        description="after the solver: re-noise to the corrector's levels and denoise, this many times (one network evaluation each); "
        f"unset: {DEFAULT_CORRECTOR_PASSES} for raw samples, {DEFAULT_RELAXED_CORRECTOR_PASSES} before a force-field relaxation (docs/sample.md)",
    )
    corrector_noise: float = Field(DEFAULT_CORRECTOR_NOISE, gt=0, description="the corrector's first noise level σ/α, in units of the prior's R z")
    corrector_noise_min: float | None = Field(
        DEFAULT_CORRECTOR_NOISE_MIN, gt=0, description="its last level: levels are geometric from corrector_noise down to this (unset: corrector_noise every pass)"
    )
    seed: int = Field(0, description="random seed")
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, or auto (cuda when available)")
    atom_budget: int = Field(4096, ge=1, description="max atoms per batch (molecules of different sizes share batches)")
    split: str | None = Field(None, description="dataset split to sample when the input is a dataset directory (train/val/test; unset: all)")
    progress: bool = Field(True, description="show a progress bar")
    refine: RefineMethod = Field(
        "mmff", description="relax every sample with MMFF94 (UFF without MMFF parameters) after sampling (pipeline/sample/refine.py); none = raw samples"
    )
    refine_max_iters: int = Field(1000, ge=1, description="force-field iterations per conformer when refine != none")
    prune_rms: float | None = Field(
        None, gt=0, description="Å: drop a conformer within this heavy-atom RMSD (symmetry-aware) of a kept one, like RDKit's pruneRmsThresh (oversampled; unset: off)"
    )
    energy_window: float | None = Field(
        None, gt=0, description="kcal/mol: drop conformers more than this above the molecule's lowest (oversampled; needs refine; unset: off)"
    )
    oversample: float = Field(2.0, ge=1, description="with prune_rms / energy_window: draw this many times num_confs, then select")
    threads: int = Field(1, ge=0, description="torch intra-op threads when sampling on a CPU (0 = torch default; 1 is fastest for these small tensors)")
    stereo: StereoConfig = StereoConfig()
    steric: StericGuidanceConfig = Field(
        default_factory=StericGuidanceConfig, description="pull apart parts of a molecule folded onto each other (pipeline/sample/steric.py)"
    )
    torsion: TorsionGuidanceConfig = Field(
        default_factory=TorsionGuidanceConfig, description="turn rotatable bonds towards their torsion wells late in the trajectory (pipeline/sample/torsion.py)"
    )
    divergence: DivergenceConfig = DivergenceConfig()

    @model_validator(mode="after")
    def _bond_bounds(self) -> "SampleConfig":
        d = self.divergence
        if d.min_bond_length >= d.max_bond_length:
            raise ValueError("divergence.min_bond_length must be < divergence.max_bond_length")
        if self.energy_window is not None and self.refine == "none":
            raise ValueError("energy_window needs force-field energies: set refine (e.g. mmff), not none")
        corrector_levels(self.corrector_noise, self.passes, self.corrector_noise_min)  # the corrector's own check
        return self

    @property
    def passes(self) -> int:
        """The corrector passes made: ``corrector_passes`` when set, else ``DEFAULT_RELAXED_CORRECTOR_PASSES`` before a
        force-field relaxation and ``DEFAULT_CORRECTOR_PASSES`` for raw samples."""
        if self.corrector_passes is not None:
            return self.corrector_passes
        return DEFAULT_CORRECTOR_PASSES if self.refine == "none" else DEFAULT_RELAXED_CORRECTOR_PASSES

    @property
    def selects(self) -> bool:
        """Whether conformers are oversampled and selected (prune_rms / energy_window)."""
        return self.prune_rms is not None or self.energy_window is not None
