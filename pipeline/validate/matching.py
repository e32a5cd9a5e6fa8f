"""Atom correspondences between two RDKit molecules of the same compound.

Generated records (mol block) and references (dataset / SMILES) may list atoms in different orders
and may draw charged groups in different resonance forms. Two levels of matching:

* :func:`heavy_atom_maps` — symmetry-aware maps between the heavy-atom graphs, used by RMSD.
  Bond orders are matched when possible (conjugated terminal groups such as carboxylate or nitro
  made symmetric, as ``rdMolAlign.GetBestRMS`` does); if the two drawings disagree in bond orders
  the match falls back to elements + connectivity.
* :func:`full_atom_maps` — the heavy-atom maps extended to hydrogens (each H follows its heavy
  atom), used to carry generated coordinates onto the reference graph for the checks.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GraphMismatch", "heavy_atom_maps", "full_atom_maps", "skeleton"]

_TERMINAL = "[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]"


class GraphMismatch(ValueError):
    """The two molecules are not the same graph (elements + connectivity)."""


def skeleton(mol: Any, keep_orders: bool) -> Any:
    """Copy of ``mol`` for matching: no charges/isotopes; bonds single (or orders kept, terminal groups symmetrised)."""
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    terminal: set[int] = set()
    if keep_orders:
        patt = Chem.MolFromSmarts(_TERMINAL)
        for a, b in mol.GetSubstructMatches(patt):
            terminal.add(mol.GetBondBetweenAtoms(a, b).GetIdx())
    for atom in rw.GetAtoms():
        atom.SetFormalCharge(0)
        atom.SetIsotope(0)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(0)
        if not keep_orders:
            atom.SetIsAromatic(False)
    for bond in rw.GetBonds():
        if not keep_orders:
            bond.SetBondType(Chem.BondType.SINGLE)
            bond.SetIsAromatic(False)
        elif bond.GetIdx() in terminal:
            bond.SetBondType(Chem.BondType.ONEANDAHALF)
            bond.SetIsAromatic(False)
    out = rw.GetMol()
    out.UpdatePropertyCache(strict=False)
    return out


def _matches(query: Any, target: Any, max_matches: int) -> list[tuple[int, ...]]:
    return list(target.GetSubstructMatches(query, uniquify=False, useChirality=False, maxMatches=max_matches))


def heavy_atom_maps(prb: Any, ref: Any, max_matches: int = 10000) -> list[list[tuple[int, int]]]:
    """All symmetry-equivalent maps ``[(prb_idx, ref_idx), ...]`` between two hydrogen-free molecules.

    Raises :class:`GraphMismatch` when the heavy-atom graphs differ.
    """
    if prb.GetNumAtoms() != ref.GetNumAtoms():
        raise GraphMismatch(f"{prb.GetNumAtoms()} heavy atoms vs {ref.GetNumAtoms()} in the reference")
    if prb.GetNumAtoms() == 0:  # H₂, H⁺: one (empty) map
        return [[]]
    for keep in (True, False):
        q, t = skeleton(prb, keep), skeleton(ref, keep)
        if q.GetNumBonds() != t.GetNumBonds():
            raise GraphMismatch(f"{q.GetNumBonds()} bonds vs {t.GetNumBonds()} in the reference")
        found = _matches(q, t, max_matches)
        if found:
            return [list(zip(range(prb.GetNumAtoms()), m)) for m in found]
    raise GraphMismatch("heavy-atom graphs differ (elements or connectivity)")


def full_atom_maps(src: Any, dst: Any, max_matches: int = 1000) -> list[list[int]]:
    """Maps ``perm`` with ``perm[dst_idx] = src_idx`` covering every atom (hydrogens explicit in both).

    Heavy atoms follow the symmetry-aware heavy-atom maps; each hydrogen follows its heavy atom
    (hydrogens on one atom are interchangeable; those with no heavy neighbour, as in H₂, go in order). Raises :class:`GraphMismatch` on a different graph.
    """
    if src.GetNumAtoms() != dst.GetNumAtoms():
        raise GraphMismatch(f"{src.GetNumAtoms()} atoms (with H) vs {dst.GetNumAtoms()} expected")
    s_heavy = [a.GetIdx() for a in src.GetAtoms() if a.GetAtomicNum() != 1]
    d_heavy = [a.GetIdx() for a in dst.GetAtoms() if a.GetAtomicNum() != 1]
    if len(s_heavy) != len(d_heavy):
        raise GraphMismatch(f"{len(s_heavy)} heavy atoms vs {len(d_heavy)} expected")
    s_sub, d_sub = _heavy_submol(src, s_heavy), _heavy_submol(dst, d_heavy)
    maps = heavy_atom_maps(s_sub, d_sub, max_matches)
    out: list[list[int]] = []
    for m in maps:
        perm = [-1] * dst.GetNumAtoms()
        for s_local, d_local in m:
            perm[d_heavy[d_local]] = s_heavy[s_local]
        ok = True
        for s_local, d_local in m:
            s_h = sorted(n.GetIdx() for n in src.GetAtomWithIdx(s_heavy[s_local]).GetNeighbors() if n.GetAtomicNum() == 1)
            d_h = sorted(n.GetIdx() for n in dst.GetAtomWithIdx(d_heavy[d_local]).GetNeighbors() if n.GetAtomicNum() == 1)
            if len(s_h) != len(d_h):
                ok = False
                break
            for d_i, s_i in zip(d_h, s_h):
                perm[d_i] = s_i
        # hydrogens with no heavy neighbour (H₂, H⁻): interchangeable, matched in order
        s_free, d_free = _free_hydrogens(src), _free_hydrogens(dst)
        if len(s_free) != len(d_free):
            ok = False
        for d_i, s_i in zip(d_free, s_free):
            perm[d_i] = s_i
        if ok and -1 not in perm:
            out.append(perm)
    if not out:
        raise GraphMismatch("hydrogens are attached differently")
    return out


def _free_hydrogens(mol: Any) -> list[int]:
    return [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1 and all(n.GetAtomicNum() == 1 for n in a.GetNeighbors())]


def _heavy_submol(mol: Any, heavy: list[int]) -> Any:
    """Hydrogen-free copy keeping the given heavy atoms in order (works without sanitisation)."""
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    for idx in sorted((a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1), reverse=True):
        rw.RemoveAtom(idx)
    sub = rw.GetMol()
    sub.UpdatePropertyCache(strict=False)
    assert sub.GetNumAtoms() == len(heavy)
    return sub
