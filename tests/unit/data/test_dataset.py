import json

import numpy as np
import pytest

from pipeline.data import ConformerDataset, DatasetWriter, MoleculeEntry


def _entry(name, split="train"):
    return MoleculeEntry(name=name, smiles="O", mapped_smiles="[O:1]([H:2])[H:3]", charge=0, source="t", split=split)


def test_roundtrip_and_atomic_write(tmp_path):
    w = DatasetWriter(tmp_path / "ds")
    rng = np.random.default_rng(0)
    c1 = rng.normal(size=(2, 3, 3))
    w.add(_entry("water"), [8, 1, 1], [0, 0, 0], [[0, 1, 1], [0, 2, 1]], c1)
    w.add(_entry("water2", "test"), [8, 1, 1], [0, 0, 0], [[0, 1, 1], [0, 2, 1]], rng.normal(size=(1, 3, 3)), energies=[-76.4])
    out = w.commit({"errors": [{"file": "f", "record": "1", "reason": "bad"}]})
    ds = ConformerDataset(out)
    assert len(ds) == 2 and ds.n_conformers == 3
    assert ds.manifest["counts"] == {"molecules": 2, "conformers": 3, "atoms": 6, "errors": 1}
    m = ds.molecule(0)
    assert m.coords.shape == (2, 3, 3)
    np.testing.assert_allclose(m.coords.mean(axis=1), 0, atol=1e-6)  # centred on write
    np.testing.assert_allclose(m.coords, c1 - c1.mean(axis=1, keepdims=True), atol=1e-6)
    assert ds.split_indices("test") == [1]
    assert np.isnan(ds.molecule(0).energies).all() and ds.molecule(1).energies[0] == -76.4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left
    assert json.loads((out / "manifest.json").read_text())["dataset_hash"]


def test_rdkit_roundtrip(tmp_path):
    pytest.importorskip("rdkit")
    w = DatasetWriter(tmp_path / "ds")
    w.add(_entry("water"), [8, 1, 1], [0, 0, 0], [[0, 1, 1], [0, 2, 1]], np.eye(3)[None])
    ds = ConformerDataset(w.commit())
    mol = ds.molecule(0).to_rdkit()
    assert [a.GetAtomicNum() for a in mol.GetAtoms()] == [8, 1, 1]
    assert mol.GetNumConformers() == 1


def test_rejects_nan(tmp_path):
    w = DatasetWriter(tmp_path / "ds")
    with pytest.raises(ValueError, match="non-finite"):
        w.add(_entry("w"), [8, 1, 1], [0, 0, 0], [], np.full((1, 3, 3), np.nan))
