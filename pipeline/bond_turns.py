"""Rigid turns about a bond: which atoms turn, and the turn itself (numpy / torch, no RDKit).

One home for what the sampler's torsion guidance (:mod:`pipeline.sample.torsion`) and the training's torsion
twists (:mod:`pipeline.train.twist`, which must run where only torch is installed) both do: turn the atoms on one
side of a single bond about the bond's axis, which keeps every bond length, angle, stereocentre and double-bond
configuration and changes only the torsion about that bond (and the contacts across it).
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["bond_side", "turn"]


def bond_side(neighbours: Sequence[Sequence[int]], j: int, k: int) -> list[int]:
    """Atoms reachable from ``k`` without entering ``j`` (``k`` included), sorted; ``neighbours[a]`` lists the atoms
    bonded to ``a``. For an acyclic bond ``j-k`` that is the side of ``k``; for a ring bond it also holds the ring's
    other atoms, so ``j``'s other neighbours show up in it."""
    seen, stack = {k}, [k]
    while stack:
        a = stack.pop()
        for b in neighbours[a]:
            if b != j and b not in seen:
                seen.add(b)
                stack.append(b)
    return sorted(seen)


def turn(x: Any, atoms: Any, j: Any, k: Any, theta: Any) -> Any:
    """``x`` [A, 3] with ``x[atoms]`` rotated by ``theta`` (radians) about the axis ``x[j] → x[k]``, right-handed (a
    dihedral i-j-k-l with ``l`` among the atoms grows by θ); ``j``, ``k`` and ``theta`` are given per entry of
    ``atoms``. An atom must not appear twice in ``atoms`` (one turn per atom per call)."""
    import torch

    axis = x[k] - x[j]
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    r = x[atoms] - x[k]
    cos, sin = torch.cos(theta).unsqueeze(-1), torch.sin(theta).unsqueeze(-1)
    rot = r * cos + torch.cross(axis, r, dim=-1) * sin + axis * (axis * r).sum(-1, keepdim=True) * (1 - cos)
    out = x.clone()
    out[atoms] = x[k] + rot
    return out
