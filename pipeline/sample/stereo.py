"""Stereo of generated coordinates vs the molecule graph, and the mirror-image guard.

The target is the graph's stereo (chiral tags of specified tetrahedral centres, E/Z of specified
double bonds); the generated conformer's stereo is perceived from its 3D coordinates with RDKit
(``AssignStereochemistryFrom3D``) and compared as ``bondiff validate`` does (chiral tags, not CIP
labels, so the two agree on every centre). A reflection ``x -> -x`` inverts every tetrahedral centre and
keeps every distance (hence every E/Z double bond): when *all* specified centres of a sample come
out inverted, the mirror image is right on all of them, so the guard applies it and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["StereoTarget", "StereoCheck", "StereoTally", "stereo_target", "check_stereo", "mirror_fix"]


@dataclass(frozen=True)
class StereoTarget:
    centres: dict[int, int]  # atom index -> RDKit chiral tag (1 = CW, 2 = CCW, relative to the atom's bond order)
    double_bonds: dict[int, str]  # bond index -> RDKit BondStereo name (STEREOE/STEREOZ)

    @property
    def empty(self) -> bool:
        return not self.centres and not self.double_bonds


@dataclass(frozen=True)
class StereoCheck:
    """Counts for one conformer."""

    n_centres: int
    centres_ok: int
    centres_inverted: int
    n_double_bonds: int
    double_bonds_ok: int

    @property
    def all_centres_inverted(self) -> bool:
        return self.n_centres > 0 and self.centres_inverted == self.n_centres

    @property
    def right(self) -> bool:
        """Every specified centre and double bond as the graph asks."""
        return self.centres_ok == self.n_centres and self.double_bonds_ok == self.n_double_bonds

    def mirrored(self) -> "StereoCheck":
        """The check of the mirror image (x -> -x inverts every centre, keeps every E/Z), without re-perceiving."""
        return StereoCheck(self.n_centres, self.centres_inverted, self.centres_ok, self.n_double_bonds, self.double_bonds_ok)


@dataclass
class StereoTally:
    """Stereo counts summed over conformers (per centre and per double bond)."""

    centres: int = 0
    centres_ok: int = 0
    double_bonds: int = 0
    double_bonds_ok: int = 0

    def add(self, chk: StereoCheck) -> None:
        self.centres += chk.n_centres
        self.centres_ok += chk.centres_ok
        self.double_bonds += chk.n_double_bonds
        self.double_bonds_ok += chk.double_bonds_ok

    def fractions(self) -> tuple[float, float]:
        """(centres right, double bonds right); nan where there are none."""
        nan = float("nan")
        return (self.centres_ok / self.centres if self.centres else nan, self.double_bonds_ok / self.double_bonds if self.double_bonds else nan)


_CW, _CCW = 1, 2  # int(Chem.ChiralType.CHI_TETRAHEDRAL_CW / _CCW)
_OPPOSITE = {_CW: _CCW, _CCW: _CW}


def _centres(mol) -> dict[int, int]:
    return {a.GetIdx(): int(a.GetChiralTag()) for a in mol.GetAtoms() if int(a.GetChiralTag()) in _OPPOSITE}


def _double_bonds(mol) -> dict[int, str]:
    bonds = {}
    for b in mol.GetBonds():
        st = str(b.GetStereo())
        if st in {"STEREOE", "STEREOZ"}:
            bonds[b.GetIdx()] = st
    return bonds


def stereo_target(mol) -> StereoTarget:
    """The stereo the graph asks for: the chiral tags of its tetrahedral centres (what ``bondiff validate``
    compares) and the E/Z labels of its double bonds (legacy perception on a copy)."""
    from rdkit import Chem

    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    Chem.AssignStereochemistry(m, cleanIt=True, force=True)
    return StereoTarget(_centres(mol), _double_bonds(m))


def check_stereo(mol, coords: np.ndarray, target: StereoTarget) -> StereoCheck:
    """Compare the stereo perceived from ``coords`` [N, 3] with ``target``."""
    if target.empty:
        return StereoCheck(0, 0, 0, 0, 0)
    from rdkit import Chem

    from pipeline.chem import set_conformers

    m = Chem.Mol(mol)
    set_conformers(m, coords[None])
    Chem.AssignStereochemistryFrom3D(m, replaceExistingTags=True)
    centres, bonds = _centres(m), _double_bonds(m)
    ok = sum(1 for i, lab in target.centres.items() if centres.get(i) == lab)
    inv = sum(1 for i, lab in target.centres.items() if centres.get(i) == _OPPOSITE.get(lab))
    bok = sum(1 for i, lab in target.double_bonds.items() if bonds.get(i) == lab)
    return StereoCheck(len(target.centres), ok, inv, len(target.double_bonds), bok)


def mirror_fix(coords: np.ndarray, before: StereoCheck, enabled: bool = True) -> tuple[np.ndarray, bool, StereoCheck]:
    """The mirror guard: ``(coords, mirrored, check after)``; reflects when every centre is inverted.

    ``before`` is the stereo already perceived on ``coords`` (the reflection's check follows from it)."""
    if not (enabled and before.all_centres_inverted):
        return coords, False, before
    return coords * np.array([-1.0, 1.0, 1.0], dtype=coords.dtype), True, before.mirrored()
