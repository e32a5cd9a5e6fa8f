"""Steric guidance inside the sampler: late in the trajectory, pull apart parts of a molecule that
the denoiser folded onto each other, and flatten twisted double bonds.

The raw samples' commonest fault is not local (bond lengths and angles are good to a few hundredths
of an Å) but global: two parts of a molecule, four or more bonds apart, interpenetrating (MMFF strain
of the failing raw samples is mostly van der Waals). The network predicts a mean x̂₀ and has no
notion of an excluded volume. Distance geometry does (ETKDG's lower bounds), so the guidance uses the
same bounds:

* **pairs**: atom pairs at least ``min_bonds_apart`` bonds apart, each with its RDKit
  distance-geometry lower bound (:func:`pipeline.chem.bounds_matrix`, the bounds the validation's clash check
  uses); and the molecule's 1-2 and 1-3 pairs (its bonds and angles);
* **flat groups** (``flat_double_bonds``): every C=C with its four substituents (the six atoms of an
  sp² double bond lie in one plane; the network twists crowded ones, e.g. tetra-aryl alkenes);
* **projection** (:func:`project`): ``iterations`` rounds of averaged (Jacobi) projections, as in
  distance-geometry embedding: every pair closer than ``margin`` × its lower bound is moved apart to it,
  every flat group's atoms onto its least-squares plane, then every 1-2 / 1-3 distance back to its value
  in x̂₀, so the network's local geometry is kept while the folded parts separate — clamped into its
  distance-geometry bounds widened by ``local_slack`` (the network leaves a few bonds of crowded molecules
  0.1–0.2 Å off; those are pulled back, the rest kept), at noise levels σ/α ≤ ``local_onset_noise`` down to
  ``flat_stop_noise`` (earlier, it would hold the bonds the stereo guidance stretches while turning a centre);
* :class:`StericDenoiser` replaces x̂₀ by ``x̂₀ + strength · (project(x̂₀) − x̂₀)`` at network evaluations
  with ``stop < t ≤ onset``, where ``stop`` is the time of the noise level ``stop_noise`` (σ/α, prior
  units, like the corrector's levels). Below it the far pairs are left to the network, which repairs
  the local geometry the projection bent, from a sample whose parts no longer overlap; the flat groups
  are still flattened down to ``flat_stop_noise`` (default 0: every evaluation, since the network's last
  evaluations twist crowded C=C again).

Equivariant (distances only), no force field, one pass over the pairs per round: a few per cent of the
network's cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from pydantic import Field

from pipeline.chem import FLAT_DOUBLE_BONDS, bounds_matrix
from pipeline.config import StrictModel
from pipeline.sample.x0_guidance import X0Guidance, batch_index, batch_values

__all__ = ["StericGuidanceConfig", "StericPairs", "steric_pairs", "project", "StericDenoiser", "stop_time"]


class StericGuidanceConfig(StrictModel):
    """Steric guidance in the sampler (``steric``)."""

    enabled: bool = Field(True, description="separate distant atom pairs closer than their distance-geometry lower bound")
    strength: float = Field(1.0, ge=0, le=1, description="fraction of the projection's displacement applied to x̂₀")
    onset: float = Field(0.5, gt=0, le=1, description="guide only at diffusion times t <= onset (t = 1 is the prior, 0 the data)")
    stop_noise: float = Field(
        0.05, ge=0, description="no guidance at noise levels σ/α below this (prior units): the last evaluations repair the local geometry"
    )
    margin: float = Field(1.0, gt=0, le=1.1, description="required distance as a fraction of the pair's distance-geometry lower bound")
    min_bonds_apart: int = Field(4, ge=3, description="pairs at least this many bonds apart are checked")
    flat_double_bonds: bool = Field(True, description="also bring every C=C and its four substituents onto one plane")
    flat_stop_noise: float | None = Field(
        0.0, ge=0, description="flatten the C=C groups down to this noise level σ/α (0: to the last evaluation; unset: stop_noise, as the far pairs)"
    )
    local_slack: float | None = Field(
        0.08, gt=0,
        description="Å: keep every 1-2 / 1-3 distance at its value in x̂₀ clamped into its distance-geometry bounds "
        "widened by this (instead of at its value), from local_onset_noise down to flat_stop_noise; null = off",
    )
    local_onset_noise: float | None = Field(
        0.1, gt=0, description="local_slack acts at noise levels σ/α at or below this (null: from onset on)"
    )
    iterations: int = Field(100, ge=1, description="rounds of the projection per guided evaluation (it stops early once no pair is too close)")


@dataclass(frozen=True)
class StericPairs:
    """One molecule's pairs (local atom indices)."""

    far: np.ndarray  # [P, 2] pairs at least min_bonds_apart bonds apart
    lower: np.ndarray  # [P] their distance-geometry lower bounds, Å
    local: np.ndarray  # [L, 2] 1-2 and 1-3 pairs
    flat: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), dtype=np.int64))  # [G, 6] C=C with substituents
    local_bounds: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # [L, 2] their DG lower / upper bounds, Å


def steric_pairs(mol: Any, min_bonds_apart: int = 4) -> StericPairs:
    """The pairs of ``mol`` (hydrogens explicit). Atoms in different fragments count as far apart."""
    from rdkit import Chem

    n = mol.GetNumAtoms()
    bounds = bounds_matrix(mol)  # lower bounds below the diagonal
    topo = np.asarray(Chem.GetDistanceMatrix(mol), dtype=np.float64)  # 1e8 between fragments
    i, j = np.triu_indices(n, 1)
    hops = topo[i, j]
    far = hops >= min_bonds_apart
    local = (hops >= 1) & (hops <= 2)
    flat = sorted({tuple(m) for smarts in FLAT_DOUBLE_BONDS for m in mol.GetSubstructMatches(Chem.MolFromSmarts(smarts))})
    return StericPairs(np.stack([i[far], j[far]], axis=1), bounds[j[far], i[far]], np.stack([i[local], j[local]], axis=1),
                       np.asarray(flat, dtype=np.int64).reshape(-1, 6),
                       np.stack([bounds[j[local], i[local]], bounds[i[local], j[local]]], axis=1))


def _flatten(x: Any, groups: Any, tol: float) -> tuple[Any, bool]:
    """Averaged displacements moving each group's atoms onto its least-squares plane (groups with an atom
    farther than ``tol`` Å from it only)."""
    import torch

    p = x[groups]  # [G, 6, 3]
    finite = torch.isfinite(p).all(dim=2).all(dim=1)  # a diverged sample's groups are left to the divergence guard
    c = torch.where(finite[:, None, None], p - p.mean(dim=1, keepdim=True), torch.zeros_like(p))
    normal = torch.linalg.svd(c, full_matrices=False).Vh[:, -1]  # [G, 3]
    h = (c * normal[:, None]).sum(-1)  # [G, 6] signed heights
    active = ((h.abs().amax(dim=1) > tol) & finite).to(x.dtype)
    move = -(h * active[:, None])[..., None] * normal[:, None]
    step = torch.zeros_like(x).index_add_(0, groups.reshape(-1), move.reshape(-1, 3))
    count = torch.zeros(len(x), dtype=x.dtype, device=x.device).index_add_(0, groups.reshape(-1), active.repeat_interleave(groups.shape[1]))
    return step / count.clamp_min(1.0)[:, None], bool(active.any())


def _jacobi(x: Any, i: Any, j: Any, target: Any, only_closer: bool) -> tuple[Any, bool]:
    """Averaged displacements moving each pair (i, j) to ``target`` (only pairs closer than it when
    ``only_closer``): half the gap to each atom, each atom's moves averaged over its active pairs."""
    import torch

    v = x[i] - x[j]
    d = v.norm(dim=-1).clamp_min(1e-6)
    gap = target - d
    if only_closer:
        gap = gap.clamp_min(0.0)
    active = (gap.abs() > 1e-4).to(x.dtype)
    half = v * (0.5 * gap / d)[:, None]
    step = torch.zeros_like(x).index_add_(0, i, half).index_add_(0, j, -half)
    count = torch.zeros(len(x), dtype=x.dtype, device=x.device).index_add_(0, i, active).index_add_(0, j, active)
    return step / count.clamp_min(1.0)[:, None], bool(active.any())


def project(x: Any, far: Any, lower: Any, local: Any, iterations: int, reach: float = 1.0, flat: Any = None, flat_tol: float = 0.05,
            local_range: Any = None) -> Any:
    """``x`` [A, 3] with far pairs pushed out to ``lower`` and the ``local`` pairs kept at their
    distances in ``x``, and the ``flat`` groups [G, 6] within ``flat_tol`` Å of their planes (module
    docstring); ``x`` itself when nothing is violated. Only far pairs within ``lower + reach`` Å at the
    start take part (the projection moves atoms by less than that). Non-finite coordinates (a diverged
    sample, redrawn later by the divergence guard) stay as they are and do not spread. ``local_range``
    [L, 2] (min, max): each local pair is kept at its distance in ``x`` clamped into it (``local_slack``)."""
    import torch

    x = x.clone()
    li, lj = local[:, 0], local[:, 1]
    keep = (x[li] - x[lj]).norm(dim=-1)
    outside = False
    if local_range is not None and len(local_range):
        rng = local_range.to(keep.dtype)
        clamped = torch.minimum(torch.maximum(keep, rng[:, 0]), rng[:, 1])
        outside = bool(((clamped - keep).abs() > 1e-4).any())
        keep = clamped
    near = (x[far[:, 0]] - x[far[:, 1]]).norm(dim=-1) < lower + reach  # the candidates: the rest cannot get in reach
    has_flat = flat is not None and len(flat) > 0
    if not bool(near.any()) and not has_flat and not outside:
        return x
    fi, fj, lower = far[near, 0], far[near, 1], lower[near]
    for _ in range(iterations):
        step, moved = _jacobi(x, fi, fj, lower, True)
        x = x + step
        if has_flat:
            step, bent = _flatten(x, flat, flat_tol)
            x = x + step
            moved = moved or bent
        step, _ = _jacobi(x, li, lj, keep, False)
        x = x + step
        if not moved and (step.numel() == 0 or float(torch.nan_to_num(step).abs().max()) < 1e-3):  # nothing violated, local distances back
            break
    return x


class StericDenoiser(X0Guidance):
    """Wraps a denoiser: ``x̂₀`` with the steric projection for one batch of molecules.

    ``pairs[i]`` belong to the i-th molecule of the batch, whose atoms start at ``offsets[i]``;
    ``t_stop``: the time of ``cfg.stop_noise`` under the sampler's schedule.
    """

    def __init__(self, denoiser: Callable[..., Any], pairs: Sequence[StericPairs], offsets: Sequence[int],
                 cfg: StericGuidanceConfig, t_stop: float, t_flat_stop: float | None = None, t_local_onset: float = 1.0):
        super().__init__(denoiser)
        self.cfg, self.t_stop = cfg, float(t_stop)
        self.t_flat_stop = self.t_stop if t_flat_stop is None else float(t_flat_stop)
        self.t_local_onset = float(t_local_onset)
        self.far = batch_index([p.far for p in pairs], offsets, 2)
        self.local = batch_index([p.local for p in pairs], offsets, 2)
        self.margin_lower = batch_values([p.lower for p in pairs]) * cfg.margin
        self.flat = batch_index([p.flat for p in pairs] if cfg.flat_double_bonds else [], offsets, 6)
        self.local_range = None
        if cfg.local_slack is not None:
            import torch

            b = batch_values([p.local_bounds.reshape(-1) for p in pairs]).reshape(-1, 2)
            self.local_range = torch.stack([b[:, 0] - cfg.local_slack, b[:, 1] + cfg.local_slack], dim=1)

    def _window(self, t: float) -> tuple[bool, bool, bool]:
        """Which parts act at ``t``: (far pairs, flat groups, bond clamp) — one home for the time windows."""
        if t > self.cfg.onset or self.cfg.strength == 0:
            return False, False, False
        late = t > self.t_flat_stop
        return (t > self.t_stop and len(self.far) > 0, late and len(self.flat) > 0,
                late and t <= self.t_local_onset and self.local_range is not None and len(self.local_range) > 0)

    def acts_at(self, t: float) -> bool:
        return any(self._window(t))

    def correction(self, pos: Any, t: float) -> Any:
        dev = pos.device
        far_on, flat_on, clamp_on = self._window(t)
        far, lower = (self.far, self.margin_lower) if far_on else (self.far[:0], self.margin_lower[:0])
        flat = self.flat if flat_on else self.flat[:0]
        rng = self.local_range.to(dev) if clamp_on else None
        moved = project(pos, far.to(dev), lower.to(dev), self.local.to(dev), self.cfg.iterations, flat=flat.to(dev), local_range=rng)
        return self.cfg.strength * (moved - pos)


def stop_time(schedule: Any, stop_noise: float) -> float:
    """The diffusion time of the noise level σ/α = ``stop_noise`` (0 for 0: guide to the end)."""
    import torch

    if stop_noise <= 0:
        return 0.0
    return float(schedule.t_from_log_snr(torch.tensor(-2.0 * math.log(stop_noise), dtype=torch.float64)))
