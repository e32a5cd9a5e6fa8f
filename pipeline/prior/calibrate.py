"""Calibrate ``c`` and ``λ`` of ``J = c (L + λI)`` so that prior samples match a dataset's scale.

Everything is closed-form, no sampling. With ``L = U diag(μ) Uᵀ`` (the eigenvectors of ``J`` do not
depend on ``c``, ``λ``), ``Σ = P U diag(1/(c(μ+λ))) Uᵀ P`` and for prior draws ``x = R z`` (3 axes):

* bonded distance:   ``E|x_i − x_j|² = (3/c) Σ_k (U_ik − U_jk)² / (μ_k + λ)``
* radius of gyration: ``E Rg² = (1/N) E Σ_i |x_i|² = (3/(cN)) Σ_k |P u_k|² / (μ_k + λ)``

(modes with zero weight — the centroid — are skipped, so ``λ = 0`` needs no special case for
connected graphs). Calibration

1. for each λ on a log grid, sets ``c(λ)`` so the mean squared bonded distance over all bonds equals
   the data's (mean over conformers) — or, with ``c_target="rg"``, so the mean ``Rg²`` does;
2. picks the λ whose other statistic (``Rg²``, resp. bonded distance) is closest (in log) to the data's.
   If the best λ is at an end of the grid that is reported (``lam_at_bound``): the data's compactness
   is outside what a Laplacian prior can reach with that grid.

Finding (QM9 sample, Hutchison drug-like set): with c fitted to bonds, the prior's Rg is 1.6–2.1×
smaller than the data's even at λ → 0 (a tree of zero-rest-length springs is a random walk, real
molecules are stiffer), so λ ends at ``lam_min`` and ``sigma_data = Rg_data/Rg_prior`` is reported
for the model's preconditioning. A bending term (``J = c(L + κL² + λI)``, same eigenvectors)
would let both statistics match; it is not part of the current contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from pipeline.prior.graph import _as_bonds, graph_laplacian
from pipeline.prior.params import PriorParams

__all__ = ["MoleculeModes", "molecule_modes", "DataScale", "data_scale", "CalibrationResult", "calibrate", "prior_scale", "scale_report"]


@dataclass(frozen=True)
class MoleculeModes:
    """Per-molecule mode weights for the closed-form prior statistics."""

    n_atoms: int
    n_bonds: int
    mu: np.ndarray  # [N] Laplacian eigenvalues
    bond_w: np.ndarray  # [N] Σ_bonds (U_ik − U_jk)²
    trace_w: np.ndarray  # [N] |P u_k|²


def molecule_modes(n_atoms: int, bonds: np.ndarray | None, weighted: bool = False) -> MoleculeModes:
    b = _as_bonds(n_atoms, bonds)
    mu, u = np.linalg.eigh(graph_laplacian(n_atoms, b, weighted))
    diff = u[b[:, 0]] - u[b[:, 1]]  # [B, N]
    pu = u - u.mean(axis=0, keepdims=True)
    return MoleculeModes(n_atoms, int(b.shape[0]), np.clip(mu, 0.0, None), (diff**2).sum(axis=0), (pu**2).sum(axis=0))


@dataclass(frozen=True)
class DataScale:
    """Per-molecule data statistics: sum over bonds of the mean squared length, mean ``Rg²``."""

    bond_d2_sum: float
    rg2: float


def data_scale(coords: np.ndarray, bonds: np.ndarray | None) -> DataScale:
    """``coords`` [K, N, 3] (all conformers of one molecule)."""
    x = np.asarray(coords, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    b = _as_bonds(x.shape[1], bonds)
    d2 = ((x[:, b[:, 0]] - x[:, b[:, 1]]) ** 2).sum(axis=-1)  # [K, B]
    return DataScale(float(d2.mean(axis=0).sum()) if b.shape[0] else 0.0, float((x**2).sum(axis=-1).mean()))


def _weighted_inverse(w: np.ndarray, mu: np.ndarray, lam: float) -> float:
    keep = w > 1e-12
    return float((w[keep] / (mu[keep] + lam)).sum())


def prior_scale(modes: Iterable[MoleculeModes], params: PriorParams) -> tuple[float, float]:
    """(mean squared bonded distance over all bonds, mean ``Rg²`` over molecules) of the prior."""
    modes = list(modes)
    n_bonds = sum(m.n_bonds for m in modes)
    bond = sum(_weighted_inverse(m.bond_w, m.mu, params.lam) for m in modes) * 3 / params.c
    rg2 = [3 / (params.c * m.n_atoms) * _weighted_inverse(m.trace_w, m.mu, params.lam) for m in modes]
    return (bond / n_bonds if n_bonds else float("nan")), float(np.mean(rg2))


def scale_report(modes: list[MoleculeModes], scales: list[DataScale], params: PriorParams) -> dict[str, Any]:
    """Data vs prior scale (root mean squares, Å) for ``params`` on these molecules."""
    n_bonds = sum(m.n_bonds for m in modes)
    prior_bond, prior_rg2 = prior_scale(modes, params)
    data_bond = sum(s.bond_d2_sum for s in scales) / n_bonds if n_bonds else float("nan")
    data_rg2 = float(np.mean([s.rg2 for s in scales]))
    ok = prior_rg2 > 0 and data_rg2 > 0
    return {
        "n_molecules": len(modes),
        "n_bonds": n_bonds,
        "data_bond_rms": float(np.sqrt(data_bond)),
        "prior_bond_rms": float(np.sqrt(prior_bond)),
        "data_rg_rms": float(np.sqrt(data_rg2)),
        "prior_rg_rms": float(np.sqrt(prior_rg2)),
        "rg_log_mismatch": float(abs(np.log(prior_rg2 / data_rg2))) if ok else float("nan"),
        "bond_log_mismatch": float(abs(np.log(prior_bond / data_bond))) if n_bonds and prior_bond > 0 else float("nan"),
        # s with E|x0|² = s² E|Rz|² (per atom): the data's global scale in units of the prior
        # (what an EDM-style preconditioner calls sigma_data)
        "sigma_data": float(np.sqrt(data_rg2 / prior_rg2)) if ok else float("nan"),
    }


@dataclass
class CalibrationResult:
    params: PriorParams
    stats: dict[str, Any] = field(default_factory=dict)


def calibrate(
    modes: list[MoleculeModes],
    scales: list[DataScale],
    weighted: bool,
    lam_grid: np.ndarray | None,
    fixed_lam: float,
    c_target: str = "bonds",
) -> CalibrationResult:
    """Fit ``c`` (and λ on ``lam_grid``, or ``fixed_lam`` when ``lam_grid`` is None); see module doc.

    ``c_target="bonds"`` (default) makes the mean squared bonded distance exact and picks λ for Rg;
    ``"rg"`` makes the mean Rg² exact (so ``sigma_data = 1``) and picks λ for the bonded distances.
    """
    if c_target not in ("bonds", "rg"):
        raise ValueError(f"c_target must be 'bonds' or 'rg', got {c_target!r}")
    if len(modes) != len(scales) or not modes:
        raise ValueError("calibration needs the same non-zero number of molecules and data statistics")
    n_bonds = sum(m.n_bonds for m in modes)
    if n_bonds == 0:
        raise ValueError("calibration needs bonds: no molecule of the calibration set has any")
    data_bond = sum(s.bond_d2_sum for s in scales) / n_bonds
    data_rg2 = float(np.mean([s.rg2 for s in scales]))
    if data_bond <= 0 or data_rg2 <= 0:
        raise ValueError("calibration needs non-degenerate coordinates (zero bonded distances or Rg in the data)")
    lams = np.array([fixed_lam]) if lam_grid is None else np.asarray(lam_grid, dtype=np.float64)

    mu = np.concatenate([m.mu for m in modes])
    bond_w = np.concatenate([m.bond_w for m in modes])
    trace_w = np.concatenate([m.trace_w for m in modes])
    mol = np.repeat(np.arange(len(modes)), [m.mu.shape[0] for m in modes])
    n_atoms = np.array([m.n_atoms for m in modes], dtype=np.float64)
    bkeep, tkeep = bond_w > 1e-12, trace_w > 1e-12  # skip the centroid mode (zero weight)
    curve = []
    for lam in lams:
        # both statistics at c = 1; each scales as 1/c
        bond1 = 3 * float((bond_w[bkeep] / (mu[bkeep] + lam)).sum()) / n_bonds
        per_mol = np.bincount(mol[tkeep], weights=trace_w[tkeep] / (mu[tkeep] + lam), minlength=len(modes))
        rg1 = float(np.mean(3 * per_mol / n_atoms))
        c = bond1 / data_bond if c_target == "bonds" else rg1 / data_rg2
        curve.append((float(lam), float(c), rg1 / c, bond1 / c))
    other = [(r, data_rg2) if c_target == "bonds" else (b, data_bond) for _, _, r, b in curve]
    mism = [abs(np.log(v / d)) if v > 0 else np.inf for v, d in other]
    best = int(np.argmin(mism))
    lam, c = curve[best][0], curve[best][1]
    params = PriorParams(c=c, lam=lam, weighted=weighted)
    stats = {
        **scale_report(modes, scales, params),
        "lam_fitted": lam_grid is not None,
        "lam_at_bound": bool(lam_grid is not None and best in (0, len(lams) - 1)),
        "c_target": c_target,
        "curve": [{"lam": l_, "c": c_, "prior_rg_rms": float(np.sqrt(r_)), "prior_bond_rms": float(np.sqrt(b_))} for l_, c_, r_, b_ in curve],
    }
    return CalibrationResult(params, stats)
