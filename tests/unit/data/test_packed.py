"""The packed training set (pipeline/data/packed.py + build-data --pack): round trip, corruption,
write-once extension, exclusion, out-of-range coordinates."""

import json
from dataclasses import asdict

import numpy as np
import pytest
from tests.helpers.builder import HUTCHISON
from rdkit import Chem
from rdkit.Chem import AllChem

from pipeline.builder.config import ExclusionConfig
from pipeline.builder.pack import pack_datasets
from pipeline.chem import bonds_array, mapped_smiles
from pipeline.data import ConformerDataset, DatasetWriter, MoleculeEntry
from pipeline.data.packed import PackError

EXCLUDE = ExclusionConfig(reference_dirs=[str(HUTCHISON)])
ARRAYS = ("atomic_numbers", "formal_charges", "atom_offsets", "bonds", "bond_offsets", "conf_offsets", "mol_conf_offsets")


def _dataset(path, smiles, split="train", n_confs=3, scale=1.0, energies=True):
    w = DatasetWriter(path)
    for k, smi in enumerate(smiles):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMultipleConfs(mol, n_confs, randomSeed=k)
        coords = np.stack([c.GetPositions() for c in mol.GetConformers()]) * scale
        entry = MoleculeEntry(f"m{k}_{path.name}", Chem.MolToSmiles(Chem.MolFromSmiles(smi)), mapped_smiles(mol),
                              Chem.GetFormalCharge(mol), "test", split, extra={"k": k, "note": "é ünïcode", "nested": {"a": [1, 2]}})
        e = -100.0 - np.arange(len(coords)) if energies else None
        w.add(entry, [a.GetAtomicNum() for a in mol.GetAtoms()], [a.GetFormalCharge() for a in mol.GetAtoms()],
              bonds_array(mol), coords, e)
    w.commit({"source": "test", "recipe": {"made_by": "test"}})
    return ConformerDataset(path)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("packed")
    a = _dataset(root / "a", ["CC(=O)Nc1ccc(O)cc1", "C[NH3+]", "OC(=O)C[C@H](N)C(=O)[O-]", "c1ccccc1Br"])
    b = _dataset(root / "b", ["CCO", "CC(=O)Nc1ccc(O)cc1", "CN1CCCC1c1cccnc1"], split="val", n_confs=2, energies=False)
    return root, a, b


def test_round_trip_coordinates_within_half_a_milliangstrom_and_the_rest_identical(parts, tmp_path):
    _, a, _ = parts
    res = pack_datasets([a.root], tmp_path / "train", EXCLUDE)
    p = ConformerDataset(tmp_path / "train")
    assert res.metrics["parts_added"] == 1 and len(p) == len(a) and p.n_conformers == a.n_conformers
    assert [asdict(e) for e in p.entries] == [asdict(e) for e in a.entries]
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(p, name), np.asarray(getattr(a, name)), err_msg=name)
        assert getattr(p, name).dtype == np.asarray(getattr(a, name)).dtype, name
    np.testing.assert_array_equal(p.energies, np.asarray(a.energies))
    err = np.abs(p.coords - np.asarray(a.coords)).max()
    assert 0 < err <= 5e-4 + 1e-6 and p.coords.dtype == np.float32
    m = p.molecule(2)
    assert m.to_rdkit().GetNumConformers() == 3 and m.entry.charge == -1 and p.molecule(1).formal_charges.tolist().count(1) == 1
    mf = p.manifest
    part = mf["parts"][0]
    assert part["source"]["dataset_hash"] == a.digest and part["source"]["recipe"] == {"made_by": "test"}
    assert mf["counts"]["molecules"] == 4 and mf["splits"] == {"train": 4} and p.digest == mf["dataset_hash"]


def test_extension_is_write_once_dedups_and_excludes_benchmark_molecules(parts, tmp_path):
    _, a, b = parts
    out = tmp_path / "train"
    pack_datasets([a.root], out, EXCLUDE)
    first = (out / json.loads((out / "manifest.json").read_text())["parts"][0]["file"])
    before = first.read_bytes()
    res = pack_datasets([a.root, b.root], out, EXCLUDE)
    assert res.extra["skipped"][0].startswith(str(a.root)) and "already packed" in res.extra["skipped"][0]
    assert first.read_bytes() == before  # the old part is never rewritten
    p = ConformerDataset(out)
    new = p.manifest["parts"][1]
    assert new["dropped"] == {"duplicate": 1} and [x["reference"] for x in new["excluded"]] == ["astex_1p2y"]
    assert [e.smiles for e in p.entries] == [e.smiles for e in a.entries] + ["CCO"]
    assert p.split_indices("val") == [4] and np.isnan(p.molecule(4).energies).all()
    assert p.digest != ConformerDataset(tmp_path / "train").manifest["parts"][0]["sha256"][:16]


def test_a_corrupt_part_is_one_clear_error(parts, tmp_path, capsys):
    from pipeline.cli import main

    _, a, _ = parts
    out = tmp_path / "train"
    pack_datasets([a.root], out, EXCLUDE)
    part = out / json.loads((out / "manifest.json").read_text())["parts"][0]["file"]
    raw = bytearray(part.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    part.write_bytes(bytes(raw))
    with pytest.raises(PackError, match="content hash mismatch") as exc:
        ConformerDataset(out)
    assert str(part) in str(exc.value) and "\n" not in str(exc.value)
    assert main(["prior", "--dataset", str(out), "--out", str(tmp_path / "prior"), "--no-track"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "content hash mismatch" in err[0]


def test_out_of_range_coordinates_are_refused_and_nothing_is_written(tmp_path):
    big = _dataset(tmp_path / "big", ["CCCCCC"], scale=12.0)  # atoms > 32.767 Å from the centre
    with pytest.raises(PackError, match=r"m0_big.*beyond ±32.767 Å"):
        pack_datasets([big.root], tmp_path / "train", EXCLUDE)
    assert not (tmp_path / "train").exists()


def test_cli_pack(parts, tmp_path, capsys):
    from pipeline.cli import main

    _, a, b = parts
    out = tmp_path / "train"
    assert main(["build-data", "--pack", str(a.root), str(b.root), "--out", str(out), "--no-track",
                 "--set", f"exclusion.reference_dirs=[{HUTCHISON}]"]) == 0
    text = capsys.readouterr().out
    assert "2 parts (2 new), 5 molecules" in text and "1 benchmark molecules excluded" in text
    assert main(["build-data", "--pack", str(out), "--out", str(tmp_path / "t2"), "--no-track",
                 "--set", f"exclusion.reference_dirs=[{HUTCHISON}]"]) == 1
    assert "itself a packed set" in capsys.readouterr().err


def test_build_data_checks_its_output_before_any_work(parts, tmp_path, capsys):
    """A user's folder, a path under a file, or an input as the output: one line, exit 2, nothing written."""
    from pipeline.cli import main

    _, a, b = parts
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for out in (mine, a_file / "sub", a.root):
        assert main(["build-data", "--pack", str(a.root), str(b.root), "--out", str(out), "--no-track"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
