"""Input handling of the sampling stage: parsing, hydrogens, salts, stereo, per-record errors."""

from __future__ import annotations

import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from pipeline.chem import canonical_smiles
from pipeline.sample.inputs import (
    InputError,
    SampleInputs,
    assign_unspecified_stereo,
    check_supported,
    prepare_molecule,
    read_inputs,
    spec_elements,
)


def test_smiles_with_names_hydrogens_and_salt_kept():
    mols, errors = read_inputs(SampleInputs(smiles=["CCO ethanol", "C[NH3+].[Cl-] methylammonium_chloride", "c1ccccc1"]))
    assert errors == []
    assert [m.name for m in mols] == ["ethanol", "methylammonium_chloride", "mol3"]
    eth, salt, benz = (m.mol for m in mols)
    assert eth.GetNumAtoms() == 9 and all(a.GetNumImplicitHs() == 0 for a in eth.GetAtoms())
    assert len(Chem.GetMolFrags(salt)) == 2
    assert sorted(a.GetFormalCharge() for a in salt.GetAtoms() if a.GetAtomicNum() != 1) == [-1, 0, 1]
    assert mols[1].smiles == canonical_smiles(Chem.MolFromSmiles("C[NH3+].[Cl-]"))
    assert benz.GetNumAtoms() == 12


def test_bad_records_are_named_and_good_ones_kept():
    mols, errors = read_inputs(SampleInputs(smiles=["CCO", "C1CC", "CN(C)(C)(C)C bad_valence", ""]))
    assert [m.name for m in mols] == ["mol1"]
    reasons = {e.record: e.reason for e in errors}
    assert set(reasons) == {"2 (C1CC)", "3 (bad_valence)", "4"}
    assert "cannot parse SMILES 'C1CC'" in reasons["2 (C1CC)"]
    assert "valence" in reasons["3 (bad_valence)"].lower()
    assert all(e.file == "--smiles" for e in errors)


def test_smi_file_header_comments_and_line_numbers(tmp_path):
    p = tmp_path / "in.smi"
    p.write_text("smiles name\n# a comment\nCCO ethanol\n\nnot_a_smiles broken\nCC(=O)O acetic acid\n")
    mols, errors = read_inputs(SampleInputs(input=p))
    assert [m.name for m in mols] == ["ethanol", "acetic acid"]
    assert [m.record for m in mols] == ["3", "6"]
    assert len(errors) == 1 and errors[0].file == str(p) and errors[0].record.startswith("5 ")


def test_empty_and_missing_and_unknown_inputs(tmp_path):
    empty = tmp_path / "empty.smi"
    empty.write_text("\n# nothing\n")
    mols, errors = read_inputs(SampleInputs(input=empty))
    assert mols == [] and len(errors) == 1 and "empty input" in errors[0].reason
    with pytest.raises(FileNotFoundError, match="nope.smi"):
        read_inputs(SampleInputs(input=tmp_path / "nope.smi"))
    odd = tmp_path / "x.pdb"
    odd.write_text("ATOM\n")
    with pytest.raises(InputError, match="unsupported input file type"):
        read_inputs(SampleInputs(input=odd))
    with pytest.raises(InputError, match="no input"):
        read_inputs(SampleInputs())


def test_sdf_groups_conformers_adds_hydrogens_and_keeps_3d_stereo(tmp_path):
    ala = Chem.AddHs(Chem.MolFromSmiles("C[C@@H](N)C(=O)O"))
    cids = AllChem.EmbedMultipleConfs(ala, 2, randomSeed=1)
    assert len(cids) == 2
    ala.SetProp("_Name", "ala")
    heavy = Chem.MolFromSmiles("CCN")  # no hydrogens in the file
    AllChem.Compute2DCoords(heavy)
    heavy.SetProp("_Name", "ethylamine")
    p = tmp_path / "in.sdf"
    with Chem.SDWriter(str(p)) as w:
        for cid in cids:
            w.write(ala, confId=cid)
        w.write(heavy)
    with open(p, "a") as fh:
        fh.write("garbage\n  no counts line\n\nM  END\n$$$$\n")
    mols, errors = read_inputs(SampleInputs(input=p))
    assert [(m.name, m.n_reference) for m in mols] == [("ala", 2), ("ethylamine", 1)]
    assert mols[0].smiles == canonical_smiles(Chem.MolFromSmiles("C[C@@H](N)C(=O)O"))
    assert mols[0].stereo_assigned is None
    assert mols[1].mol.GetNumAtoms() == 10  # hydrogens added
    assert len(errors) == 1 and errors[0].record == "4"


def test_unspecified_stereo_is_sampled_reproducibly_and_recorded():
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(O)[C@H](N)C=CC"))
    chosen = {assign_unspecified_stereo(mol, seed)[1] for seed in range(12)}
    assert None not in chosen and len(chosen) > 1  # the seed matters
    m1, s1 = assign_unspecified_stereo(mol, 3)
    m2, s2 = assign_unspecified_stereo(mol, 3)
    assert s1 == s2
    # the specified centre is kept: every choice contains it with its original label
    ref = Chem.MolFromSmiles("CC(O)[C@H](N)C=CC")
    Chem.AssignStereochemistry(ref, cleanIt=True, force=True)
    label = ref.GetAtomWithIdx(3).GetProp("_CIPCode")
    for s in chosen:
        m = Chem.MolFromSmiles(s)
        assert Chem.FindMolChiralCenters(m, useLegacyImplementation=True) and all(
            "?" not in lab for _, lab in Chem.FindMolChiralCenters(m, includeUnassigned=True, useLegacyImplementation=True)
        )
    assert m1.GetAtomWithIdx(3).GetProp("_CIPCode") == label
    # fully specified input: nothing assigned
    full = Chem.AddHs(Chem.MolFromSmiles("C[C@@H](O)[C@H](N)/C=C/C"))
    assert assign_unspecified_stereo(full, 0)[1] is None


def test_the_elements_a_model_knows_are_its_feature_configs():
    from pipeline.model.spec import FeatureConfig, ModelSpec

    assert spec_elements(ModelSpec(features=FeatureConfig(elements=[1, 6, 8]))) == {"H", "C", "O"}
    default = spec_elements(ModelSpec())
    assert spec_elements(None) == default and len(default) == len(FeatureConfig().elements)
    assert {"H", "C", "N", "O", "Cl"} <= default and "Se" not in default


def test_prepare_records_choice_and_check_supported():
    mi = prepare_molecule("--smiles", "1", "x", Chem.MolFromSmiles("CC(F)Cl"), seed=0)
    assert mi.stereo_assigned is not None and mi.smiles == "CC(F)Cl"
    assert check_supported(mi, max_atoms=100, elements={"H", "C", "F", "Cl"}) is None
    assert "exceeds the model's limit of 5" in check_supported(mi, max_atoms=5, elements=None)
    assert "unsupported element(s) Cl" in check_supported(mi, max_atoms=None, elements={"H", "C", "F"})
    mols, errors = read_inputs(SampleInputs(smiles=["C[Se]C selenide", "CCO"]), elements={"H", "C", "O"})
    assert [m.smiles for m in mols] == ["CCO"] and "Se" in errors[0].reason and "selenide" in errors[0].record


def test_dataset_split_with_reference_counts(tmp_path):
    from pipeline.chem import bonds_array, mapped_smiles
    from pipeline.data.dataset import DatasetWriter, MoleculeEntry

    w = DatasetWriter(tmp_path / "ds")
    for name, smi, k, split in [("a", "C[C@H](N)O", 3, "test"), ("b", "CCO", 2, "train"), ("c", "C/C=C/C", 1, "test")]:
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        cids = list(AllChem.EmbedMultipleConfs(mol, k, randomSeed=0))
        coords = [mol.GetConformer(c).GetPositions() for c in cids]
        entry = MoleculeEntry(name, canonical_smiles(mol), mapped_smiles(mol), 0, "test", split)
        w.add(entry, [a.GetAtomicNum() for a in mol.GetAtoms()], [0] * mol.GetNumAtoms(), bonds_array(mol), coords)
    w.commit()
    mols, errors = read_inputs(SampleInputs(input=tmp_path / "ds", split="test"))
    assert errors == [] and [(m.name, m.n_reference) for m in mols] == [("a", 3), ("c", 1)]
    assert mols[0].smiles == canonical_smiles(Chem.MolFromSmiles("C[C@H](N)O")) and mols[0].stereo_assigned is None
    assert mols[1].mol.GetNumAtoms() == 12
    assert len(read_inputs(SampleInputs(input=tmp_path / "ds"))[0]) == 3
    with pytest.raises(InputError, match="--split applies to a dataset directory"):
        read_inputs(SampleInputs(input=tmp_path / "ds" / "manifest.json", split="test"))
