"""Stereo of generated coordinates vs the molecule graph, and the mirror-image guard.

The target is the graph's stereo (CIP labels of specified tetrahedral centres, E/Z of specified
double bonds); the generated conformer's stereo is perceived from its 3D coordinates with RDKit
(``AssignStereochemistryFrom3D``). A reflection ``x -> -x`` inverts every tetrahedral centre and
keeps every distance (hence every E/Z double bond): when *all* specified centres of a sample come
out inverted, the mirror image is right on all of them, so the guard applies it and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["StereoTarget", "StereoCheck", "stereo_target", "check_stereo", "mirror_guard"]


@dataclass(frozen=True)
class StereoTarget:
    centres: dict[int, str]  # atom index -> CIP label (R/S)
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


_OPPOSITE = {"R": "S", "S": "R"}


def _labels(mol) -> tuple[dict[int, str], dict[int, str]]:
    centres = {a.GetIdx(): a.GetProp("_CIPCode") for a in mol.GetAtoms() if a.HasProp("_CIPCode")}
    bonds = {}
    for b in mol.GetBonds():
        st = str(b.GetStereo())
        if st in {"STEREOE", "STEREOZ"}:
            bonds[b.GetIdx()] = st
    return centres, bonds


def stereo_target(mol) -> StereoTarget:
    """The stereo the graph asks for (legacy CIP perception on a copy)."""
    from rdkit import Chem

    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    Chem.AssignStereochemistry(m, cleanIt=True, force=True)
    centres, bonds = _labels(m)
    return StereoTarget(centres, bonds)


def check_stereo(mol, coords: np.ndarray, target: StereoTarget) -> StereoCheck:
    """Compare the stereo perceived from ``coords`` [N, 3] with ``target``."""
    if target.empty:
        return StereoCheck(0, 0, 0, 0, 0)
    from rdkit import Chem

    from pipeline.chem import set_conformers

    m = Chem.Mol(mol)
    set_conformers(m, coords[None])
    Chem.AssignStereochemistryFrom3D(m)
    centres, bonds = _labels(m)
    ok = sum(1 for i, lab in target.centres.items() if centres.get(i) == lab)
    inv = sum(1 for i, lab in target.centres.items() if centres.get(i) == _OPPOSITE.get(lab))
    bok = sum(1 for i, lab in target.double_bonds.items() if bonds.get(i) == lab)
    return StereoCheck(len(target.centres), ok, inv, len(target.double_bonds), bok)


def mirror_guard(
    mol, coords: np.ndarray, target: StereoTarget, enabled: bool = True
) -> tuple[np.ndarray, bool, StereoCheck, StereoCheck]:
    """Return ``(coords, mirrored, check_before, check_after)``; mirrors when all centres are inverted."""
    before = check_stereo(mol, coords, target)
    if not (enabled and before.all_centres_inverted):
        return coords, False, before, before
    mirrored = coords * np.array([-1.0, 1.0, 1.0], dtype=coords.dtype)
    return mirrored, True, before, check_stereo(mol, mirrored, target)
