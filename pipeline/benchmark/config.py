"""Configuration of ``bondiff benchmark`` (``configs/benchmark.yaml``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from pipeline.config import StrictModel
from pipeline.validate.config import ValidateConfig

__all__ = ["BondiffSamplerConfig", "BenchmarkConfig", "KNOWN_SAMPLERS"]

KNOWN_SAMPLERS = ("bondiff", "bondiff-mmff", "etkdg", "etkdg-mmff")


class BondiffSamplerConfig(StrictModel):
    """How the ``bondiff`` sampler calls ``pipeline.api.generate_conformers``."""

    model: str | None = Field(None, description="model dir / checkpoint / models:/ URI; 'latest' = latest registered; None = the shipped model")
    sampler: str | None = Field(None, description="None = bondiff sample's default (SampleConfig.sampler)")
    steps: int | None = Field(None, ge=1, description="None = the API's default")
    device: str | None = None
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="further SampleConfig fields for the API, e.g. {stereo: {mirror_fix: false}, divergence: {retry_wrong_stereo: false}} "
        "to score a network's raw stereo",
    )

    @field_validator("settings")
    @classmethod
    def _settings_are_sample_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        from pipeline.sample.config import SampleConfig

        SampleConfig.model_validate(value)  # unknown keys / wrong types are errors here, before any baseline runs
        return value


class BenchmarkConfig(StrictModel):
    """Samplers scored side by side on the same molecules, sample count and machine."""

    samplers: list[str] = Field(
        default_factory=lambda: ["bondiff", "etkdg", "etkdg-mmff"], description=f"samplers to score, of {', '.join(KNOWN_SAMPLERS)}"
    )
    samples_per_reference: int = Field(2, ge=1, description="generate this many × K conformers for K references")
    limit: int | None = Field(None, ge=1, description="only the first N reference molecules (after the split filter)")
    split: str | None = Field(None, description="only molecules of this dataset split (train/val/test; unset: all)")
    seed: int = Field(42, ge=1, description="RDKit seed (> 0: with randomSeed=0 RDKit 2026.09 gives identical conformers)")
    mmff_max_iters: int = Field(2000, ge=1, description="etkdg-mmff: MMFF optimisation iterations")
    bondiff: BondiffSamplerConfig = Field(default_factory=BondiffSamplerConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")

    model_config = {**StrictModel.model_config, "populate_by_name": True}

    @field_validator("samplers")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [s for s in v if s not in KNOWN_SAMPLERS]
        if unknown:
            raise ValueError(f"unknown samplers {unknown}; known: {list(KNOWN_SAMPLERS)}")
        if not v:
            raise ValueError("give at least one sampler")
        return list(dict.fromkeys(v))
