"""``ModelSpec``: everything needed to rebuild a trained denoiser and sample from it.

A spec travels with the weights (``spec.json`` in a model dir, a dict inside checkpoints, the
registered MLflow model): network hyperparameters, feature config, the prior parameters, the noise
schedule, the data scale used by the preconditioning and the largest molecule seen in training.
Two size presets: ``tiny`` (tests; seconds on CPU) and ``base`` (real training).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pipeline.config import StrictModel
from pipeline.diffusion.config import ScheduleConfig
from pipeline.prior.params import PriorParams

__all__ = ["FeatureConfig", "NetConfig", "ModelSpec", "net_preset", "SPEC_VERSION"]

SPEC_VERSION = 1


class FeatureConfig(StrictModel):
    """Which atom/pair features the featurizer produces (changing it changes the input layout)."""

    elements: list[int] = Field(default_factory=lambda: [1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 35, 53])
    max_hops: int = Field(6, ge=1, le=32)


class NetConfig(StrictModel):
    """Hyperparameters of the e3nn message-passing network."""

    num_layers: int = Field(3, ge=1)
    scalars: int = Field(32, ge=1, description="channels of even scalars (0e)")
    pseudoscalars: int = Field(8, ge=1, description="channels of odd scalars (0o); carry chirality")
    vectors: int = Field(8, ge=1, description="channels of each of 1o and 1e")
    tensors: int = Field(0, ge=0, description="channels of each of 2e and 2o (0 = lmax 1 features)")
    lmax: int = Field(2, ge=1, le=3, description="spherical-harmonics degree of edge directions")
    num_basis: int = Field(16, ge=2, description="radial Gaussians on [0, r_max]")
    r_max: float = Field(8.0, gt=0, description="Å; range of the radial basis")
    edge_hidden: int = Field(32, ge=1)
    time_dim: int = Field(16, ge=2, description="Fourier features of log-SNR")
    fc_max_atoms: int = Field(64, ge=2, description="molecules up to this size use all atom pairs")
    cutoff: float = Field(6.0, gt=0, description="Å; above fc_max_atoms: pairs closer than this + bonds")


_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(num_layers=2, scalars=16, pseudoscalars=4, vectors=4, tensors=0, lmax=1, num_basis=8, edge_hidden=16, time_dim=8),
    "base": dict(num_layers=5, scalars=64, pseudoscalars=16, vectors=32, tensors=8, lmax=2, num_basis=16, edge_hidden=64, time_dim=32),
}


def net_preset(name: str, **overrides: Any) -> NetConfig:
    """``tiny`` or ``base`` network config, with optional overrides."""
    if name not in _PRESETS:
        raise ValueError(f"unknown model size {name!r}; choose one of {sorted(_PRESETS)}")
    return NetConfig(**{**_PRESETS[name], **overrides})


class ModelSpec(StrictModel):
    """Spec of a trained (or to-be-trained) denoiser."""

    spec_version: int = SPEC_VERSION
    size: Literal["tiny", "base", "custom"] = "tiny"
    net: NetConfig = Field(default_factory=lambda: net_preset("tiny"))
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    prior: PriorParams = Field(default_factory=PriorParams)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    sigma_data: float = Field(1.0, gt=0, description="data std in units of the calibrated prior (precond.)")
    max_atoms: int = Field(0, ge=0, description="largest molecule the model accepts: the training config's max_atoms (info.max_train_atoms = largest seen; 0 = unknown)")
    info: dict[str, Any] = Field(default_factory=dict, description="free-form provenance (dataset hash, steps)")

    def build_schedule(self):
        """The noise schedule object (``pipeline.diffusion.Schedule``)."""
        return self.schedule.build()
