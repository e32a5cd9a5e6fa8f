"""Tiny conformer datasets built on the fly (tests, benchmarks, demos): SMILES -> RDKit ETKDG -> dataset dir.

``make_toy_dataset(out_dir, smiles, n_confs)`` writes a real dataset with
:class:`pipeline.data.DatasetWriter`; ``write_prior_json(dir, params)`` writes the ``prior.json``
that ``bondiff prior`` would (params only, no calibration report). RDKit is imported lazily.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["make_toy_dataset", "write_prior_json", "TOY_SMILES"]

TOY_SMILES = ["CCO", "CC(=O)O", "C[C@H](N)C(=O)O", "c1ccccc1O", "C/C=C/C(=O)OC", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "OC1CCCCC1", "CNC(=O)c1ccncc1"]


def make_toy_dataset(
    out_dir: str | Path,
    smiles: Sequence[str],
    n_confs: int = 2,
    seed: int = 0,
    splits: Sequence[str] | None = None,
    optimize: bool = True,
) -> Path:
    """Write a dataset of ETKDG(+MMFF) conformers; ``splits[i]`` is molecule i's split (default all train)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from pipeline.chem import bonds_array, canonical_smiles, conformer_coords, mapped_smiles
    from pipeline.data.dataset import DatasetWriter, MoleculeEntry

    writer = DatasetWriter(out_dir)
    for i, smi in enumerate(smiles):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        params = AllChem.ETKDGv3()
        params.randomSeed = seed + i
        ids = list(AllChem.EmbedMultipleConfs(mol, numConfs=n_confs, params=params))
        if not ids:
            raise ValueError(f"ETKDG failed for {smi}")
        if optimize:
            AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=500)
        entry = MoleculeEntry(
            name=f"mol{i}",
            smiles=canonical_smiles(mol),
            mapped_smiles=mapped_smiles(mol),
            charge=Chem.GetFormalCharge(mol),
            source="toy",
            split=(splits[i] if splits else "train"),
        )
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
        q = np.array([a.GetFormalCharge() for a in mol.GetAtoms()])
        writer.add(entry, z, q, bonds_array(mol), conformer_coords(mol))
    return writer.commit({"source": "toy"})


def write_prior_json(directory: str | Path, params) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "prior.json").write_text(json.dumps({"params": params.model_dump()}, indent=2) + "\n")
    return d
