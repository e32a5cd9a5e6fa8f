"""Bond perception from 3D (with the net charge), SMILES templates (connectivity + stereo checked)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.perception import PerceptionOptions, perceive, perceive_item
from pipeline.ingest.records import AtomsRecord, RecordProblem, Template
from pipeline.ingest.xyz import parse_xyz_text
from pipeline.types import RecordError

from tests.helpers.ingest import embedded, mirrored, salt, xyz_frame

OPTS = PerceptionOptions.from_config(IngestConfig())

# QM9 dsgdb9nsd_002005 (bicyclo[1.1.1]pentane-1-carbonitrile cage): connect-the-dots bonds the
# bridgeheads and fails; the extended-Hückel connectivity gets it right.
QM9_CAGE = """14
dsgdb9nsd_002005
N 0.019771 -1.104854 -0.004619
C 0.002265 0.051543 0.002157
C -0.019718 1.493219 0.010527
C -0.643515 2.422349 1.101007
C -0.048294 3.373132 0.021412
C 1.209992 2.456902 0.001494
C -0.669049 2.434446 -1.054567
H -1.731604 2.392229 1.190377
H -0.153888 2.411029 2.077263
H -0.064832 4.461336 0.027717
H 1.831964 2.448053 0.899254
H 1.810871 2.458194 -0.910508
H -0.202169 2.434125 -2.041892
H -1.758953 2.405063 -1.118931
"""


def _record(mol, name="m", charge=None, template=None, order=None) -> AtomsRecord:
    (rec,) = list(parse_xyz_text(xyz_frame(mol, order=order), "t.xyz", name, charge, template))
    return rec


@pytest.mark.parametrize(
    "smiles, charge",
    [("CC(=O)Nc1ccc(O)cc1", 0), ("C[N+](C)(C)CCO", 1), ("CC(=O)[O-]", -1), ("C[NH3+].[O-]C(=O)C", 0)],
)
def test_bonds_and_charges_from_3d_with_net_charge(smiles, charge):
    from rdkit import Chem

    mol = salt(*smiles.split(".")) if "." in smiles else embedded(smiles)
    conf = perceive(_record(mol, charge=charge), OPTS)
    assert conf.smiles == Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
    assert conf.charge == charge == int(conf.formal_charges.sum())
    assert conf.bonds.shape[1] == 3 and (conf.bonds[:, 0] < conf.bonds[:, 1]).all()


def test_stereo_from_3d_without_template():
    mol = embedded("CN[C@@H](C)[C@H](O)c1ccccc1")
    assert perceive(_record(mol), OPTS).smiles == "CN[C@@H](C)[C@H](O)c1ccccc1"
    assert perceive(_record(mirrored(mol)), OPTS).smiles == "CN[C@H](C)[C@@H](O)c1ccccc1"


def test_wrong_charge_is_a_per_record_error():
    res = perceive_item(_record(embedded("C[N+](C)(C)CCO"), charge=0), OPTS)
    assert isinstance(res, RecordError) and res.file == "t.xyz" and res.record == "1"
    assert "bond perception failed with net charge 0" in res.reason


def test_hueckel_fallback_rescues_strained_cage_and_can_be_switched_off():
    (rec,) = list(parse_xyz_text(QM9_CAGE, "cage.xyz", "cage"))
    conf = perceive(rec, OPTS)
    assert conf.smiles == "N#CC12CC(C1)C2" and "hueckel_connectivity" in conf.notes
    with pytest.raises(RecordProblem, match="bond perception failed"):
        perceive(rec, PerceptionOptions.from_config(IngestConfig(hueckel_fallback=False)))


def test_template_gives_bond_orders_charges_and_checks_stereo():
    smi = "C[NH2+][C@@H](C)[C@H](O)c1ccccc1"
    mol = embedded(smi)
    rng = np.random.default_rng(0)
    order = rng.permutation(mol.GetNumAtoms())  # file lists atoms in another order than the SMILES
    tpl = Template(smi, "t.smi line 1")
    conf = perceive(_record(mol, charge=1, template=tpl, order=order), OPTS)
    assert conf.smiles == smi and conf.charge == 1 and "template" in conf.notes
    # atom order and coordinates are the file's
    assert conf.atomic_numbers.tolist() == [mol.GetAtomWithIdx(int(i)).GetAtomicNum() for i in order]
    # the enantiomer's geometry contradicts the template
    res = perceive_item(_record(mirrored(mol), charge=1, template=tpl), OPTS)
    assert isinstance(res, RecordError) and "stereo from 3D" in res.reason and "t.smi line 1" in res.reason


def test_template_with_unspecified_stereo_accepts_either_and_records_3d_stereo():
    mol = embedded("C[C@H](O)CC")
    conf = perceive(_record(mirrored(mol), template=Template("CC(O)CC", "x")), OPTS)
    assert conf.smiles == "CC[C@H](C)O" or conf.smiles == "CC[C@@H](C)O"
    assert conf.smiles != perceive(_record(mol, template=Template("CC(O)CC", "x")), OPTS).smiles


def test_template_double_bond_stereo_checked():
    mol = embedded("C/C=C/C(=O)O")
    assert perceive(_record(mol, template=Template("C/C=C/C(=O)O", "x")), OPTS).smiles == "C/C=C/C(=O)O"
    with pytest.raises(RecordProblem, match="stereo from 3D"):
        perceive(_record(mol, template=Template("C/C=C\\C(=O)O", "x")), OPTS)


@pytest.mark.parametrize(
    "template, charge, reason",
    [
        ("CC(C", None, "cannot be parsed"),
        ("CCN", None, "do not match template"),  # other atoms
        ("OCC", 1, "net charge 1 given"),  # charge disagrees with the template's
    ],
)
def test_template_problems_are_reasons(template, charge, reason):
    res = perceive_item(_record(embedded("CCO"), charge=charge, template=Template(template, "tpl.smi line 3")), OPTS)
    assert isinstance(res, RecordError) and reason in res.reason


def test_template_connectivity_mismatch():
    # acetaldehyde geometry vs vinyl alcohol template: same atoms (C2H4O), other bonds
    res = perceive_item(_record(embedded("CC=O"), template=Template("C=CO", "tpl.smi line 9")), OPTS)
    assert isinstance(res, RecordError) and "connectivity from 3D" in res.reason and "tpl.smi line 9" in res.reason


def test_filters_are_reported_as_filtered():
    from pipeline.ingest.perception import FilteredRecord

    small = PerceptionOptions.from_config(IngestConfig(max_atoms=5))
    res = perceive_item(_record(embedded("CCO")), small)
    assert isinstance(res, FilteredRecord) and "max_atoms" in res.reason
    no_o = PerceptionOptions.from_config(IngestConfig(elements=["C", "H"]))
    res = perceive_item(_record(embedded("CCO")), no_o)
    assert isinstance(res, FilteredRecord) and "O" in res.reason
    neutral = PerceptionOptions.from_config(IngestConfig(min_charge=0, max_charge=0))
    res = perceive_item(_record(embedded("C[N+](C)(C)C"), charge=1), neutral)
    assert isinstance(res, FilteredRecord) and "net charge 1" in res.reason


@pytest.mark.parametrize("smiles", ["CC(=O)Nc1ccc(O)cc1", "C[NH3+].[O-]C(=O)C", "c1ccncc1[N+](=O)[O-]", "C#N", "[Cl-]"])
def test_fast_atom_and_bond_arrays_match_the_rdkit_loops(smiles):
    from rdkit import Chem

    from pipeline.chem import bonds_array
    from pipeline.ingest.perception import _atom_arrays, _bond_array

    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    z, q = _atom_arrays(m)
    assert z.tolist() == [a.GetAtomicNum() for a in m.GetAtoms()]
    assert q.tolist() == [a.GetFormalCharge() for a in m.GetAtoms()]
    assert sorted(map(tuple, _bond_array(m).tolist())) == sorted(map(tuple, bonds_array(m).tolist()))


def test_heavy_atom_only_xyz_is_flagged():
    mol = embedded("c1ccccc1")
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    (rec,) = list(parse_xyz_text(xyz_frame(mol, order=heavy), "noh.xyz", "benzene"))
    res = perceive_item(rec, OPTS)
    assert isinstance(res, RecordError) or "carbon_without_hydrogens" in res.notes
    assert "carbon_without_hydrogens" not in perceive(_record(mol), OPTS).notes
