"""Two-atom molecules (H₂, HCl, N₂, CO, ...): one internal coordinate, set exactly.

A molecule of two bonded atoms has no conformational freedom: its only internal coordinate is the bond
length. The denoiser never saw one (its training molecules have three atoms or more) and may shrink the
bond to nothing. So the sampler's output only chooses the orientation, and the bond gets RDKit's
distance-geometry length for the pair (the midpoint of its bounds, the same bounds the validation's
bond-length check uses).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["diatomic_length", "place_diatomic"]


def diatomic_length(mol: Any) -> float | None:
    """The bond length (Å) of a molecule of exactly two bonded atoms, else None."""
    if mol is None or mol.GetNumAtoms() != 2 or mol.GetNumBonds() != 1:
        return None
    from pipeline.chem import bounds_matrix

    bounds = bounds_matrix(mol)  # upper triangle: upper bounds, lower: lower bounds
    return float(0.5 * (bounds[0, 1] + bounds[1, 0]))


def place_diatomic(x: np.ndarray, length: float) -> np.ndarray:
    """``x`` [2, 3] with the bond set to ``length`` along its own direction, about its own midpoint
    (along x when the sample has no usable direction: a collapsed or non-finite bond)."""
    x = np.asarray(x, dtype=np.float64)
    mid = x.mean(axis=0) if np.isfinite(x).all() else np.zeros(3)
    v = x[1] - x[0]
    norm = float(np.linalg.norm(v)) if np.isfinite(v).all() else 0.0
    u = v / norm if norm > 1e-8 else np.array([1.0, 0.0, 0.0])
    half = 0.5 * length * u
    return np.stack([mid - half, mid + half])
