"""Helpers for the ingest tests: real-shaped xyz/SDF text made from RDKit-embedded molecules."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np


def embedded(smiles: str, seed: int = 1, n_confs: int = 1):
    """RDKit Mol with explicit H and ``n_confs`` ETKDG conformers (deterministic)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    ids = AllChem.EmbedMultipleConfs(mol, n_confs, params)
    assert len(ids) == n_confs
    return mol


def salt(smiles_a: str, smiles_b: str, offset: float = 6.0):
    """Two separately embedded fragments ``offset`` Å apart, as one Mol (a salt)."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    a, b = embedded(smiles_a), embedded(smiles_b)
    conf = b.GetConformer()
    for i in range(b.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, Point3D(p.x + offset, p.y, p.z))
    return Chem.CombineMols(a, b)


def xyz_frame(mol, conf_id: int = -1, comment: str = "", order=None) -> str:
    """One xyz frame of ``mol`` (atoms optionally listed in ``order``)."""
    pos = mol.GetConformer(conf_id).GetPositions()
    idx = list(range(mol.GetNumAtoms())) if order is None else [int(i) for i in order]
    lines = [str(len(idx)), comment]
    for i in idx:
        x, y, z = pos[i]
        lines.append(f"{mol.GetAtomWithIdx(i).GetSymbol():<2} {x:12.6f} {y:12.6f} {z:12.6f}")
    return "\n".join(lines) + "\n"


def mirrored(mol):
    """Copy with every conformer reflected through the yz plane (the enantiomer's geometry)."""
    from rdkit import Chem

    from pipeline.chem import conformer_coords, set_conformers

    m = Chem.Mol(mol)
    c = conformer_coords(m)
    c[..., 0] *= -1
    set_conformers(m, c)
    return m


def hutchison_subset(src: Path, dst: Path, n: int) -> list[str]:
    """Copy the first ``n`` molecules of a reference set (smi, charges, xyz dirs); returns their names."""
    dst.mkdir(parents=True)
    lines = [ln for ln in (src / "molecules.smi").read_text().splitlines() if ln.strip()][:n]
    (dst / "molecules.smi").write_text("\n".join(lines) + "\n")
    names = [ln.split()[1] for ln in lines]
    charges = [ln for ln in (src / "charges.txt").read_text().splitlines() if ln.split() and ln.split()[0] in names]
    (dst / "charges.txt").write_text("\n".join(charges) + "\n")
    for name in names:
        shutil.copytree(src / "xyz" / name, dst / "xyz" / name)
    return names


def n_conformer_files(root: Path, names) -> int:
    return sum(len(list((root / "xyz" / n).glob("*.xyz"))) for n in names)


def as_array(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)
