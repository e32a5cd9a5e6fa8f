"""Configuration of the validation stage (``configs/validate.yaml``).

Thresholds follow PoseBusters' molecule checks where they have one (bond lengths / angles within the
RDKit distance-geometry bounds widened by 25 %, clashes at 70 % of the lower bound, aromatic rings and
C=C double bonds flat to 0.25 Å); the energy check is ours: MMFF (UFF where MMFF has no parameters)
energy of the conformer minus that of a locally relaxed copy, per heavy atom.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pipeline.config import StrictModel

__all__ = ["CheckConfig", "MetricsConfig", "ValidateConfig", "CHECK_NAMES"]

#: every boolean check column, in the order they are reported
CHECK_NAMES: tuple[str, ...] = (
    "coordinates",
    "connectivity",
    "stereo_centres",
    "stereo_bonds",
    "bond_lengths",
    "bond_angles",
    "no_clash",
    "aromatic_flat",
    "double_bonds_flat",
    "energy",
)


class CheckConfig(StrictModel):
    """Per-conformer geometry checks (one boolean column each)."""

    bond_tolerance: float = Field(0.25, ge=0, description="bond length may leave the DG bounds by this fraction")
    angle_tolerance: float = Field(0.25, ge=0, description="1-3 distance may leave the DG bounds by this fraction")
    clash_tolerance: float = Field(0.3, ge=0, lt=1, description="non-bonded pairs may come to (1-x)·lower bound")
    ignore_hydrogens: bool = Field(True, description="bond/angle/clash checks on heavy atoms only (as PoseBusters)")
    flatness_tolerance: float = Field(0.25, gt=0, description="max distance (Å) of ring / double-bond atoms from their plane")
    connectivity_factor: float = Field(1.3, gt=1.0, description="covalent-radius factor for bond perception from 3D")
    energy: bool = Field(True, description="run the MMFF/UFF relaxed-copy energy check")
    energy_max_per_heavy_atom: float = Field(
        5.0, gt=0, description="max (E - E_relaxed) / heavy atoms, kcal/mol, for the energy check to pass"
    )
    energy_max_iters: int = Field(200, ge=1, description="force-field iterations for the local relaxation")
    valid_requires: list[str] = Field(
        default_factory=lambda: [c for c in CHECK_NAMES],
        description="checks that must pass for a conformer to count as valid (a check that could not run counts as failed)",
    )

    @field_validator("valid_requires")
    @classmethod
    def _known_checks(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(CHECK_NAMES))
        if unknown:
            raise ValueError(f"unknown checks {unknown}; known: {list(CHECK_NAMES)}")
        return v


class MetricsConfig(StrictModel):
    """Ensemble metrics against reference conformers (docs/design.md §5)."""

    delta: float = Field(0.75, gt=0, description="primary coverage threshold δ in Å (0.75 drug-like, 0.5 QM9-size)")
    extra_deltas: list[float] = Field(default_factory=lambda: [0.5, 0.1], description="also reported at these δ")
    curve_max: float = Field(2.0, gt=0, description="COV-vs-δ curve from 0 to this δ (Å)")
    curve_points: int = Field(41, ge=2)
    only_valid: bool = Field(True, description="only valid samples can cover a reference / count as precise")
    max_matches: int = Field(10000, ge=1, description="cap on symmetry-equivalent atom maps per molecule")

    @field_validator("extra_deltas")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(d <= 0 for d in v):
            raise ValueError("every δ must be > 0")
        return v

    @property
    def deltas(self) -> list[float]:
        """Primary δ first, then the extra ones (duplicates removed)."""
        out = [self.delta]
        for d in self.extra_deltas:
            if d not in out:
                out.append(d)
        return out


class ValidateConfig(StrictModel):
    """The validate stage: per-conformer checks, optional ensemble metrics, report."""

    checks: CheckConfig = Field(default_factory=CheckConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    workers: int = Field(0, ge=0, description="processes for checks and RMSD matrices (0 = all cores)")
    cache_dir: str = Field("bondiff-work/cache", description="where raw reference sets are ingested once (content-keyed)")
    table_format: Literal["csv", "parquet", "both"] = "both"
    plots: bool = True
    html: bool = True
