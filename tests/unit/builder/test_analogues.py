"""Phosphorus analogues of source molecules (pipeline.builder.analogues) and their place in the selection."""

import pytest
from rdkit import Chem

from pipeline.builder.analogues import ANALOGUE_RULES, analogue
from pipeline.builder.config import SelectionConfig
from pipeline.builder.exclusion import load_exclusion
from pipeline.builder.selection import select_candidates
from tests.helpers.builder import HUTCHISON


def _canon(smi):
    return Chem.MolToSmiles(Chem.MolFromSmiles(smi))


@pytest.mark.parametrize("source, rule, expected", [
    ("CC(=O)O", "phosphonic_acid", "CP(=O)(O)O"),
    ("CCOC(=O)c1ccccc1", "phosphonate_diester", "CCOP(=O)(OC)c1ccccc1"),
    ("CC(=O)NCc1ccccc1", "phosphonamidate_from_amide", "CP(=O)(O)NCc1ccccc1"),
    ("CNS(=O)(=O)c1ccccc1", "phosphonamidate_from_sulfonamide", "CNP(=O)(O)c1ccccc1"),
    ("OCCc1ccccc1", "phosphate_monoester", "O=P(O)(O)OCCc1ccccc1"),
    ("CC(=O)CCc1ccccc1", "phosphine_oxide", "CP(C)(=O)CCc1ccccc1"),
    ("COc1ccccc1", "phosphate_diester_from_ether", "COP(=O)(O)Oc1ccccc1"),
])
def test_each_rule_rewrites_its_group(source, rule, expected):
    got_rule, mol = analogue(Chem.MolFromSmiles(source), "phosphorus", seed=0)
    assert got_rule == rule and Chem.MolToSmiles(mol) == _canon(expected)
    assert sum(a.GetSymbol() == "P" for a in mol.GetAtoms()) == 1


def test_no_site_and_unknown_kind():
    assert analogue(Chem.MolFromSmiles("c1ccccc1Cl"), "phosphorus", seed=3) is None
    with pytest.raises(ValueError, match="unknown analogue kind"):
        analogue(Chem.MolFromSmiles("CCO"), "selenium", seed=0)
    with pytest.raises(ValueError, match="known kinds are phosphorus"):
        SelectionConfig(analogue="selenium")
    assert set(ANALOGUE_RULES) == {"phosphorus"}


def test_seeded_choice_covers_every_site_and_ignores_atom_order():
    # two sites: the acid and the alcohol; every seed picks one of the two, both get picked
    smi = "OC(=O)CCCCO"
    picks = {Chem.MolToSmiles(analogue(Chem.MolFromSmiles(smi), "phosphorus", s)[1]) for s in range(8)}
    assert picks == {_canon("O=P(O)(O)CCCCO"), _canon("OC(=O)CCCCOP(=O)(O)O")}
    renumbered = Chem.MolFromSmiles("OCCCCC(=O)O")  # the same molecule, atoms in another order
    for s in range(4):
        assert Chem.MolToSmiles(analogue(renumbered, "phosphorus", s)[1]) == Chem.MolToSmiles(analogue(Chem.MolFromSmiles(smi), "phosphorus", s)[1])


def test_selection_rewrites_then_filters_and_counts():
    excl = load_exclusion([HUTCHISON])
    smiles = ["CCCCOC(=O)c1ccccc1", "c1ccccc1CCl", "CC(=O)Nc1ccc(O)cc1"]
    plain = select_candidates(smiles, SelectionConfig(n_molecules=10, min_heavy_atoms=3), excl, "src")
    assert sorted(c.record for c in plain.candidates) == [1, 2, 3] and not plain.analogue_rules  # 2 has no site but is fine as it is
    cfg = SelectionConfig(n_molecules=10, min_heavy_atoms=3, analogue="phosphorus", elements=["H", "C", "N", "O", "P", "Cl"])
    sel = select_candidates(smiles, cfg, excl, "src")
    assert sel.filtered["no_analogue_site"] == 1 and sorted(c.record for c in sel.candidates) == [1, 3]
    assert all("P" in c.isomers[0] for c in sel.candidates) and sum(sel.analogue_rules.values()) == 2
    assert [c.source_smiles for c in sel.candidates] == [smiles[c.record - 1] for c in sel.candidates]
    without_p = select_candidates(smiles, cfg.model_copy(update={"elements": ["H", "C", "N", "O", "Cl"]}), excl, "src")
    assert not without_p.candidates and without_p.filtered["element"] == 2  # the rewritten molecule is what is filtered


def test_rule_first_so_common_groups_do_not_crowd_out_rare_ones():
    # three amides and one acid: half of the seeds rewrite the acid
    smi = "CC(=O)NCC(=O)NCC(=O)NCCC(=O)O"
    rules = [analogue(Chem.MolFromSmiles(smi), "phosphorus", s)[0] for s in range(40)]
    assert rules.count("phosphonic_acid") == 20 and rules.count("phosphonamidate_from_amide") == 20
    sites = {Chem.MolToSmiles(analogue(Chem.MolFromSmiles(smi), "phosphorus", s)[1]) for s in range(40) if s % 2 == 0}
    assert len(sites) == 3  # every amide gets its turn


def test_an_ester_is_never_made_an_acyl_phosphate():
    rules = {analogue(Chem.MolFromSmiles("CCOC(=O)c1ccccc1"), "phosphorus", s)[0] for s in range(8)}
    assert rules == {"phosphonate_diester"}
