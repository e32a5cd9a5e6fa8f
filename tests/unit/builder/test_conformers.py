import itertools

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdMolAlign

from pipeline.builder.config import ConformerConfig
from pipeline.builder.conformers import KCAL_PER_HARTREE, ConformerError, generate_ensemble, prune, stereo_matches
from pipeline.builder.selection import stereo_isomers


def _ensemble(smiles, seed=7, **cfg):
    mol_h = Chem.AddHs(Chem.MolFromSmiles(smiles))
    target = Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
    return generate_ensemble(mol_h, target, ConformerConfig(**{"num_embed": 12, **cfg}), seed)


def test_pruning_keeps_distinct_conformers_within_the_window():
    ens = _ensemble("CCCCOC(=O)c1ccccc1", rmsd_threshold=0.5, energy_window_kcal=10.0, max_conformers=10)
    k = ens.mol.GetNumConformers()
    assert 2 <= k <= 10 and ens.stats["kept"] == k
    e = ens.energies_kcal
    assert np.all(np.diff(e) >= 0) and e[-1] - e[0] <= 10.0
    heavy = Chem.RemoveHs(ens.mol)
    ids = [c.GetId() for c in heavy.GetConformers()]
    for a, b in itertools.combinations(ids, 2):
        assert rdMolAlign.GetBestRMS(heavy, heavy, a, b) >= 0.5


def test_prune_drops_a_duplicate_and_respects_max_keep():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCCCOC(=O)c1ccccc1"))
    ens = _ensemble("CCCCOC(=O)c1ccccc1", rmsd_threshold=0.5)
    heavy = Chem.RemoveHs(ens.mol)
    first = heavy.GetConformer(0)
    dup = Chem.Conformer(first)
    rot = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])  # a rotated copy is the same conformer
    for i, p in enumerate(first.GetPositions() @ rot.T):
        dup.SetAtomPosition(i, p.tolist())
    dup_id = heavy.AddConformer(dup, assignId=True)
    order = [0, dup_id] + [c.GetId() for c in heavy.GetConformers() if c.GetId() not in (0, dup_id)]
    kept = prune(heavy, order, 0.5, max_keep=10)
    assert dup_id not in kept and kept[0] == 0 and len(kept) == ens.mol.GetNumConformers()
    assert prune(heavy, order, 0.5, max_keep=1) == [0]
    assert mol.GetNumAtoms() == ens.mol.GetNumAtoms()


def test_assigned_stereo_is_kept_in_every_conformer():
    mol = Chem.MolFromSmiles("CC(O)c1ccccc1")
    isomers = stereo_isomers(mol, seed=1, max_unassigned=4)
    assert sorted(isomers) == ["C[C@@H](O)c1ccccc1", "C[C@H](O)c1ccccc1"]
    for iso in isomers:
        ens = generate_ensemble(Chem.AddHs(Chem.MolFromSmiles(iso)), iso, ConformerConfig(num_embed=6), 3)
        assert all(stereo_matches(ens.mol, c.GetId(), iso) for c in ens.mol.GetConformers())
        other = next(s for s in isomers if s != iso)
        assert not stereo_matches(ens.mol, ens.mol.GetConformers()[0].GetId(), other)


def test_same_seed_same_ensemble_and_energy_units():
    a, b = _ensemble("OCCN1CCOCC1", seed=5), _ensemble("OCCN1CCOCC1", seed=5)
    np.testing.assert_array_equal(a.energies_kcal, b.energies_kcal)
    xa = np.stack([c.GetPositions() for c in a.mol.GetConformers()])
    xb = np.stack([c.GetPositions() for c in b.mol.GetConformers()])
    np.testing.assert_array_equal(xa, xb)
    assert KCAL_PER_HARTREE == pytest.approx(627.5095, abs=1e-3)


def test_unembeddable_molecule_is_a_clear_error():
    with pytest.raises(ConformerError, match="no .*parameters|embedding failed"):
        _ensemble("[Xe]", num_embed=2)


def test_impossible_stereoisomer_falls_back_to_the_next_one():
    # norbornene: this bridgehead pair cannot exist; the builder must move on to a feasible isomer
    from pipeline.builder.config import XtbConfig
    from pipeline.builder.molecule import build_molecule
    from pipeline.builder.selection import Candidate

    impossible, feasible = "O=C(N)[C@H]1C[C@@H]2C=C[C@@H]1C2", "O=C(N)[C@H]1C[C@@H]2C=C[C@H]1C2"
    cand = Candidate(1, "NC(=O)C1CC2C=CC1C2", [impossible, feasible], seed=3)
    built = build_molecule(cand, ConformerConfig(num_embed=4, embed_timeout_s=1), XtbConfig())
    assert built.error is None and built.stats["isomer_rank"] == 1
    assert built.smiles == Chem.MolToSmiles(Chem.MolFromSmiles(feasible)) and built.coords.shape[0] >= 1
    alone = build_molecule(Candidate(2, "x", [impossible], seed=3), ConformerConfig(num_embed=4, embed_timeout_s=1), XtbConfig())
    assert alone.coords is None and "cannot be embedded" in alone.error


def test_embed_count_scales_with_rotatable_bonds_and_is_capped():
    from pipeline.builder.conformers import embed_count

    rigid, flexible = Chem.AddHs(Chem.MolFromSmiles("c1ccc2ccccc2c1")), Chem.AddHs(Chem.MolFromSmiles("CCCCCCCCCCOCCOCCO"))
    v2 = ConformerConfig(num_embed=30, embed_per_rotor=4, min_embed=10)
    assert embed_count(rigid, v2) == 10 and embed_count(flexible, v2) == 30
    assert embed_count(Chem.AddHs(Chem.MolFromSmiles("CCCCOC")), v2) == 10 + 4 * 3  # C2-C3, C3-C4, C4-O: methyl ends are no rotors
    assert embed_count(rigid, ConformerConfig(num_embed=30)) == 30  # embed_per_rotor 0: recipe v1


def test_threads_do_not_change_the_ensemble():
    one, two = _ensemble("CCCCOC(=O)c1ccccc1", seed=11), _ensemble("CCCCOC(=O)c1ccccc1", seed=11, threads=2)
    assert one.stats == two.stats
    np.testing.assert_array_equal(one.energies_kcal, two.energies_kcal)
    for a, b in zip(one.mol.GetConformers(), two.mol.GetConformers()):
        np.testing.assert_array_equal(a.GetPositions(), b.GetPositions())


def test_compare_coverage_is_the_best_rmsd_to_the_other_ensemble():
    from dataclasses import replace

    from pipeline.builder.compare import coverage
    from pipeline.builder.config import XtbConfig
    from pipeline.builder.molecule import build_molecule
    from pipeline.builder.selection import Candidate

    built = build_molecule(Candidate(1, "CCCCOC(=O)c1ccccc1", ["CCCCOC(=O)c1ccccc1"], 3), ConformerConfig(num_embed=8), XtbConfig())
    k = built.coords.shape[0]
    assert k >= 3
    np.testing.assert_allclose(coverage(built, built), 0.0, atol=1e-6)
    first = replace(built, coords=built.coords[:1], energies=built.energies[:1])
    best = coverage(built, first)
    assert best[0] == pytest.approx(0.0, abs=1e-6) and (best[1:] >= 0.5 - 1e-6).all()  # kept conformers are >= 0.5 Å apart
