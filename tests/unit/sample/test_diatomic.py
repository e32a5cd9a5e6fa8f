"""Two-atom molecules: the bond is set exactly (pipeline.sample.diatomic), whatever the denoiser does."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from pipeline.chem import conformer_coords
from pipeline.model import ModelSpec
from pipeline.sample.diatomic import diatomic_length, place_diatomic
from pipeline.sample.generate import generate_detailed
from pipeline.sample.inputs import prepare_molecule
from pipeline.validate.checks import check_conformers
from tests.helpers.sample import ReferenceDenoiser, etkdg_coords


def _mol(smiles: str):
    return prepare_molecule("--smiles", "1", smiles, Chem.MolFromSmiles(smiles), seed=0).mol


@pytest.mark.parametrize("smiles, lo, hi", [("[H][H]", 0.6, 0.8), ("Cl", 1.2, 1.45), ("N#N", 1.0, 1.2), ("ClCl", 1.9, 2.2)])
def test_length_is_the_distance_geometry_midpoint(smiles, lo, hi):
    assert lo < diatomic_length(_mol(smiles)) < hi


@pytest.mark.parametrize("smiles", ["O", "C", "[Na+].[Cl-]", "CC"])
def test_only_two_bonded_atoms_count(smiles):
    assert diatomic_length(_mol(smiles)) is None


def test_place_keeps_direction_and_midpoint():
    x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.3]])
    y = place_diatomic(x, 1.5)
    np.testing.assert_allclose(np.linalg.norm(y[1] - y[0]), 1.5)
    np.testing.assert_allclose(y.mean(axis=0), x.mean(axis=0))
    np.testing.assert_allclose((y[1] - y[0]) / 1.5, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("x", [np.zeros((2, 3)), np.array([[np.nan, 0, 0], [1.0, 0, 0]])])
def test_place_has_an_answer_for_a_collapsed_or_broken_sample(x):
    y = place_diatomic(x, 0.74)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(np.linalg.norm(y[1] - y[0]), 0.74)


def test_collapsing_denoiser_still_gives_valid_diatomics():
    # x̂₀ = both atoms at the origin: the raw bond collapses, the divergence guard would drop every sample
    mols = [_mol("[H][H]"), _mol("Cl"), _mol("C[C@H](N)C(=O)O")]  # alanine: the others are sampled as before
    model = ReferenceDenoiser([np.zeros((2, 3)), etkdg_coords(mols[2], seed=3)])
    out = generate_detailed(mols, model, ModelSpec(), 3, sampler="dpmpp_2m_sde", steps=6, atom_budget=100, progress=False, refine="none")
    assert out.errors == [] and out.stats.generated == 9
    np.testing.assert_allclose(conformer_coords(out.mols[2])[0] - conformer_coords(out.mols[2])[0].mean(0),
                               etkdg_coords(mols[2], seed=3), atol=1e-3)
    for m in out.mols[:2]:
        xs = conformer_coords(m)
        assert xs.shape == (3, 2, 3)
        np.testing.assert_allclose(np.linalg.norm(xs[:, 1] - xs[:, 0], axis=1), diatomic_length(m), atol=1e-9)
        table = check_conformers(m, m)
        assert all(r["valid"] for r in table), table


def test_minimising_from_the_minimum_is_quiet_and_converged(capfd):
    from rdkit.Chem import rdForceFieldHelpers as ffh

    from pipeline.chem import minimize, set_conformers

    m = _mol("Cl")  # UFF: its minimum is the distance-geometry length, gradient exactly zero there
    set_conformers(m, np.array([[[0.0, 0.0, 0.0], [0.0, 0.0, diatomic_length(m)]]]))
    ff = ffh.UFFGetMoleculeForceField(m)
    assert not np.any(ff.CalcGrad())
    assert minimize(ff, 200) == 0
    set_conformers(m, np.array([[[0.0, 0.0, 0.0], [0.0, 0.0, 1.6]]]))
    ff = ffh.UFFGetMoleculeForceField(m)
    assert minimize(ff, 200) == 0 and abs(np.linalg.norm(np.reshape(ff.Positions(), (2, 3))[1] - np.reshape(ff.Positions(), (2, 3))[0]) - diatomic_length(m)) < 1e-3
    assert "Invariant" not in capfd.readouterr().err
