"""``PriorConfig``: how ``bondiff prior`` builds and calibrates the prior."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import StrictModel
from pipeline.prior.graph import LamMode

__all__ = ["PriorConfig", "CalibrationConfig", "FRAGMENTS_DEFAULT_RMS"]

#: Å: lone ion–rest rms distance that sets λ in ``lam_mode: fragments`` when ``calibration.fragment_rms`` is null
FRAGMENTS_DEFAULT_RMS = 5.0


class CalibrationConfig(StrictModel):
    """Calibration of ``c``, ``κ`` and ``λ`` against the dataset (closed form, see ``calibrate.py``).

    With ``PriorConfig.lam_mode: fragments`` (the default) λ touches only the fragment-centroid modes:
    c and κ are fitted as below on the intra-fragment statistics, where λ does not enter, and λ is
    ``3/(c fragment_rms²)`` in closed form (``fragment_rms`` null: ``FRAGMENTS_DEFAULT_RMS`` = 5 Å); ``fit_lam``,
    ``lam_min``/``lam_max``/``lam_grid`` are unused. The rest of this doc is ``lam_mode: identity``.

    ``c`` makes the prior's mean squared bonded distance equal the data's (``c_target="rg"``: the
    mean squared radius of gyration instead). The other statistic is matched by

    * ``fit_kappa`` (default): the bending term κ, found on ``[0] + geomspace(kappa_min, kappa_max,
      kappa_grid)`` and refined by bisection. λ only sets how far apart the fragments of a salt /
      multi-fragment input are sampled (a lone ion sits ``sqrt(3/(c λ))`` Å rms from a large rest):
      with ``fragment_rms`` (Å) it is the fixed point ``λ = 3/(c fragment_rms²)`` (c and κ refitted
      at each λ); when no λ reaches that target with bonds and Rg matched (the reachable minimum is
      reported as ``fragment_rms_min``: ≈ 12.5 Å on QM9, ≈ 23 Å on drug-like molecules), or with
      ``fragment_rms: null``, λ stays at its floor (``lam_min`` when ``fit_lam``, else
      ``PriorConfig.lam``);
    * else ``fit_lam``: λ on a log grid in ``[lam_min, lam_max]`` with κ = ``PriorConfig.kappa``
      (the pre-κ calibration; with κ = 0, λ ends at ``lam_min`` on real data, ``lam_at_bound``);
    * neither: only ``c`` is fitted (κ, λ from ``PriorConfig``).

    The remaining global scale ratio is reported as ``sigma_data``.
    """

    enabled: bool = True
    c_target: Literal["bonds", "rg"] = Field(
        "bonds", description="statistic c matches exactly: bonded distances (default) or radius of gyration"
    )
    fit_lam: bool = True
    lam_min: float = Field(0.05, gt=0, description="λ floor (ion–rest rms distance sqrt(3/(c λ))); lower end of the λ grid")
    lam_max: float = Field(10.0, gt=0)
    lam_grid: int = Field(61, ge=2, description="points of the log-spaced λ grid")
    fit_kappa: bool = Field(True, description="fit the bending term κ so that the prior's Rg matches the data's")
    kappa_min: float = Field(0.01, gt=0)
    kappa_max: float = Field(1000.0, gt=0)
    kappa_grid: int = Field(41, ge=2, description="points of the log-spaced κ grid (0 is always tried too)")
    fragment_rms: float | None = Field(
        None,
        gt=0,
        description="target rms distance (Å) of a lone ion from a large rest, λ = 3/(c r²). lam_mode fragments: "
        "closed form, null = 5 Å. lam_mode identity (with fit_kappa): a fixed point; unreachable targets and null "
        "keep λ at its floor (≈12.5 Å on QM9, ≈23 Å on drug-like sets is the closest reachable)",
    )
    max_molecules: int = Field(2000, ge=1, description="deterministic subsample used for calibration")
    split: str = Field("train", description="dataset split to calibrate on ('all' for every molecule)")

    @model_validator(mode="after")
    def _range(self) -> "CalibrationConfig":
        if self.lam_min >= self.lam_max:
            raise ValueError(f"lam_min ({self.lam_min}) must be < lam_max ({self.lam_max})")
        if self.kappa_min >= self.kappa_max:
            raise ValueError(f"kappa_min ({self.kappa_min}) must be < kappa_max ({self.kappa_max})")
        return self


class PriorConfig(StrictModel):
    """Config of the prior stage. ``c``/``kappa``/``lam`` are used as given when calibration is off."""

    c: float = Field(2.0, gt=0, description="J = c (L + κL² + λM); Å^-2")
    lam_mode: LamMode = Field(
        "fragments",
        description="M: 'fragments' (λ on the fragment-centroid modes only; connected molecules do not feel it) "
        "or 'identity' (M = I, the prior before 2026-11-23: λ also compacts every molecule)",
    )
    lam: float = Field(0.1, ge=0, description="λ (used when calibration is off or, identity mode, fit_lam is false)")
    kappa: float = Field(0.0, ge=0, description="κ, bending (used when calibration is off or fit_kappa is false)")
    weighted: bool = Field(False, description="bond-order-weighted Laplacian (default: unweighted)")
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    plots: bool = Field(True, description="write PNG plots (matplotlib)")
    plot_molecules: int = Field(300, ge=1, description="molecules sampled for the histograms")
    seed: int = 0
    out_dir: Path | None = Field(
        None, description="prior directory, where prior.json is written (default: <dataset parent>/priors/<dataset name>-<key>)"
    )

    def fragment_target(self) -> float | None:
        """The ``fragment_rms`` (Å) the calibration uses: fragments mode: the configured one or 5 Å; identity
        mode: the configured one with a κ fit, else None (λ is then fitted to Rg or fixed)."""
        cc = self.calibration
        if self.lam_mode == "fragments":
            return cc.fragment_rms if cc.fragment_rms is not None else FRAGMENTS_DEFAULT_RMS
        return cc.fragment_rms if cc.fit_kappa else None
