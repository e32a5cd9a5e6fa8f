"""``ModelSpec``: everything needed to rebuild a trained denoiser and sample from it.

A spec travels with the weights (``spec.json`` in a model dir, a dict inside checkpoints, the
registered MLflow model): network hyperparameters, feature config, the prior parameters, the noise
schedule, the data scale used by the preconditioning and the largest molecule seen in training.
The network section is tagged by ``kind`` (``e3nn``: the shipped model's network; ``pairnet``: the
dense pair network built for CPU cost, :mod:`pipeline.model.pairnet`); :mod:`pipeline.model.registry`
builds either from a spec. Each kind has two size presets: ``tiny`` (tests; seconds on CPU) and
``base`` (real training). A spec without ``kind`` (written before the registry) is an e3nn spec.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Discriminator, Field, Tag, model_validator

from pipeline.config import StrictModel
from pipeline.diffusion.config import ScheduleConfig
from pipeline.prior.params import PriorParams

__all__ = ["FeatureConfig", "NetConfig", "E3nnNetConfig", "PairNetConfig", "NET_CONFIGS", "ModelSpec", "net_preset", "SPEC_VERSION"]

SPEC_VERSION = 1


class FeatureConfig(StrictModel):
    """Which atom/pair features the featurizer produces (changing it changes the input layout)."""

    elements: list[int] = Field(
        default_factory=lambda: [1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 35, 53],
        description="atomic numbers with their own element class (any other element shares one 'other' class); "
        "the list of elements a model knows: sampling refuses a bonded atom of another element",
    )
    max_hops: int = Field(6, ge=1, le=32)
    dg_bounds: bool = Field(
        False, description="also store RDKit's distance-geometry lower/upper bounds of every atom pair (pairnet needs them)"
    )


class _NetBase(StrictModel):
    """Common part of every network kind: ``preset`` fills the keys not given explicitly."""

    preset: str | None = Field(None, description="size preset the other keys start from (explicit keys win)")

    _PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") is not None:
            name = data["preset"]
            if name not in cls._PRESETS:
                raise ValueError(f"unknown preset {name!r} for net kind {data.get('kind')!r}; choose one of {sorted(cls._PRESETS)}")
            data = {**cls._PRESETS[name], **data}
        return data


class E3nnNetConfig(_NetBase):
    """Hyperparameters of the e3nn message-passing network (``kind: e3nn``, the shipped model's network)."""

    kind: Literal["e3nn"] = "e3nn"
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

    _PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(num_layers=2, scalars=16, pseudoscalars=4, vectors=4, tensors=0, lmax=1, num_basis=8, edge_hidden=16, time_dim=8),
        "base": dict(num_layers=5, scalars=64, pseudoscalars=16, vectors=32, tensors=8, lmax=2, num_basis=16, edge_hidden=64, time_dim=32),
    }


class PairNetConfig(_NetBase):
    """The dense pair network (``kind: pairnet``, :mod:`pipeline.model.pairnet`): a graph encoder run once per
    molecule (atom + pair embeddings from the 2D graph and distance-geometry bounds) and a PaiNN-style geometry
    network (scalar + vector channels, chirality through signed-volume gradients) run per step on dense
    per-molecule pair tensors."""

    kind: Literal["pairnet"] = "pairnet"
    num_layers: int = Field(3, ge=1, description="geometry (message-passing) layers")
    channels: int = Field(64, ge=4, description="scalar channels = vector channels per atom")
    pair_dim: int = Field(32, ge=4, description="pair embedding width of the graph encoder")
    filter_hidden: int = Field(16, ge=2, description="hidden width of the per-pair filter (the per-step pair cost)")
    heads: int = Field(8, ge=1, description="filter heads per message type; channels must be a multiple")
    num_rbf: int = Field(16, ge=2, description="radial Gaussians on [0, r_max]")
    r_max: float = Field(10.0, gt=0, description="Å; range of the radial basis")
    num_bound_rbf: int = Field(8, ge=0, description="Gaussians of (r - DG-bounds midpoint) / half-width")
    time_dim: int = Field(16, ge=2, description="Fourier features of log-SNR")

    _PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(num_layers=2, channels=16, pair_dim=8, filter_hidden=8, heads=4, num_rbf=8, num_bound_rbf=4, time_dim=8),
        "base": dict(num_layers=3, channels=64, pair_dim=32, filter_hidden=16, heads=8, num_rbf=16, num_bound_rbf=8, time_dim=16),
    }

    @model_validator(mode="after")
    def _heads_divide_channels(self) -> "PairNetConfig":
        if self.channels % self.heads:
            raise ValueError(f"channels ({self.channels}) must be a multiple of heads ({self.heads})")
        return self


def _net_kind(value: Any) -> str:
    """Tag of a net config; specs written before the registry have no ``kind``: they are e3nn."""
    if isinstance(value, dict):
        return value.get("kind", "e3nn")
    return getattr(value, "kind", "e3nn")


NetConfig = Annotated[
    Union[Annotated[E3nnNetConfig, Tag("e3nn")], Annotated[PairNetConfig, Tag("pairnet")]],
    Discriminator(_net_kind),
]
NET_CONFIGS: dict[str, type[_NetBase]] = {"e3nn": E3nnNetConfig, "pairnet": PairNetConfig}


def net_preset(name: str, kind: str = "e3nn", **overrides: Any):
    """The ``name`` preset (``tiny`` / ``base``) of network ``kind``, with optional overrides."""
    if kind not in NET_CONFIGS:
        raise ValueError(f"unknown network kind {kind!r}; choose one of {sorted(NET_CONFIGS)}")
    return NET_CONFIGS[kind](preset=name, **overrides)


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

    @model_validator(mode="after")
    def _features_for_net(self) -> "ModelSpec":
        if self.net.kind == "pairnet" and not self.features.dg_bounds:  # the pair network reads the DG bounds
            self.features = self.features.model_copy(update={"dg_bounds": True})
        return self

    def build_schedule(self):
        """The noise schedule object (``pipeline.diffusion.Schedule``)."""
        return self.schedule.build()
