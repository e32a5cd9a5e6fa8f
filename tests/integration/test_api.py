"""pipeline.api: generate_conformers as a drop-in for EmbedMultipleConfs; batch form; model cache."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from pipeline import api
from pipeline.model import save_model
from pipeline.sample.config import DivergenceConfig
from tests.helpers.sample import tiny_model


LOOSE = DivergenceConfig(min_bond_length=0.0, max_bond_length=1e3, max_radius=1e5)  # an untrained model: only non-finite counts


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    model, spec = tiny_model(seed=4, max_atoms=40)
    return str(save_model(tmp_path_factory.mktemp("api") / "model", model, spec))


def _same_graph(a, b) -> bool:
    if a.GetNumAtoms() != b.GetNumAtoms() or a.GetNumBonds() != b.GetNumBonds():
        return False
    atoms = all(
        (x.GetAtomicNum(), x.GetFormalCharge()) == (y.GetAtomicNum(), y.GetFormalCharge()) for x, y in zip(a.GetAtoms(), b.GetAtoms())
    )
    bonds = {(bd.GetBeginAtomIdx(), bd.GetEndAtomIdx(), bd.GetBondType()) for bd in a.GetBonds()}
    return atoms and bonds == {(bd.GetBeginAtomIdx(), bd.GetEndAtomIdx(), bd.GetBondType()) for bd in b.GetBonds()}


def test_mol_in_mol_out_like_embed_multiple_confs(model_dir):
    api.clear_model_cache()
    mol = Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))
    out = api.generate_conformers(mol, num_confs=3, sampler="ode", steps=2, seed=1, model=model_dir, divergence=LOOSE)
    assert out is not mol and out.GetNumConformers() == 3
    assert _same_graph(out, mol) and Chem.MolToSmiles(out) == Chem.MolToSmiles(mol)
    xs = np.stack([c.GetPositions() for c in out.GetConformers()])
    assert np.isfinite(xs).all() and xs.shape == (3, mol.GetNumAtoms(), 3)
    assert mol.GetNumConformers() == 0  # the input is not modified
    # the model is loaded once per process
    api.generate_conformers("CCO", num_confs=1, steps=1, model=model_dir, divergence=LOOSE)
    info = api._cached_model.cache_info()
    assert info.misses == 1 and info.hits == 1


def test_smiles_and_heavy_atom_mol_get_hydrogens(model_dir):
    heavy = Chem.MolFromSmiles("OC(=O)c1ccccc1")
    out = api.generate_conformers(heavy, num_confs=2, steps=1, model=model_dir, sampler="ode_euler", divergence=LOOSE)
    assert out.GetNumAtoms() == 15 and out.GetNumConformers() == 2
    assert [a.GetAtomicNum() for a in out.GetAtoms()][: heavy.GetNumAtoms()] == [a.GetAtomicNum() for a in heavy.GetAtoms()]
    from_smiles = api.generate_conformers("CC(F)Cl", num_confs=1, steps=1, model=model_dir, divergence=LOOSE)
    assert from_smiles.GetNumAtoms() == 8 and from_smiles.HasProp("stereo_assigned")


def test_batch_form_and_errors(model_dir):
    mols, errors = api.generate_conformers_batch(
        ["CCO", "xx", "C" * 20, "C[NH3+].[Cl-]"], num_confs=2, steps=1, model=model_dir, return_errors=True, divergence=LOOSE
    )
    assert mols[1] is None and mols[2] is None
    assert mols[0].GetNumConformers() == 2 and mols[3].GetNumConformers() == 2
    assert len(Chem.GetMolFrags(mols[3])) == 2
    assert [e.record.split()[0] for e in errors] == ["2", "3"]
    with pytest.raises(api.ConformerGenerationError, match="cannot parse SMILES"):
        api.generate_conformers("xx", model=model_dir)
