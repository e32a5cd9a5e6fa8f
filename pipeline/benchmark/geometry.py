"""Local geometry of generated conformers against reference conformers: bond-length and bond-angle errors.

Both sides are in the same atom order (the reference molecule's). Bond lengths and angles hardly
depend on the conformation, so each generated value is compared with the mean over the
reference conformers of the same bond (or angle):

* bond MAE (Å): mean over conformers and bonds of ``|d_gen − mean_ref d|``, all bonds, hydrogens included;
* angle MAE (degrees): the same over every angle i–j–k of two bonds sharing atom j.
"""

from __future__ import annotations

import numpy as np

__all__ = ["angle_triples", "bond_lengths", "bond_angles", "local_geometry_errors"]


def angle_triples(bonds: np.ndarray, n_atoms: int) -> np.ndarray:
    """[T, 3] (i, j, k) with i < k, for every pair of bonds i–j, j–k (``bonds`` [B, ≥2] atom pairs)."""
    nbrs: list[list[int]] = [[] for _ in range(n_atoms)]
    for i, j in np.asarray(bonds)[:, :2].astype(int):
        nbrs[i].append(j)
        nbrs[j].append(i)
    out = [(a, j, b) for j in range(n_atoms) for x, a in enumerate(sorted(nbrs[j])) for b in sorted(nbrs[j])[x + 1 :]]
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


def bond_lengths(xyz: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """[L, B] bond lengths (Å) of conformers ``xyz`` [L, N, 3]."""
    b = np.asarray(bonds)[:, :2].astype(int)
    return np.linalg.norm(xyz[:, b[:, 0]] - xyz[:, b[:, 1]], axis=-1)


def bond_angles(xyz: np.ndarray, triples: np.ndarray) -> np.ndarray:
    """[L, T] angles (degrees) at the middle atom of each triple."""
    u = xyz[:, triples[:, 0]] - xyz[:, triples[:, 1]]
    v = xyz[:, triples[:, 2]] - xyz[:, triples[:, 1]]
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def local_geometry_errors(gen_xyz: np.ndarray, ref_xyz: np.ndarray, bonds: np.ndarray) -> dict[str, float]:
    """``{"bond_mae": Å, "angle_mae": degrees, "n_bonds", "n_angles"}`` of ``gen_xyz`` [L,N,3] vs ``ref_xyz`` [K,N,3]."""
    gen_xyz, ref_xyz = np.asarray(gen_xyz, dtype=np.float64), np.asarray(ref_xyz, dtype=np.float64)
    if gen_xyz.shape[1:] != ref_xyz.shape[1:]:
        raise ValueError(f"atom counts differ: generated {gen_xyz.shape[1:]} vs reference {ref_xyz.shape[1:]}")
    triples = angle_triples(bonds, gen_xyz.shape[1])
    out = {"n_bonds": float(len(bonds)), "n_angles": float(len(triples))}
    out["bond_mae"] = float(np.abs(bond_lengths(gen_xyz, bonds) - bond_lengths(ref_xyz, bonds).mean(0)).mean()) if len(bonds) else float("nan")
    out["angle_mae"] = float(np.abs(bond_angles(gen_xyz, triples) - bond_angles(ref_xyz, triples).mean(0)).mean()) if len(triples) else float("nan")
    return out
