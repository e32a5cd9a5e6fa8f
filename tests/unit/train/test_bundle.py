"""The GPU bundle's numpy rebuild of graph features equals what RDKit's featurizer computes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402

from pipeline.model.features import featurize  # noqa: E402
from pipeline.model.spec import FeatureConfig  # noqa: E402
from pipeline.train.bundle import bond_classes, hops_from_bonds  # noqa: E402


@pytest.mark.parametrize(
    "smiles, max_hops",
    [
        ("CCCCCCCCCCO", 6),  # chain longer than max_hops: the "farther" class
        ("C[NH3+].[Cl-]", 6),  # two fragments: the "other fragment" class
        ("c1ccc2ccccc2c1O", 3),  # rings, aromatic bonds, a small max_hops
        ("C#CC=CC(=O)[O-].[Na+]", 6),  # triple and double bonds, a salt
    ],
)
def test_hops_and_bond_classes_match_the_featurizer(smiles, max_hops):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    g = featurize(mol, FeatureConfig(max_hops=max_hops))
    n = mol.GetNumAtoms()
    bonds = g.bonds.numpy()
    assert np.array_equal(hops_from_bonds(n, bonds, max_hops), g.pair_hops.numpy().reshape(n, n))
    assert np.array_equal(bond_classes(n, bonds), g.pair_bond.numpy().reshape(n, n))
    assert (g.pair_hops.numpy() == max_hops + 2).any() == ("." in smiles)
