r"""Torsion twists of low-noise training examples: teach the network to *restore* torsions.

Why: at low noise (σ/α ≲ 0.25) every training input is a minimum-energy conformer plus small Σ-shaped noise, so a
sample whose torsions the solver left between two wells is outside what the low-noise network has seen, and it
keeps the twist (docs/sample.md, "Torsion guidance"). With ``loss.twist.probability`` = p > 0, each training
molecule drawn at ``σ_t/α_t ≤ max_noise`` has, with probability p, 1 to ``max_bonds`` of its rotatable bonds
turned by ``±U(min_angle, max_angle)`` degrees **before noising**, while the target stays the untwisted x₀:

    x_t = α_t · twist(x₀) + σ_t R z,      loss on  x̂₀(x_t, t)  vs  x₀.

A rotatable bond is an acyclic single bond whose two atoms each have another neighbour (hydrogens count: a methyl
turns too) and neither is in a triple bond; the smaller side is turned rigidly about the bond, so bond lengths, angles, stereocentres and E/Z
double bonds are untouched, then the molecule is re-centred. Turns of one molecule are applied one after the other
(a later turn moves an earlier bond's axis with it, as a real rotation would). With p = 0 (the default) the
generator is not touched: runs without twists are unchanged to the bit.

Everything here is numpy / torch (no RDKit): it runs on the GPU machine's training path too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from pipeline.bond_turns import bond_side, turn
from pipeline.model.blocks import scatter_mean

__all__ = ["RotatableBonds", "TorsionIndex", "rotatable_bonds", "twist_x0"]

_SINGLE, _TRIPLE = 1, 3  # RDKit BondType values, the dataset's bond type codes


@dataclass(frozen=True)
class RotatableBonds:
    """One molecule's rotatable bonds (local atom indices)."""

    axis: np.ndarray  # [T, 2] (fixed atom, pivot atom): the pivot's side turns about the fixed → pivot line
    side: np.ndarray  # [S] the atoms that turn, all torsions' sides concatenated
    side_of: np.ndarray  # [S] which torsion each entry of ``side`` belongs to

    @property
    def count(self) -> int:
        return int(self.axis.shape[0])


def rotatable_bonds(n_atoms: int, bonds: np.ndarray) -> RotatableBonds:
    """The rotatable bonds of a molecule with ``bonds`` [B, 3] (i, j, RDKit bond type), smaller side turning."""
    adj: list[list[int]] = [[] for _ in range(n_atoms)]
    linear = set()  # atoms of a triple bond: a torsion about their single bonds is undefined
    for i, j, kind in np.asarray(bonds, dtype=np.int64).tolist():
        adj[i].append(j)
        adj[j].append(i)
        if kind == _TRIPLE:
            linear |= {i, j}
    axes, sides, side_of = [], [], []
    for i, j, kind in np.asarray(bonds, dtype=np.int64).tolist():
        if kind != _SINGLE or len(adj[i]) < 2 or len(adj[j]) < 2 or i in linear or j in linear:
            continue
        side_j = bond_side(adj, i, j)
        if any(b in side_j for b in adj[i] if b != j):  # a ring bond: i's other neighbours are reachable from j
            continue
        side_i = bond_side(adj, j, i)  # an acyclic bond splits its fragment (a salt's other ions are on neither side)
        fixed, pivot, side = (i, j, side_j) if len(side_j) <= len(side_i) else (j, i, side_i)
        side_of += [len(axes)] * len(side)
        axes.append((fixed, pivot))
        sides += side
    return RotatableBonds(
        np.asarray(axes, dtype=np.int64).reshape(-1, 2), np.asarray(sides, dtype=np.int64), np.asarray(side_of, dtype=np.int64)
    )


@dataclass
class TorsionIndex:
    """The rotatable bonds of a batch (atom indices into the batch's concatenated atoms)."""

    axis: torch.Tensor  # [T, 2]
    mol: torch.Tensor  # [T] molecule of each torsion
    side: torch.Tensor  # [S]
    side_of: torch.Tensor  # [S]

    @classmethod
    def of(cls, molecules: Sequence[RotatableBonds], sizes: Sequence[int]) -> "TorsionIndex":
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        first_torsion = np.concatenate([[0], np.cumsum([m.count for m in molecules])[:-1]]).astype(np.int64)
        axis = np.concatenate([m.axis + o for m, o in zip(molecules, offsets)] or [np.zeros((0, 2), np.int64)])
        mol = np.concatenate([np.full(m.count, k, np.int64) for k, m in enumerate(molecules)] or [np.zeros(0, np.int64)])
        side = np.concatenate([m.side + o for m, o in zip(molecules, offsets)] or [np.zeros(0, np.int64)])
        side_of = np.concatenate([m.side_of + f for m, f in zip(molecules, first_torsion)] or [np.zeros(0, np.int64)])
        return cls(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (axis, mol, side, side_of)))

    def to(self, device) -> "TorsionIndex":
        return TorsionIndex(self.axis.to(device), self.mol.to(device), self.side.to(device), self.side_of.to(device))


def _rank_within_molecule(mol: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """[T] rank of each torsion's ``key`` (in [0, 1)) among its molecule's torsions."""
    order = torch.argsort(mol.to(torch.float64) + key.to(torch.float64))
    sorted_mol = mol[order]
    start = torch.searchsorted(sorted_mol, sorted_mol)
    rank = torch.empty_like(mol)
    rank[order] = torch.arange(mol.numel(), device=mol.device) - start
    return rank


def twist_x0(
    x0: torch.Tensor,
    batch: torch.Tensor,
    noise_ratio: torch.Tensor,
    torsions: TorsionIndex | None,
    cfg,
    generator: torch.Generator,
) -> torch.Tensor:
    """``x0`` [A, 3] with the molecules drawn for a twist turned (module docstring); ``noise_ratio`` [M] is σ_t/α_t,
    ``batch`` [A] the molecule of each atom, ``cfg`` a :class:`~pipeline.train.config.TwistConfig`. Random numbers come
    from ``generator`` (CPU) and their count depends only on the batch's sizes, not on which molecules are drawn."""
    if cfg is None or cfg.probability <= 0:
        return x0
    if torsions is None:
        raise ValueError("torsion twists need the batch's rotatable bonds: collate(..., torsions=True)")
    m, n_tor = noise_ratio.numel(), torsions.axis.shape[0]
    dev = x0.device
    draw = torch.rand(m, generator=generator, dtype=torch.float64).to(dev)
    n_turn = torch.randint(1, cfg.max_bonds + 1, (m,), generator=generator).to(dev)
    key = torch.rand(n_tor, generator=generator, dtype=torch.float64).to(dev)
    size = torch.rand(n_tor, generator=generator, dtype=torch.float64)
    sign = torch.randint(0, 2, (n_tor,), generator=generator).to(torch.float64) * 2 - 1
    angle = (sign * torch.deg2rad(cfg.min_angle + (cfg.max_angle - cfg.min_angle) * size)).to(device=dev, dtype=x0.dtype)
    if getattr(cfg, "scale_with_noise", False):
        scale = (noise_ratio.to(device=dev, dtype=torch.float64) / cfg.max_noise).clamp(max=1.0)
        angle = angle * scale[torsions.mol].to(angle.dtype)
    chosen = (draw < cfg.probability) & (noise_ratio.to(dev) <= cfg.max_noise)
    if n_tor == 0 or not bool(chosen.any()):
        return x0
    rank = _rank_within_molecule(torsions.mol, key)
    turning = chosen[torsions.mol] & (rank < n_turn[torsions.mol])
    x = x0
    for r in range(cfg.max_bonds):
        now = turning & (rank == r)
        entry = now[torsions.side_of]
        if not bool(entry.any()):
            continue
        tor = torsions.side_of[entry]
        x = turn(x, torsions.side[entry], torsions.axis[tor, 0], torsions.axis[tor, 1], angle[tor])
    return torch.where(chosen[batch].unsqueeze(-1), x - scatter_mean(x, batch, m)[batch], x0)
