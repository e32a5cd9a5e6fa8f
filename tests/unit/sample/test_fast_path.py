"""Sampling with the fused inference path gives the samples of the reference layers (fixed seed)."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from pipeline.chem import conformer_coords
from pipeline.sample.config import DivergenceConfig
from pipeline.sample.generate import generate_detailed
from pipeline.sample.steric import StericGuidanceConfig
from pipeline.sample.inputs import prepare_molecule
from tests.helpers.sample import tiny_model

SMILES = [("C[C@H](N)C(=O)O", "ala"), ("C[C@@H](O)[C@H](N)/C=C/C", "amino_alcohol"), ("C[NH3+].[Cl-]", "salt")]


@pytest.fixture(scope="module")
def mols():
    return [prepare_molecule("--smiles", "1", name, Chem.MolFromSmiles(s), seed=0).mol for s, name in SMILES]


@pytest.mark.parametrize("sampler,steps", [("ode", 30), ("sde", 30)])
def test_fused_path_gives_the_reference_samples(mols, sampler, steps):
    model, spec = tiny_model()
    # an untrained model: geometry is arbitrary, only non-finite output would count as diverged
    div = DivergenceConfig(min_bond_length=0.0, max_bond_length=1e6, max_radius=1e9)
    coords = []
    for fused in (False, True):
        model.net.fused_inference = fused
        # the sampler's output: a force field, or the steric projection of an untrained model's tangle, would
        # amplify float-order differences
        out = generate_detailed(mols, model, spec, 3, sampler=sampler, steps=steps, seed=5, atom_budget=40, divergence=div, progress=False,
                                refine="none", steric=StericGuidanceConfig(enabled=False))
        assert out.errors == [] and out.stats.generated == 9
        coords.append([conformer_coords(m) for m in out.mols])
    for ref, fast in zip(*coords):
        assert ref.shape == fast.shape and np.abs(ref).max() > 0.5
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-5)
