"""Small RDKit helpers shared by stages: identity SMILES, atom-mapped SMILES, conformers, minimisation.

RDKit is imported inside functions so importing ``pipeline`` stays light (the GPU training image
has no RDKit).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = [
    "canonical_smiles",
    "mapped_smiles",
    "mol_from_mapped_smiles",
    "set_conformers",
    "conformer_coords",
    "bonds_array",
    "minimize",
    "FLAT_DOUBLE_BONDS",
    "BOUND_MATRIX_PARAMS",
    "bounds_matrix",
]

#: SMARTS of a C=C with its four substituents, six atoms that lie in one plane (PoseBusters' flatness
#: check); read by the validation's ``double_bonds_flat`` check and the sampler's steric guidance
FLAT_DOUBLE_BONDS = ("[C;X3;^2](*)(*)=[C;X3;^2](*)(*)",)

#: RDKit distance-geometry bounds as every part of bondiff reads them (ETKDG's: 1-5 bounds from the topology,
#: triangle-smoothed, no macrocycle 1-4 heuristics): the featurizer's pair inputs, the steric guidance's lower
#: bounds, the two-atom bond length and the validation's bond / clash checks
BOUND_MATRIX_PARAMS = {"set15bounds": True, "doTriangleSmoothing": True, "useMacrocycle14config": False}


def bounds_matrix(mol) -> np.ndarray:
    """RDKit's distance-geometry bounds matrix of ``mol`` [N, N] in Å (upper bounds above the diagonal,
    lower bounds below), with :data:`BOUND_MATRIX_PARAMS`."""
    from rdkit.Chem import rdDistGeom

    return np.asarray(rdDistGeom.GetMoleculeBoundsMatrix(mol, **BOUND_MATRIX_PARAMS), dtype=np.float64)


def canonical_smiles(mol) -> str:
    """Canonical isomeric SMILES without explicit hydrogens: the identity of a molecule."""
    from rdkit import Chem

    m = Chem.RemoveHs(mol, sanitize=False) if mol.GetNumAtoms() else mol
    try:
        Chem.SanitizeMol(m)
    except Exception:  # keep identity even for odd valences; sanitisation errors are caught upstream
        pass
    return Chem.MolToSmiles(m, isomericSmiles=True, canonical=True)


def mapped_smiles(mol) -> str:
    """All-H SMILES with atom map number = atom index + 1 (preserves atom order, charges, stereo)."""
    from rdkit import Chem

    m = Chem.Mol(mol)
    for a in m.GetAtoms():
        a.SetAtomMapNum(a.GetIdx() + 1)
    return Chem.MolToSmiles(m, isomericSmiles=True, canonical=True, allHsExplicit=False)


def mol_from_mapped_smiles(smiles: str):
    """Inverse of :func:`mapped_smiles`: atoms in map order, hydrogens explicit, maps cleared."""
    from rdkit import Chem

    params = Chem.SmilesParserParams()
    params.removeHs = False
    mol = Chem.MolFromSmiles(smiles, params)
    if mol is None:
        raise ValueError(f"cannot parse mapped SMILES {smiles!r}")
    maps = [a.GetAtomMapNum() for a in mol.GetAtoms()]
    if sorted(maps) != list(range(1, mol.GetNumAtoms() + 1)):
        raise ValueError(f"mapped SMILES {smiles!r} does not map every atom exactly once")
    order = [0] * len(maps)
    for idx, m in enumerate(maps):
        order[m - 1] = idx
    mol = Chem.RenumberAtoms(mol, order)
    for a in mol.GetAtoms():
        a.SetAtomMapNum(0)
    return mol


def set_conformers(mol, coords: np.ndarray | Iterable[np.ndarray], clear: bool = True) -> list[int]:
    """Attach conformers ``coords[K, N, 3]`` (Å) to ``mol``; returns the conformer ids."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    arr = np.asarray(coords, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape[1] != mol.GetNumAtoms():
        raise ValueError(f"coordinates for {arr.shape[1]} atoms, molecule has {mol.GetNumAtoms()}")
    if clear:
        mol.RemoveAllConformers()
    ids = []
    for xyz in arr:
        conf = Chem.Conformer(mol.GetNumAtoms())
        for i, (x, y, z) in enumerate(xyz):
            conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
        conf.Set3D(True)
        ids.append(mol.AddConformer(conf, assignId=True))
    return ids


def conformer_coords(mol) -> np.ndarray:
    """[K, N, 3] float64 coordinates of all conformers."""
    confs = list(mol.GetConformers())
    if not confs:
        return np.zeros((0, mol.GetNumAtoms(), 3))
    return np.stack([np.asarray(c.GetPositions(), dtype=np.float64) for c in confs])


def bonds_array(mol) -> np.ndarray:
    """[B, 3] int32 (i, j, RDKit BondType value) with i < j."""
    rows = []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        rows.append((min(i, j), max(i, j), int(b.GetBondType())))
    return np.asarray(rows, dtype=np.int32).reshape(-1, 3)


def minimize(ff, max_iters: int) -> int:
    """``ff.Minimize(maxIts=max_iters)`` for an RDKit force field: 0 when converged, 1 when not.

    A start at a stationary point (zero gradient: a diatomic at its force field's bond length) is
    converged as it is; RDKit's BFGS would stop there with an "Invariant Violation" (bad direction in its
    line search) and a C++ stack trace on stderr. Any such failure of the minimiser leaves the
    coordinates as they were and counts as not converged.
    """
    if not np.any(np.asarray(ff.CalcGrad(), dtype=np.float64)):
        return 0
    try:
        return int(ff.Minimize(maxIts=int(max_iters)) != 0)
    except RuntimeError:
        return 1
