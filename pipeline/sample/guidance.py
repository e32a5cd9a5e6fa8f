"""Stereo guidance inside the sampler: late in the trajectory, nudge x̂₀ of samples whose stereo
sign is wrong towards the right sign.

The constraints come from the graph, in the model's own conventions (:mod:`pipeline.model.features`):

* every specified tetrahedral centre: the signed volume ``det[p1 − p0, p2 − p0, p3 − p0]`` of its
  neighbours in canonical-rank order (three neighbours: the centre is ``p0``) must have the sign of
  ``chirality_targets``. With four neighbours this volume is the alternating sum of the four volumes
  ``det[q_a, q_b, q_d]`` (``q = p − centre``, one neighbour left out), and each of them must have
  its sign (the centre inside its neighbours' tetrahedron: then RDKit's perception from any three
  neighbours agrees). Each volume is measured scale-free, ``V / (|e1| |e2| |e3|)``;
* every substituent pair (a, b) across a stereo double bond j=k: the dihedral ψ of a-j-k-b must be
  below 90° for cis, above for trans; measured as ``1 − 2|ψ|/π`` (+1 cis, −1 trans).

A constraint is *violated* when ``sign · f < margin``. For each violated one, :class:`GuidedDenoiser`
adds ``strength · (margin − sign·f) / |∇f|² · sign·∇f`` to x̂₀ (a Newton step on that constraint,
scaled, no atom moved more than ``max_step``), at every network evaluation with ``t ≤ onset``. The samplers only see x̂₀, so every solver is
guided the same way. Centres of a molecule whose specified centres are *all* inverted are left
alone when the mirror guard is on: the whole-molecule reflection fixes them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from pydantic import Field

from pipeline.config import StrictModel
from pipeline.sample.x0_guidance import X0Guidance, batch_index, batch_values, dihedral

__all__ = ["StereoGuidanceConfig", "StereoConstraints", "stereo_constraints", "GuidedDenoiser", "constraint_values"]


class StereoGuidanceConfig(StrictModel):
    """Stereo guidance in the sampler (``stereo.guidance``)."""

    enabled: bool = Field(True, description="nudge x̂₀ of samples whose centre / double-bond signs are wrong")
    strength: float = Field(1.0, ge=0, description="fraction of the Newton step towards the margin applied per network evaluation")
    onset: float = Field(0.5, gt=0, le=1, description="guide only at diffusion times t <= onset (t = 1 is the prior, 0 the data)")
    centre_margin: float = Field(0.7, ge=0, lt=1, description="required sign * scale-free signed volume (0.77 for an ideal tetrahedral centre)")
    double_bond_margin: float = Field(0.3, ge=0, lt=1, description="required sign * (1 - 2|dihedral|/pi) across a stereo double bond")
    max_step: float = Field(0.5, gt=0, description="largest displacement (Å) of an atom by one constraint's step")


@dataclass(frozen=True)
class StereoConstraints:
    """One molecule's constraints (local atom indices)."""

    quads: np.ndarray  # [C, 4] (centre, three neighbours) of each signed volume (4 per 4-neighbour centre)
    centre_signs: np.ndarray  # [C] ±1
    dihedrals: np.ndarray  # [P, 4] (a, j, k, b)
    dihedral_signs: np.ndarray  # [P] +1 cis, −1 trans

    @property
    def empty(self) -> bool:
        return len(self.centre_signs) == 0 and len(self.dihedral_signs) == 0


def stereo_constraints(mol: Any) -> StereoConstraints:
    """The stereo constraints of ``mol`` (hydrogens explicit) in the featurizer's conventions."""
    from rdkit import Chem

    from pipeline.model.features import ranked_neighbours, stereo_pairs, chirality_targets

    signs = chirality_targets(mol)
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=True, includeChirality=False))
    ranked = ranked_neighbours(mol, ranks)
    quads, csigns = [], []
    for i in np.nonzero(signs)[0]:
        c, nb = int(i), ranked[int(i)]
        if len(nb) == 3:
            quads.append([c, *nb])
            csigns.append(signs[i])
            continue
        # det[p1-p0, p2-p0, p3-p0] = sum over m of (-1)^m det[(the neighbours but m) - c]: requiring every
        # term to have the sign keeps the centre inside its neighbours' tetrahedron, so any choice of three
        # neighbours (RDKit's perception from 3D uses three) sees the same handedness
        for m in range(4):
            quads.append([c, *(nb[:m] + nb[m + 1 :])])
            csigns.append(signs[i] * (-1) ** m)
    # one substituent pair per stereo double bond, its stereo atoms (guiding all four pairs at once
    # moves the same atoms in conflicting directions); cis/trans as the featurizer encodes it
    bonds = []  # (j, k, stereo atom on j, stereo atom on k)
    for bond in mol.GetBonds():
        ref = list(bond.GetStereoAtoms())
        if bond.GetBondType() == Chem.BondType.DOUBLE and len(ref) == 2 and bond.GetStereo() not in (Chem.BondStereo.STEREONONE, Chem.BondStereo.STEREOANY):
            j, k = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            bonds.append((j, k, *(ref if mol.GetBondBetweenAtoms(ref[0], j) is not None else ref[::-1])))
    dihedrals, dsigns = [], []
    pairs = {(a, b): cls for a, b, cls in stereo_pairs(mol)}
    for j, k, a, b in bonds:
        cls = pairs.get((a, b), pairs.get((b, a)))
        if cls is not None:
            dihedrals.append([a, j, k, b])
            dsigns.append(1.0 if cls == 1 else -1.0)
    return StereoConstraints(
        np.asarray(quads, dtype=np.int64).reshape(-1, 4), np.asarray(csigns, dtype=np.float64),
        np.asarray(dihedrals, dtype=np.int64).reshape(-1, 4), np.asarray(dsigns, dtype=np.float64),
    )


def _volume(p: Any) -> Any:
    """Scale-free signed volume of [C, 4, 3] point quadruples."""
    import torch

    e = p[:, 1:] - p[:, :1]  # [C, 3, 3]
    return torch.linalg.det(e) / e.norm(dim=-1).prod(dim=-1).clamp_min(1e-6)


def _dihedral_side(p: Any) -> Any:
    """``1 − 2|ψ|/π`` of the dihedral ψ of [P, 4, 3] (a, j, k, b) quadruples: +1 cis (ψ = 0), −1 trans.

    Linear in |ψ|, so its gradient does not vanish at a perfect trans or cis geometry (cos ψ's does)."""
    import math

    return 1.0 - 2.0 * dihedral(p).abs() / math.pi


def constraint_values(x: np.ndarray, c: StereoConstraints) -> tuple[np.ndarray, np.ndarray]:
    """(sign · scale-free volume per centre, sign · (1 − 2|ψ|/π) per pair) of coordinates ``x`` [N, 3]: > 0 = right."""
    import torch

    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    v = _volume(xt[torch.as_tensor(c.quads)]).numpy() * c.centre_signs if len(c.centre_signs) else np.zeros(0)
    d = _dihedral_side(xt[torch.as_tensor(c.dihedrals)]).numpy() * c.dihedral_signs if len(c.dihedral_signs) else np.zeros(0)
    return v, d


def _newton(points: Any, signs: Any, margin: float, fn: Callable[[Any], Any], active: Any, max_step: float) -> tuple[Any, Any]:
    """Per-constraint steps [C, 4, 3] bringing ``sign · fn`` up to ``margin`` where violated and active
    (no atom moved by more than ``max_step`` Å)."""
    import torch

    with torch.enable_grad():
        p = points.detach().requires_grad_(True)
        f = fn(p)
        (grad,) = torch.autograd.grad(f.sum(), p)
    sf = signs * f.detach()
    gap = torch.where(active & (sf < margin), margin - sf, torch.zeros_like(sf))
    scale = gap / grad.pow(2).sum(dim=(1, 2)).clamp_min(1e-8)
    step = (scale * signs)[:, None, None] * grad
    longest = step.norm(dim=-1).amax(dim=1).clamp_min(1e-12)
    return step * (max_step / longest).clamp(max=1.0)[:, None, None], sf


class GuidedDenoiser(X0Guidance):
    """Wraps a denoiser: ``x̂₀`` plus the stereo-guidance step for one batch of molecules.

    ``constraints[i]`` belong to the i-th molecule of the batch, whose atoms start at ``offsets[i]``.
    ``mirror_fix``: leave the centres of a molecule with all of them inverted to the mirror guard.
    """

    def __init__(self, denoiser: Callable[..., Any], constraints: Sequence[StereoConstraints], offsets: Sequence[int],
                 cfg: StereoGuidanceConfig, mirror_fix: bool = True):
        import torch

        super().__init__(denoiser)
        self.cfg, self.mirror_fix = cfg, mirror_fix
        self.quads = batch_index([c.quads for c in constraints], offsets, 4)
        self.qsigns = batch_values([c.centre_signs for c in constraints])
        self.qmol = torch.repeat_interleave(torch.arange(len(constraints)), torch.as_tensor([len(c.centre_signs) for c in constraints], dtype=torch.long))  # each centre's molecule
        self.n_mols = len(offsets)
        self.dihedrals = batch_index([c.dihedrals for c in constraints], offsets, 4)
        self.dsigns = batch_values([c.dihedral_signs for c in constraints])

    def acts_at(self, t: float) -> bool:
        return t <= self.cfg.onset and self.cfg.strength != 0

    def correction(self, pos: Any, t: float) -> Any:
        import torch

        step = torch.zeros_like(pos)
        if len(self.qsigns):
            signs = self.qsigns.to(pos.device)
            quads = self.quads.to(pos.device)
            active = torch.ones_like(signs, dtype=torch.bool)
            if self.mirror_fix:  # all centres of a molecule inverted: the reflection fixes them, leave them
                f = _volume(pos[quads]) * signs
                qmol = self.qmol.to(pos.device)
                wrong = torch.zeros(self.n_mols, dtype=torch.float64, device=pos.device).index_add_(0, qmol, (f < 0).double())
                count = torch.zeros(self.n_mols, dtype=torch.float64, device=pos.device).index_add_(0, qmol, torch.ones_like(f))
                active = (wrong != count)[qmol]
            dq, _ = _newton(pos[quads], signs, self.cfg.centre_margin, _volume, active, self.cfg.max_step)
            step.index_add_(0, quads.reshape(-1), dq.reshape(-1, 3))
        if len(self.dsigns):
            signs = self.dsigns.to(pos.device)
            dih = self.dihedrals.to(pos.device)
            dd, _ = _newton(pos[dih], signs, self.cfg.double_bond_margin, _dihedral_side, torch.ones_like(signs, dtype=torch.bool), self.cfg.max_step)
            step.index_add_(0, dih.reshape(-1), dd.reshape(-1, 3))
        return self.cfg.strength * step
