"""One regression test per class of bad input: output paths, encodings, compressed and special files,
impossible geometry, RDKit's messages, counter-ions (atomic writes under the umask: tests/unit/test_atomic.py)."""

from __future__ import annotations

import bz2
import gzip
import os

import numpy as np
import pytest

from tests.helpers.ingest import embedded, xyz_frame
from pipeline.io_paths import (
    InputFileError,
    OutputPathError,
    check_output_dir,
    check_output_file,
    encoding_problem,
    file_problem,
    format_suffix,
    list_dir,
    read_text,
)
from pipeline.types import RecordError

XYZ = "3\nwater\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n"


# -- 1. output paths -----------------------------------------------------------------------------
def test_output_file_checks(tmp_path):
    a_file = tmp_path / "m.smi"
    a_file.write_text("CCO\n")
    with pytest.raises(OutputPathError, match="one of the inputs"):
        check_output_file(a_file, [a_file])
    with pytest.raises(OutputPathError, match="one of the inputs"):  # another spelling of the same file
        check_output_file(tmp_path / "sub" / ".." / "m.smi", [a_file])
    link = tmp_path / "link.smi"
    link.symlink_to(a_file)
    with pytest.raises(OutputPathError, match="one of the inputs"):
        check_output_file(link, [a_file])
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output_file(a_file / "out.sdf")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output_file(a_file / "deeper" / "out.sdf")
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_file(tmp_path)
    assert check_output_file(tmp_path / "new" / "out.sdf", [a_file]) == tmp_path / "new" / "out.sdf"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bondiff-write-test")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_in_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputPathError, match="not writable"):
            check_output_file(ro / "out.sdf")
        with pytest.raises(OutputPathError, match="not writable"):
            check_output_dir(ro / "a" / "b", "summary.json")
    finally:
        ro.chmod(0o700)


def test_output_folder_rule(tmp_path):
    """One rule for every stage: a new or empty folder, or one holding the marker of the same kind
    of output; never a file, never a folder an input lies in."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("keep me")
    with pytest.raises(OutputPathError, match="not empty and is not a bondiff report folder"):
        check_output_dir(theirs, "summary.json", what="report folder")
    (theirs / "summary.json").write_text("{}")
    check_output_dir(theirs, "summary.json")  # an earlier report may be replaced
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty", "summary.json")
    inp = theirs / "gen.sdf"
    inp.write_text("x")
    with pytest.raises(OutputPathError, match="lies inside it"):
        check_output_dir(theirs, "summary.json", inputs=[inp])
    with pytest.raises(OutputPathError, match="a folder is expected"):
        check_output_dir(inp, "summary.json")
    assert (theirs / "thesis.tex").read_text() == "keep me"


# -- 2. encodings --------------------------------------------------------------------------------
def test_bom_and_latin1_are_handled_per_record(tmp_path):
    from pipeline.ingest.xyz import read_xyz

    (tmp_path / "bom.xyz").write_bytes(b"\xef\xbb\xbf" + XYZ.encode())
    assert [type(r).__name__ for r in read_xyz(tmp_path / "bom.xyz")] == ["AtomsRecord"]
    (tmp_path / "utf16.xyz").write_bytes(XYZ.encode("utf-16"))
    assert [type(r).__name__ for r in read_xyz(tmp_path / "utf16.xyz")] == ["AtomsRecord"]
    latin = XYZ.replace("water", "caf\u00e9").encode("latin-1") + XYZ.encode()
    (tmp_path / "latin.xyz").write_bytes(latin)
    items = list(read_xyz(tmp_path / "latin.xyz"))
    assert isinstance(items[0], RecordError) and items[0].record == "1"
    assert "line 2 is not UTF-8" in items[0].reason and "0xE9" in items[0].reason
    assert type(items[1]).__name__ == "AtomsRecord"  # the good frame is kept


def test_latin1_smiles_file_and_yaml_config(tmp_path):
    from pipeline.config import ConfigError, load_config
    from pipeline.sample.config import SampleConfig
    from pipeline.sample.inputs import SampleInputs, read_inputs

    (tmp_path / "m.smi").write_bytes(b"\xef\xbb\xbfCCO ethanol\nCC caf\xe9\nc1ccccc1 benzene\n")
    mols, errors = read_inputs(SampleInputs(input=tmp_path / "m.smi"))
    assert [m.name for m in mols] == ["ethanol", "benzene"]
    assert [(e.record, "not UTF-8" in e.reason) for e in errors] == [("2", True)]
    (tmp_path / "c.yaml").write_bytes(b"# caf\xe9\nnum_confs: 2\n")
    with pytest.raises(ConfigError, match="c.yaml: line 1 is not UTF-8"):
        load_config(SampleConfig, tmp_path / "c.yaml")
    (tmp_path / "b.yaml").write_bytes(b"\xef\xbb\xbfnum_confs: 2\n")
    assert load_config(SampleConfig, tmp_path / "b.yaml").num_confs == 2


# -- 3. compressed and special files -------------------------------------------------------------
def test_compressed_inputs_and_every_file_of_a_folder_is_read_or_listed(tmp_path):
    from pipeline.ingest.readers import read_path

    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.xyz.gz").write_bytes(gzip.compress(XYZ.encode()))
    (d / "sub" / "b.XYZ.bz2").write_bytes(bz2.compress(XYZ.encode()))
    (d / "c.sdf.gz").write_bytes(b"not gzip at all")
    (d / "notes.txt").write_text("hello")
    (d / "dead.sdf").symlink_to(tmp_path / "nowhere.sdf")
    (d / "loop").symlink_to(d)
    os.mkfifo(d / "pipe.xyz")
    items = list(read_path(d))  # a FIFO is never opened: this would hang
    good = sorted(r.file for r in items if not isinstance(r, RecordError))
    assert good == [str(d / "a.xyz.gz"), str(d / "sub" / "b.XYZ.bz2")]
    reasons = {os.path.basename(e.file): e.reason for e in items if isinstance(e, RecordError)}
    assert "not a readable .gz file" in reasons["c.sdf.gz"]
    assert "unknown file type '.txt'" in reasons["notes.txt"]
    assert "broken symbolic link" in reasons["dead.sdf"]
    assert "FIFO" in reasons["pipe.xyz"]
    assert any("loop" in r for r in reasons.values())
    assert format_suffix("x.SDF.bz2") == ".sdf" and format_suffix("x.gz") == ""


def test_special_files_are_refused_not_read(tmp_path):
    os.mkfifo(tmp_path / "p.sdf")
    assert "FIFO" in file_problem(tmp_path / "p.sdf")
    with pytest.raises(InputFileError, match="FIFO"):
        read_text(tmp_path / "p.sdf")
    assert "folder" in file_problem(tmp_path)
    assert encoding_problem("fine\ntext") is None


# -- 4. impossible geometry ----------------------------------------------------------------------
def test_geometry_rules():
    from pipeline.sanity import flat_2d, geometry_problem

    x = embedded("CCO").GetConformer().GetPositions()
    assert geometry_problem(x) is None and not flat_2d(x)
    y = x.copy()
    y[1] = y[0]
    assert "coincident" in geometry_problem(y) and "atoms 1 and 2" in geometry_problem(y)
    y = x.copy()
    y[3, 0] = 1e30
    assert "absurd" in geometry_problem(y) and "atom 4" in geometry_problem(y)
    y = np.vstack([x, [[60.0, 0, 0]]])  # a lone atom 60 Å from everything else
    assert "from every other atom" in geometry_problem(y)
    y = np.vstack([x, x.mean(axis=0) + [8.0, 0, 0]])  # a counter-ion 8 Å away is chemistry
    assert geometry_problem(y) is None
    z = x.copy()
    z[:, 2] = 0
    assert flat_2d(z) and flat_2d(x, flagged_3d=False)


def test_ingest_rejects_impossible_geometry_and_query_bonds_with_a_reason(tmp_path):
    from rdkit import Chem

    from pipeline.ingest.perception import PerceptionOptions, perceive_item
    from pipeline.ingest.sdf import read_sdf
    from pipeline.ingest.xyz import read_xyz

    mol = embedded("CCO")
    block = Chem.MolToMolBlock(mol)
    lines = block.splitlines()
    counts = next(i for i, ln in enumerate(lines) if ln.endswith("V2000"))
    n = int(lines[counts][:3])
    query = list(lines)
    query[counts + n + 1] = query[counts + n + 1][:6] + "  8" + query[counts + n + 1][9:]
    ghost = list(lines)
    ghost[counts + n + 1] = "  1 99  1  0"
    sdf = "$$$$\n".join("\n".join(b) + "\n" for b in (query, ghost, lines)) + "$$$$\n"
    (tmp_path / "q.sdf").write_text(sdf)
    pos = mol.GetConformer().GetPositions()
    same, far = pos.copy(), pos.copy()
    same[1] = same[0]
    far[2, 0] = 1e30
    m_same, m_far = Chem.Mol(mol), Chem.Mol(mol)
    m_same.GetConformer().SetPositions(same)
    m_far.GetConformer().SetPositions(far)
    (tmp_path / "g.xyz").write_text(xyz_frame(m_same) + xyz_frame(m_far))
    opts = PerceptionOptions()
    out = [perceive_item(r, opts) for f in ("q.sdf", "g.xyz") for r in (read_sdf if f.endswith("sdf") else read_xyz)(tmp_path / f)]
    reasons = [o.reason if isinstance(o, RecordError) else "ok" for o in out]
    assert "query bond" in reasons[0]
    assert "joins atoms 1 and 99, but the record has 9 atoms" in reasons[1]
    assert reasons[2] == "ok"
    assert "coincident" in reasons[3] and ("absurd" in reasons[4] or "non-finite" in reasons[4])


def test_dataset_with_absurd_geometry_or_broken_files_is_refused_in_one_line(tmp_path):
    from pipeline.data.dataset import DatasetWriter, MoleculeEntry
    from pipeline.chem import bonds_array, canonical_smiles, mapped_smiles
    from pipeline.sanity import open_dataset
    from pipeline.types import StageError

    def write(root, coords_edit=None):
        mol = embedded("CCO")
        x = mol.GetConformer().GetPositions()[None]
        if coords_edit:
            coords_edit(x)
        w = DatasetWriter(root)
        w.add(MoleculeEntry(name="ethanol", smiles=canonical_smiles(mol), mapped_smiles=mapped_smiles(mol), charge=0, source="t", split="train"),
              np.array([a.GetAtomicNum() for a in mol.GetAtoms()]), np.zeros(mol.GetNumAtoms(), int), bonds_array(mol), x)
        return w.commit()

    assert len(open_dataset(write(tmp_path / "ok"), "prior")) == 1

    def far(x):
        x[0, 2, 0] = 1e30

    def merge(x):
        x[0, 1] = x[0, 0]  # atoms 1 and 2 of ethanol are bonded

    for name, edit in (("far", far), ("merge", merge)):
        with pytest.raises(StageError, match="impossible geometry.*ethanol") as exc:
            open_dataset(write(tmp_path / name, edit), "prior")
        assert "\n" not in str(exc.value)
    (tmp_path / "ok" / "manifest.json").write_text("{broken")
    with pytest.raises(StageError, match="not a readable bondiff dataset"):
        open_dataset(tmp_path / "ok", "train")
    ds = write(tmp_path / "npy")
    (ds / "coords.npy").write_bytes((ds / "coords.npy").read_bytes()[:90])
    with pytest.raises(StageError, match="not a readable bondiff dataset"):
        open_dataset(ds, "prior")


def test_validate_coordinates_check_fails_before_rdkit_sees_the_geometry():
    from rdkit import Chem

    from pipeline.validate.checks import MoleculeChecker
    from pipeline.validate.config import CheckConfig

    mol = embedded("CC(=O)Nc1ccc(O)cc1")
    checker = MoleculeChecker(Chem.Mol(mol), CheckConfig(energy=False))
    x = mol.GetConformer().GetPositions()
    assert checker.check(x)["coordinates"] is True
    for edit, why in ((lambda y: y.__setitem__(1, y[0]), "coincident"), (lambda y: y.__setitem__((slice(None), 2), 0.0), "flat 2D"),
                      (lambda y: y.__setitem__((3, 0), 1e30), "absurd")):
        y = x.copy()
        edit(y)
        row = checker.check(y)
        assert row["coordinates"] is False and not row["valid"] and why in row["error"], row
        assert row["connectivity"] is None  # RDKit was spared the impossible geometry


# -- 5/6. RDKit's messages -----------------------------------------------------------------------
def test_rdkit_invariant_violation_becomes_one_line():
    from pipeline.ingest.rdlog import rdkit_reason

    log = ["[11:35:17]", "", "****", "Range Error", "bond_pin->getEndAtomIdx()", "Violation occurred on line 409 in file x.cpp",
           "Failed Expression: 98 < 20", "----------", "Stacktrace:", "0# Invar::Invariant::toString() in libX.so", "1# main", "----------", "****", ""]
    assert rdkit_reason(log) == "Range Error: bond_pin->getEndAtomIdx() (Failed Expression: 98 < 20)"
    assert rdkit_reason([]) == "RDKit cannot parse it"


def test_charge_mismatch_names_the_charge_that_was_given():
    from rdkit import Chem

    from pipeline.ingest.perception import PerceptionOptions, perceive_item
    from pipeline.ingest.records import AtomsRecord

    mol = embedded("C[NH3+]")
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    rec = AtomsRecord("m.xyz", "1", "m", z, mol.GetConformer().GetPositions(), charge=0)
    err = perceive_item(rec, PerceptionOptions(hueckel_fallback=False))
    assert isinstance(err, RecordError)
    assert "no bond orders on these atoms give net charge 0" in err.reason and "(0) does not match input (1)" not in err.reason
    assert Chem.MolFromSmiles("C[NH3+]") is not None


# -- 7. counter-ions -----------------------------------------------------------------------------
@pytest.mark.parametrize("smiles", ["[Na+].[O-]C(=O)c1ccccc1", "[Li+].[Cl-]", "[Mg+2].[O-]C(=O)C.[O-]C(=O)C", "[Zn+2].[Br-].[Br-]", "[K+].[I-]", "[Ca+2].[O-]S(=O)(=O)[O-]"])
def test_lone_monatomic_ions_of_any_element_are_accepted(smiles):
    from pipeline.sample.inputs import check_supported, parse_smiles, prepare_molecule, spec_elements

    mi = prepare_molecule("--smiles", "1", "salt", parse_smiles(smiles))
    assert check_supported(mi, 200, spec_elements()) is None


def test_a_bonded_unknown_element_is_still_refused():
    from pipeline.sample.inputs import check_supported, parse_smiles, prepare_molecule, spec_elements

    for smi in ("CC[Se]C", "[Na]C", "[NaH]"):
        mi = prepare_molecule("--smiles", "1", "x", parse_smiles(smi))
        assert "unsupported element" in check_supported(mi, 200, spec_elements()), smi


def test_folder_hash_follows_the_readers_and_never_opens_a_fifo(tmp_path):
    """The cache key of a folder input covers what the readers read (links to folders followed once,
    loops and FIFOs named, never opened); plain trees hash as before."""
    from pipeline.hashing import path_hash

    d = tmp_path / "in"
    d.mkdir()
    (d / "a.xyz").write_text(XYZ)
    h0 = path_hash(d)
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.xyz").write_text(XYZ)
    (d / "linked").symlink_to(other)
    (d / "loop").symlink_to(d)
    os.mkfifo(d / "p.xyz")
    h1 = path_hash(d)  # would hang on the FIFO if it were opened
    assert h1 != h0
    (other / "b.xyz").write_text(XYZ.replace("0.96", "0.97"))
    assert path_hash(d) != h1  # a file behind a link to a folder is part of the key


def test_an_output_never_lies_inside_an_input_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.xyz").write_text(XYZ)
    with pytest.raises(OutputPathError, match="inside the input folder"):
        check_output_dir(data / "ds", "manifest.json", inputs=[data])
    with pytest.raises(OutputPathError, match="inside the input folder"):
        check_output_file(data / "sub" / "gen.sdf", inputs=[data])
    check_output_dir(tmp_path / "ds", "manifest.json", inputs=[data])


def test_a_folder_output_may_have_several_markers(tmp_path):
    """Training folders: an earlier run is recognised by metrics.csv, train_summary.json or checkpoints/
    (benchmark folders likewise by benchmark.json or a sampler's folder)."""
    markers = ("metrics.csv", "train_summary.json", "checkpoints")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    check_output_dir(run, markers, what="training folder")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(OutputPathError, match="no metrics.csv or train_summary.json or checkpoints"):
        check_output_dir(tmp_path / "mine", markers, what="training folder")
