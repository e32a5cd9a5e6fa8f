"""Torsion guidance inside the sampler: late in the trajectory, turn each rotatable bond of x̂₀ towards the
bottom of the torsion well it is in, by the torsion preferences ETKDG embeds with.

Why: the network places local geometry well but leaves torsions between wells. On the Hutchison set (shipped
model, default sampler, raw) the acyclic torsions of the samples sit a median 26° from the MMFF minimum their
conformer relaxes to (ETKDG's 12°); conjugated aryl–X bonds come out near-uniformly twisted (median 50° from
planar; the training conformers: 1–4°), and MMFF relaxation with every acyclic torsion held recovers none of
the coverage a full relaxation gives. The network keeps a torsion it is given at low noise (x̂₀ of a noised
MMFF minimum stays within 5° of it up to σ/α 0.25), so what the trajectory leaves between wells stays there.

What it does (:class:`TorsionDenoiser`, at network evaluations with ``stop_noise`` < σ/α ≤ ``onset_noise``): for every
torsion ``i-j-k-l`` that RDKit's experimental-torsion library matches on an acyclic single bond
(``rdDistGeom.GetExperimentalTorsions``, ETKDGv3's CSD-derived preferences ``E(φ) = Σ V_m (1 + s_m cos mφ)``),
the well is the local minimum of ``E`` reached by descending from x̂₀'s angle; the smaller side of the bond is
rotated rigidly about it by ``strength`` × the way to that minimum. A rigid rotation about a bond keeps every
bond length, angle, stereocentre and double-bond configuration; only distant contacts change, and the steric
guidance, applied after it, sees them; below ``stop_noise`` (σ/α 0.1) the evaluations are the network's, which settles the
turned torsions into its own, context-aware minimum. Torsions are turned one bond after another (a bond's side may contain
another's), all conformers of a batch at once. No force field: the same knowledge ETKDG's raw embeddings use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from pydantic import Field

from pipeline.bond_turns import bond_side, turn
from pipeline.config import StrictModel
from pipeline.sample.x0_guidance import X0Guidance, dihedral

__all__ = ["TorsionGuidanceConfig", "TorsionSet", "torsion_set", "well_table", "dihedral_deg", "rotate_sides", "TorsionDenoiser"]

_GRID = 360  # one-degree grid of the well table


class TorsionGuidanceConfig(StrictModel):
    """Torsion guidance in the sampler (``torsion``)."""

    enabled: bool = Field(True, description="turn rotatable bonds of x̂₀ towards the bottom of their torsion well (ETKDG's torsion preferences)")
    strength: float = Field(0.5, ge=0, le=1, description="fraction of the way to the well's minimum per guided evaluation")
    onset_noise: float = Field(0.25, gt=0, description="guide at noise levels σ/α at or below this ...")
    stop_noise: float = Field(
        0.1, ge=0,
        description="... down to this one (0: to the last evaluation); the evaluations below are the network's, which settles the turned "
        "torsions and the contacts a turn made (the steric far pairs act down to 0.05); docs/sample.md 'Torsion guidance'",
    )
    min_barrier: float = Field(0.0, ge=0, description="only torsions whose profile max − min is at least this (the library's units)")
    raw_only: bool = Field(
        True, description="only for raw samples (refine: none): a force-field relaxation covers the references better from the network's own torsions"
    )


@dataclass
class TorsionSet:
    """One molecule's guided torsions (local atom indices)."""

    quads: np.ndarray  # [T, 4] i, j, k, l: the side of k (without j) is the one rotated
    side: np.ndarray  # [S] atoms rotated, torsion after torsion
    owner: np.ndarray  # [S] the torsion each entry of ``side`` belongs to
    wells: np.ndarray  # [T, 360] the well minimum (degrees, in [-180, 180)) reached from each integer angle

    @property
    def empty(self) -> bool:
        return len(self.quads) == 0


def well_table(v: Sequence[float], signs: Sequence[int]) -> tuple[np.ndarray, float]:
    """``(wells [360], barrier)``: for each integer angle φ in [-180, 180) the local minimum of
    ``E(φ) = Σ_m V_m (1 + s_m cos mφ)`` reached by steepest descent on the one-degree grid; and max E − min E."""
    phi = np.radians(np.arange(_GRID) - 180.0)
    e = sum(float(vm) * (1.0 + float(sm) * np.cos((m + 1) * phi)) for m, (vm, sm) in enumerate(zip(v, signs)))
    idx = np.arange(_GRID)
    nxt = idx.copy()
    for cand in ((idx - 1) % _GRID, (idx + 1) % _GRID):
        better = e[cand] < e[nxt] - 1e-12
        nxt = np.where(better, cand, nxt)
    for _ in range(_GRID):  # follow the descent to its fixed points
        step = nxt[nxt]
        if np.array_equal(step, nxt):
            break
        nxt = step
    return (nxt - 180.0).astype(np.float64), float(e.max() - e.min())


def torsion_set(mol: Any, min_barrier: float = 0.0) -> TorsionSet:
    """The guided torsions of ``mol`` (hydrogens explicit): one per acyclic single bond the library matches."""
    from rdkit import Chem
    from rdkit.Chem import rdDistGeom

    neighbours = [[nb.GetIdx() for nb in atom.GetNeighbors()] for atom in mol.GetAtoms()]
    quads, sides, owners, wells, done = [], [], [], [], set()
    for tor in rdDistGeom.GetExperimentalTorsions(mol):
        i, j, k, l = (int(a) for a in tor["atomIndices"])
        bond = mol.GetBondBetweenAtoms(j, k)
        # single bonds only: the library's "basic knowledge" also flattens double bonds (a turn about one could flip
        # its E/Z; the steric guidance flattens C=C), and ring bonds cannot be turned rigidly
        if bond is None or bond.GetBondType() != Chem.BondType.SINGLE or bond.IsInRing() or bond.GetIdx() in done:
            continue
        table, barrier = well_table(list(tor["V"]), list(tor["signs"]))
        if barrier < min_barrier or barrier <= 0:
            continue
        # an acyclic bond is a bridge of its fragment (a salt's other ions are on neither side)
        side_k, side_j = bond_side(neighbours, j, k), bond_side(neighbours, k, j)
        if len(side_k) > len(side_j):  # rotate the smaller side: the same torsion read the other way round
            i, j, k, l = l, k, j, i
            side_k = side_j
        done.add(bond.GetIdx())
        owners.extend([len(quads)] * len(side_k))
        quads.append((i, j, k, l))
        sides.extend(side_k)
        wells.append(table)
    return TorsionSet(
        np.asarray(quads, dtype=np.int64).reshape(-1, 4),
        np.asarray(sides, dtype=np.int64),
        np.asarray(owners, dtype=np.int64),
        np.asarray(wells, dtype=np.float64).reshape(-1, _GRID),
    )


def dihedral_deg(x: Any, quads: Any) -> Any:
    """[T] dihedral angles i-j-k-l of ``x`` [A, 3] in degrees, in [-180, 180] (:func:`~pipeline.sample.x0_guidance.dihedral`)."""
    import torch

    return torch.rad2deg(dihedral(x[quads]))


def rotate_sides(x: Any, quads: Any, side: Any, owner: Any, delta_deg: Any) -> Any:
    """``x`` with the atoms ``side`` (of torsion ``owner``) rotated about the axis j→k of their torsion by
    ``delta_deg[owner]``: the dihedral i-j-k-l grows by that angle. One torsion per owner; sides must not overlap."""
    import torch

    return turn(x, side, quads[owner, 1], quads[owner, 2], torch.deg2rad(delta_deg[owner]))


class TorsionDenoiser(X0Guidance):
    """Wraps a denoiser: x̂₀ with every guided torsion turned ``strength`` of the way to its well's minimum,
    at times ``t_stop < t ≤ t_onset`` (``sets[i]`` belong to the batch's i-th molecule, atoms from ``offsets[i]``)."""

    def __init__(self, denoiser: Callable[..., Any], sets: Sequence[TorsionSet], offsets: Sequence[int],
                 cfg: TorsionGuidanceConfig, t_onset: float, t_stop: float = 0.0):
        import torch

        super().__init__(denoiser)
        self.strength, self.t_onset, self.t_stop = float(cfg.strength), float(t_onset), float(t_stop)
        # round r turns the r-th torsion of every molecule, so the sides turned together never overlap
        self.rounds: list[tuple[Any, Any, Any, Any]] = []
        for r in range(max((len(s.quads) for s in sets), default=0)):
            quads, side, owner, wells = [], [], [], []
            for s, off in zip(sets, offsets):
                if r >= len(s.quads):
                    continue
                pick = s.owner == r
                owner.append(np.full(int(pick.sum()), len(quads), dtype=np.int64))
                side.append(s.side[pick] + off)
                quads.append(s.quads[r] + off)
                wells.append(s.wells[r])
            self.rounds.append((
                torch.as_tensor(np.stack(quads)), torch.as_tensor(np.concatenate(side)),
                torch.as_tensor(np.concatenate(owner)), torch.as_tensor(np.stack(wells)),
            ))

    def acts_at(self, t: float) -> bool:
        return bool(self.rounds) and self.strength > 0 and self.t_stop < t <= self.t_onset

    def correction(self, pos: Any, t: float) -> Any:
        import torch

        dev = pos.device
        x = pos
        for quads, side, owner, wells in self.rounds:
            quads, side, owner, wells = quads.to(dev), side.to(dev), owner.to(dev), wells.to(dev)
            phi = dihedral_deg(x, quads)
            ok = torch.isfinite(phi)
            cell = (torch.floor(torch.nan_to_num(phi) + 180.0 + 0.5).long()) % _GRID
            target = wells.gather(1, cell[:, None])[:, 0]
            gap = torch.remainder(target - phi + 180.0, 360.0) - 180.0
            delta = torch.where(ok, self.strength * gap, torch.zeros_like(gap))
            x = rotate_sides(x, quads, side, owner, delta)
        return x - pos

