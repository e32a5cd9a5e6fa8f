"""Featurizer: chirality pseudoscalar matches real geometry, E/Z pair classes, pair arrays, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem, rdMolTransforms  # noqa: E402

from pipeline.chem import bonds_array  # noqa: E402
from pipeline.model.features import featurize, node_feature_dim, signed_volumes, split_bonds  # noqa: E402
from pipeline.model.spec import FeatureConfig  # noqa: E402


def _embedded(smi: str, seed: int = 7):
    m = Chem.AddHs(Chem.MolFromSmiles(smi))
    assert AllChem.EmbedMolecule(m, randomSeed=seed) == 0
    return m


def _volumes(mol, data) -> tuple[torch.Tensor, torch.Tensor]:
    idx = (data.chirality != 0).nonzero().flatten()
    rows = []
    for i in idx.tolist():
        nb = sorted((n.GetIdx() for n in mol.GetAtomWithIdx(i).GetNeighbors()), key=lambda k: int(data.canonical_rank[k]))
        rows.append(nb + [-1] * (4 - len(nb)))
    pos = torch.tensor(mol.GetConformer().GetPositions())
    return data.chirality[idx], signed_volumes(pos, idx, torch.tensor(rows).reshape(-1, 4))


@pytest.mark.parametrize(
    "smi",
    ["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O", "F[C@](Cl)(Br)I", "C[S@](=O)c1ccccc1", "C[S@@](=O)CC", "O[C@@H]1CCCC[C@H]1N", "C[C@@H]1CC[C@H](O)CC1"],
)
def test_chirality_is_the_sign_of_the_etkdg_signed_volume(smi):
    mol = _embedded(smi)
    data = featurize(mol)
    chi, vol = _volumes(mol, data)
    assert chi.numel() >= 1
    assert torch.equal(chi.double(), torch.sign(vol))


def test_enantiomers_have_opposite_pseudoscalars_and_equal_scalars():
    a = featurize(Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)C(=O)O")))
    b = featurize(Chem.AddHs(Chem.MolFromSmiles("C[C@@H](N)C(=O)O")))
    assert torch.equal(a.x, b.x)
    assert a.chirality.abs().sum() == 1
    assert torch.equal(a.chirality, -b.chirality)


def test_unspecified_centre_is_zero():
    d = featurize(Chem.AddHs(Chem.MolFromSmiles("CC(N)C(=O)O")))
    assert d.chirality.abs().sum() == 0


@pytest.mark.parametrize("smi,expected", [("C/C=C/C", 2), ("C/C=C\\C", 1)])
def test_ez_pair_class_matches_geometry(smi, expected):
    mol = _embedded(smi)
    d = featurize(mol)
    n = mol.GetNumAtoms()
    stereo = d.pair_stereo.reshape(n, n)
    assert stereo[0, 3] == expected and stereo[3, 0] == expected  # the two methyl carbons
    dihedral = abs(rdMolTransforms.GetDihedralDeg(mol.GetConformer(), 0, 1, 2, 3))
    assert (dihedral > 150) == (expected == 2)
    # every labelled pair is a 1-4 pair across the double bond, cis pairs are closer than trans pairs
    pos = torch.tensor(mol.GetConformer().GetPositions())
    dist = torch.cdist(pos, pos)
    assert dist[stereo == 1].max() < dist[stereo == 2].min()


def test_pair_arrays_and_bonds():
    cfg = FeatureConfig(max_hops=3)
    mol = Chem.AddHs(Chem.MolFromSmiles("CCCCCO.O"))
    d = featurize(mol, cfg)
    n = mol.GetNumAtoms()
    assert d.x.shape == (n, node_feature_dim(cfg))
    hops = d.pair_hops.reshape(n, n)
    assert torch.equal(hops, hops.T) and torch.all(hops.diagonal() == 0)
    water_o = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 8 and a.GetDegree() == 2 and all(nb.GetAtomicNum() == 1 for nb in a.GetNeighbors())][0]
    assert hops[0, water_o] == cfg.max_hops + 2  # other fragment
    assert hops[0, 4] == cfg.max_hops + 1  # C0..C4 is 4 hops > max_hops
    bond = d.pair_bond.reshape(n, n)
    assert int((bond > 0).sum()) == 2 * mol.GetNumBonds()
    assert np.array_equal(split_bonds(d)[0], bonds_array(mol))


def test_implicit_hydrogens_are_rejected():
    with pytest.raises(ValueError, match="implicit hydrogens"):
        featurize(Chem.MolFromSmiles("CCO"))
