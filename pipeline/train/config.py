"""``TrainConfig``: the typed config of ``bondiff train`` (YAML: configs/train_tiny.yaml, train_base.yaml)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pipeline.config import StrictModel
from pipeline.diffusion.config import SamplerConfig, ScheduleConfig
from pipeline.model.registry import DEFAULT_KIND
from pipeline.model.spec import FeatureConfig, NetConfig, net_preset

__all__ = ["ModelConfig", "OptimConfig", "TwistConfig", "LossConfig", "EvalConfig", "TrainConfig"]


class ModelConfig(StrictModel):
    """The network (a typed section tagged by ``kind``, e.g. ``net: {kind: pairnet, preset: base}``), features,
    noise schedule and data scale.

    Configs written before the network registry (``size: tiny|base`` + ``overrides: {...}``) are read as
    ``net: {kind: e3nn, preset: size, ...overrides}``.
    """

    net: NetConfig = Field(default_factory=lambda: net_preset("tiny", kind=DEFAULT_KIND), description="network kind and its settings")
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    sigma_data: float = Field(1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _legacy_size_overrides(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("size" in data or "overrides" in data):
            if "net" in data:
                raise ValueError("give either net (typed network section) or the legacy size/overrides, not both")
            data = dict(data)
            size, overrides = data.pop("size", "tiny"), data.pop("overrides", None) or {}
            data["net"] = {"kind": "e3nn", "preset": size, **overrides}
        return data

    @property
    def size(self) -> str:
        """The preset the network started from (``custom`` when none)."""
        return self.net.preset or "custom"


class OptimConfig(StrictModel):
    """AdamW with linear warm-up then cosine decay to ``lr * min_lr_ratio``; global-norm clipping."""

    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = Field(100, ge=0)
    min_lr_ratio: float = Field(0.05, ge=0, le=1)
    grad_clip: float = Field(1.0, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)


class TwistConfig(StrictModel):
    """Torsion twists of low-noise training examples (``pipeline.train.twist``): the input is noised from x₀ with
    some rotatable bonds turned, the target is x₀; validation losses are never twisted."""

    probability: float = Field(0.0, ge=0, le=1, description="share of the molecules drawn at σ/α ≤ max_noise that are twisted (0 = off)")
    max_noise: float = Field(0.25, gt=0, description="only training examples with σ_t/α_t at most this are twisted")
    max_bonds: int = Field(3, ge=1, description="a twisted molecule has 1 to this many of its rotatable bonds turned")
    min_angle: float = Field(10.0, ge=0, le=180, description="degrees")
    max_angle: float = Field(45.0, ge=0, le=180, description="degrees; each turn is ±U(min_angle, max_angle)")
    scale_with_noise: bool = Field(
        False,
        description="scale each turn by (σ_t/α_t) / max_noise: full turns at max_noise, small ones near the clean end, where a "
        "turn the network cannot tell from a real torsion would blur its x̂₀ (averaged sides: shortened bonds)",
    )

    @model_validator(mode="after")
    def _angles(self) -> "TwistConfig":
        if self.max_angle < self.min_angle:
            raise ValueError(f"twist.max_angle ({self.max_angle}) < twist.min_angle ({self.min_angle})")
        return self


class LossConfig(StrictModel):
    """x̂₀ loss; see ``pipeline.train.loss`` for the weighting and the t-sampling."""

    metric: Literal["euclidean", "whitened"] = Field(
        "whitened", description="error of x̂₀: Euclidean (Å²) or whitened ‖R⁺(x̂₀ − x₀)‖² (Σ⁻¹ metric, stiff modes count)"
    )
    aux_distance: float = Field(1.0, ge=0, description="weight of the 1-2/1-3/1-4 distance loss (× α_t²); 0 = off")
    weighting: Literal["edm", "uniform"] = "edm"
    max_weight: float = Field(100.0, gt=0, description="cap of the EDM weight 1/c_out² (≈ 1 + SNR)")
    t_sampling: Literal["stratified", "uniform"] = "stratified"
    t_buckets: int = Field(4, ge=1, description="loss is also logged per t-bucket")
    twist: TwistConfig = Field(default_factory=TwistConfig, description="torsion twists of low-noise training inputs")


class EvalConfig(StrictModel):
    """Periodic validation loss and quick sample validity (bonded distances within tolerance)."""

    every: int = Field(200, ge=0, description="steps between evaluations (0 = only at the end)")
    val_molecules: int = Field(64, ge=1)
    val_pick: Literal["first", "spaced"] = Field(
        "spaced",
        description="which val_molecules of the validation split: evenly spaced over it (a packed set lists its parts "
        "in order), or its first ones (what campaigns v2 / v3 started with; kept there so their curves stay continuous)",
    )
    sample_molecules: int = Field(8, ge=0)
    sampler: SamplerConfig = Field(default_factory=lambda: SamplerConfig(method="ddim", steps=20))
    bond_tolerance: float = Field(0.1, gt=0, description="Å; |d - d_ref| allowed per bond")


class TrainConfig(StrictModel):
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    seed: int = 0
    max_steps: int = Field(1000, ge=1)
    atom_budget: int = Field(2000, ge=1, description="atoms per batch (per process)")
    repeats: int = Field(1, ge=1, description="times each molecule appears per epoch (tiny datasets)")
    size_window: int = Field(
        0, ge=0,
        description="sort each run of this many molecules by size before packing batches, budget in padded atoms "
        "(dense networks such as pairnet; 0 = off)",
    )
    train_split: str = "train"
    val_split: str = "val"
    max_atoms: int = Field(256, ge=1, description="molecules larger than this are skipped (reported)")
    checkpoint_every: int = Field(500, ge=1)
    init_from: str | None = Field(
        None,
        description="fine-tune: start from this model's EMA weights ('shipped', a model dir, a checkpoint file or "
        "models:/...); its network, features, prior and schedule are used, the model section is ignored",
    )
    cpu_budget_s: float | None = Field(
        None, gt=0,
        description="end this stretch after this many CPU-seconds of training steps (this process; evaluation excluded), "
        "then evaluate, checkpoint and write the model as at max_steps; --resume continues (None = run to max_steps)",
    )
    log_every: int = Field(10, ge=1)
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="torch device (auto = CUDA if present)")
    bf16: bool = Field(True, description="bf16 autocast (used on CUDA only)")
    register_model: bool = Field(True, description="register the final EMA model in MLflow (CLI)")
    cpu_threads: int = Field(0, ge=0, description="torch intra-op threads on CPU (0 = torch default)")
    feature_cache: bool = Field(True, description="keep featurized molecules in OUT/cache (train later without RDKit)")

    @classmethod
    def from_checkpoint_json(cls, text: str) -> "TrainConfig":
        """The config a checkpoint stored; one saved before ``eval.val_pick`` existed evaluated its split's first
        molecules, and keeps doing so."""
        import json

        raw = json.loads(text)
        raw.setdefault("eval", {}).setdefault("val_pick", "first")
        return cls.model_validate(raw)

