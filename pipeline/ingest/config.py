"""Configuration of the ingest stage (``configs/ingest.yaml``; every key can be overridden with ``--set``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from pipeline.config import StrictModel

__all__ = ["SplitFractions", "IngestConfig", "DEFAULT_ELEMENTS"]

DEFAULT_ELEMENTS = ["H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"]


class SplitFractions(StrictModel):
    """Fractions of *molecules* per split (conformers follow their molecule)."""

    train: float = Field(0.8, ge=0.0, le=1.0)
    val: float = Field(0.1, ge=0.0, le=1.0)
    test: float = Field(0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _sum_to_one(self) -> "SplitFractions":
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split fractions must sum to 1 (train + val + test = {total:g})")
        return self


class IngestConfig(StrictModel):
    """What ingest keeps and how it perceives bonds.

    Filters (``elements``, ``max_atoms``, ``min_charge``/``max_charge``) drop a record with a
    ``filtered`` entry in the manifest (never silently). ``default_charge`` is the net charge of
    xyz records that carry none (extended-xyz ``charge=``, a reference set's ``charges.txt`` and a
    SMILES template take precedence).
    """

    elements: list[str] = Field(default_factory=lambda: list(DEFAULT_ELEMENTS))
    max_atoms: int = Field(200, gt=0)
    min_charge: int = -4
    max_charge: int = 4
    default_charge: int = 0
    hueckel_fallback: bool = True  # retry rdDetermineBonds with the extended-Hückel connectivity when connect-the-dots fails
    add_hydrogens: bool = True  # SDF/MOL records without hydrogens get them (with coordinates); counted in the report
    smiles_templates: Path | None = Field(
        None, description="'SMILES NAME' lines: templates (bond orders, charges, stereo) for xyz records called NAME"
    )
    qm9: bool = Field(False, description="also read QM9 from the qm9pack package")
    qm9_limit: int | None = Field(None, gt=0, description="only the first N QM9 molecules (the smallest)")
    qm9_sample: int | None = Field(
        None, gt=0, description="a seeded random subset of N QM9 molecules (qm9pack.sample_indices)"
    )
    qm9_seed: int = Field(0, description="seed of the random QM9 subset (a larger N with the same seed is a superset)")
    splits: SplitFractions = Field(default_factory=SplitFractions)
    split_salt: str = "bondiff-split-v1"  # changing it reshuffles the splits
    workers: int = Field(0, ge=0, description="processes for bond perception (0 = all cores)")
    chunk_size: int = Field(64, gt=0)  # records per task sent to a worker
    serial_below: int = Field(400, ge=0)  # fewer records than this: perceive in-process (no pool start-up)

    @field_validator("elements")
    @classmethod
    def _known_elements(cls, v: list[str]) -> list[str]:
        from pipeline.ingest.elements import atomic_number

        for sym in v:
            if atomic_number(sym) is None:
                raise ValueError(f"unknown element {sym!r}")
        return v

    @model_validator(mode="after")
    def _charge_range(self) -> "IngestConfig":
        if self.min_charge > self.max_charge:
            raise ValueError(f"min_charge {self.min_charge} > max_charge {self.max_charge}")
        if self.qm9_limit is not None and self.qm9_sample is not None:
            raise ValueError("qm9_limit (the first N) and qm9_sample (a random N) exclude each other")
        return self
