"""SDF/MOL: records of one molecule are its conformers; charges, stereo and hydrogens from the file."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.perception import PerceptionOptions, perceive, perceive_item
from pipeline.ingest.records import MolBlockRecord, RecordProblem
from pipeline.ingest.sdf import read_sdf
from pipeline.types import RecordError

from tests.helpers.ingest import embedded, mirrored

OPTS = PerceptionOptions.from_config(IngestConfig())
EPHEDRINE = "CN[C@@H](C)[C@H](O)c1ccccc1"


def _blocks(mol, n):
    from rdkit import Chem

    return [Chem.MolToMolBlock(mol, confId=i) for i in range(n)]


def _write_sdf(path, blocks):
    path.write_text("".join(b + "$$$$\n" for b in blocks))
    return path


def test_multi_record_sdf_with_a_broken_record(tmp_path):
    mol = embedded(EPHEDRINE, n_confs=3)
    blocks = _blocks(mol, 3)
    lines = blocks[1].splitlines()
    lines[3] = "  xx  yy  0  0  0  0  0  0  0  0999 V2000"  # broken counts line
    blocks[1] = "\n".join(lines) + "\n"
    f = _write_sdf(tmp_path / "eph.sdf", blocks)
    items = list(read_sdf(f))
    assert [i.record for i in items] == ["1", "2", "3"]
    results = [perceive_item(i, OPTS) for i in items]
    bad = [r for r in results if isinstance(r, RecordError)]
    good = [r for r in results if not isinstance(r, RecordError)]
    assert len(bad) == 1 and bad[0].file == str(f) and bad[0].record == "2" and "broken MOL block" in bad[0].reason
    assert len(good) == 2 and {c.smiles for c in good} == {EPHEDRINE}


def test_stereo_comes_from_the_3d_coordinates(tmp_path):
    mol = embedded(EPHEDRINE, n_confs=1)
    (rec,) = list(read_sdf(_write_sdf(tmp_path / "m.sdf", _blocks(mirrored(mol), 1))))
    conf = perceive(rec, OPTS)
    assert conf.smiles == "CN[C@H](C)[C@@H](O)c1ccccc1"  # the enantiomer


def test_charges_and_fragments_from_the_file(tmp_path):
    mol = embedded("C[NH+](C)CCOC(c1ccccc1)c1ccccc1.[Cl-]", n_confs=1)
    (rec,) = list(read_sdf(_write_sdf(tmp_path / "salt.sdf", _blocks(mol, 1))))
    conf = perceive(rec, OPTS)
    assert conf.charge == 0 and sorted(conf.formal_charges[conf.formal_charges != 0].tolist()) == [-1, 1]
    assert "." in conf.smiles  # both fragments kept


def test_hydrogens_added_with_coordinates_when_missing(tmp_path):
    from rdkit import Chem

    mol = embedded("CC(=O)Nc1ccc(O)cc1", n_confs=1)
    heavy = Chem.RemoveHs(mol)
    (rec,) = list(read_sdf(_write_sdf(tmp_path / "noh.sdf", [Chem.MolToMolBlock(heavy)])))
    conf = perceive(rec, OPTS)
    assert "hydrogens_added" in conf.notes
    assert len(conf.atomic_numbers) == mol.GetNumAtoms()
    h = conf.atomic_numbers == 1
    # added hydrogens sit about a bond length from some heavy atom
    d = np.linalg.norm(conf.coords[h][:, None] - conf.coords[~h][None], axis=-1).min(axis=1)
    assert np.all((d > 0.8) & (d < 1.3))
    with pytest.raises(RecordProblem, match="lacks hydrogens"):
        perceive(rec, PerceptionOptions.from_config(IngestConfig(add_hydrogens=False)))


def test_2d_record_is_rejected(tmp_path):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    m = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.Compute2DCoords(m)
    (rec,) = list(read_sdf(_write_sdf(tmp_path / "flat.sdf", [Chem.MolToMolBlock(m)])))
    with pytest.raises(RecordProblem, match="2D"):
        perceive(rec, OPTS)


def test_invalid_valence_is_a_reason_not_a_crash():
    from rdkit import Chem

    mol = embedded("CCO", n_confs=1)
    block = Chem.MolToMolBlock(mol).replace(" O   0  0", " F   0  0", 1)  # F with two bonds
    res = perceive_item(MolBlockRecord("x.sdf", "1", "x", block), OPTS)
    assert isinstance(res, RecordError) and "invalid molecule" in res.reason


def test_empty_sdf_file(tmp_path):
    f = tmp_path / "e.sdf"
    f.write_text("")
    (err,) = list(read_sdf(f))
    assert isinstance(err, RecordError) and err.reason == "empty file"
