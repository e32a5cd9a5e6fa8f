"""Builders for the validate/benchmark tests: tiny reference sets and generated SDF files (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

from pipeline.chem import conformer_coords, set_conformers

# (SMILES, name, net charge): a chiral acid with an E double bond; a rigid chiral ketone; a cation
MOLECULES = [
    ("C/C=C/C[C@H](N)C(=O)O", "amino_acid", 0),
    ("CC1(C)[C@@H]2CC[C@@]1(C)C(=O)C2", "camphor", 0),
    ("C[NH+]1CCCC1", "methylpyrrolidinium", 1),
]


def embed(smiles: str, n: int, seed: int, mmff: bool = True):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    p = rdDistGeom.ETKDGv3()
    p.randomSeed = seed
    assert len(rdDistGeom.EmbedMultipleConfs(m, n, p)) == n
    if mmff:
        rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(m, maxIters=500)
    return m


def write_refset(root: Path, n_confs: int = 3, molecules=MOLECULES) -> Path:
    """A raw reference set in the hutchison layout (molecules.smi, charges.txt, xyz/NAME/*.xyz)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "molecules.smi").write_text("".join(f"{s} {n}\n" for s, n, _ in molecules))
    (root / "charges.txt").write_text("".join(f"{n} {q}\n" for _, n, q in molecules if q))
    for smi, name, _ in molecules:
        m = embed(smi, n_confs, seed=100)
        d = root / "xyz" / name
        d.mkdir(parents=True, exist_ok=True)
        for k, conf in enumerate(m.GetConformers()):
            (d / f"conf{k + 1}.xyz").write_text(Chem.MolToXYZBlock(m, confId=conf.GetId()))
    return root


def write_generated(path: Path, entries) -> Path:
    """SDF in the sampling stage's format; ``entries`` = [(name, smiles, mol_with_conformers)]."""
    from pipeline.sample.sdf import write_sdf

    records = []
    for name, smiles, mol in entries:
        for j, conf in enumerate(mol.GetConformers()):
            records.append((mol, conf.GetId(), {"_Name": name, "SMILES": smiles, "conformer_index": j, "sampler": "test"}))
    write_sdf(path, records)
    return path


def mirrored(mol):
    out = Chem.Mol(mol)
    set_conformers(out, conformer_coords(mol) * np.array([-1.0, 1.0, 1.0]))
    return out
