"""The shipped conformers in data/sdf are physically possible: no atoms on top of each other.

Salts are the risk: ETKDG embeds fragments about the same origin and MMFF94 by default ignores
inter-fragment forces, so a counter-ion can end up inside its partner (e.g. the Cl- of
diphenhydramine.HCl 0.76-1.17 A from a C or O atom).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

SDF_DIR = Path(__file__).resolve().parents[2] / "data" / "sdf"
SDF_FILES = sorted(SDF_DIR.glob("*.sdf"))

# A hydrogen bond to a counter-ion brings an H to ~1.9-2.2 A (MMFF94 N+-H...Cl-: 1.96-2.07 A),
# so pairs with an H get a lower floor than heavy-atom pairs (N+...Cl- contact ~3.0-3.2 A).
INTER_FRAGMENT_MIN_HEAVY = 2.5
INTER_FRAGMENT_MIN_WITH_H = 1.5
# Shortest real non-bonded contact in these molecules: geminal H...H, ~1.7 A.
NON_BONDED_MIN = 1.4


def _records(path: Path) -> list[Chem.Mol]:
    mols = list(Chem.SDMolSupplier(str(path), removeHs=False, sanitize=False))
    assert mols and all(m is not None and m.GetNumConformers() == 1 for m in mols), path
    return mols


def _close_pairs(mol: Chem.Mol) -> list[tuple[str, int, int, float]]:
    """(kind, i, j, distance) for every pair below its floor."""
    n = mol.GetNumAtoms()
    x = mol.GetConformer().GetPositions()
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    frag = np.empty(n, dtype=int)
    for k, atoms in enumerate(Chem.GetMolFrags(mol, sanitizeFrags=False)):
        frag[list(atoms)] = k
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    bonded = np.zeros((n, n), dtype=bool)
    for b in mol.GetBonds():
        bonded[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = bonded[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = True
    bad = []
    for i, j in zip(*np.triu_indices(n, 1)):
        if frag[i] != frag[j]:
            floor = INTER_FRAGMENT_MIN_HEAVY if heavy[i] and heavy[j] else INTER_FRAGMENT_MIN_WITH_H
            if d[i, j] < floor:
                bad.append(("inter-fragment", int(i), int(j), float(d[i, j])))
        if not bonded[i, j] and d[i, j] < NON_BONDED_MIN:
            bad.append(("non-bonded", int(i), int(j), float(d[i, j])))
    return bad


def test_shipped_sdfs_exist_and_include_a_salt() -> None:
    assert len(SDF_FILES) >= 6
    frag_counts = [len(Chem.GetMolFrags(m, sanitizeFrags=False)) for f in SDF_FILES for m in _records(f)]
    assert max(frag_counts) >= 2  # the inter-fragment check below is not vacuous


@pytest.mark.parametrize("path", SDF_FILES, ids=lambda p: p.name)
def test_no_overlapping_atoms(path: Path) -> None:
    for k, mol in enumerate(_records(path)):
        bad = _close_pairs(mol)
        assert not bad, f"{path.name} record {k + 1} ({mol.GetProp('_Name')}): {bad[:5]}"


def test_check_catches_an_ion_inside_its_partner() -> None:
    mol = _records(SDF_DIR / "diphenhydramine_HCl.sdf")[0]
    cl = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "Cl")
    conf = mol.GetConformer()
    x = conf.GetPositions()
    carbon = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "C")
    conf.SetAtomPosition(cl, (x[carbon] + [1.0, 0.0, 0.0]).tolist())  # the old artefact: 0.76-1.17 A from a C
    kinds = {kind for kind, *_ in _close_pairs(mol)}
    assert kinds == {"inter-fragment", "non-bonded"}
