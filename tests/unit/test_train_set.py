"""The committed training set data/train/ (docs/training-data.md): it reads (every part's hash
checked), its totals match its manifest, its parts say how they were made, and it holds no
duplicate molecule and no Hutchison benchmark molecule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.data import ConformerDataset

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "data" / "train"


@pytest.fixture(scope="module")
def ds():
    if not (TRAIN / "manifest.json").is_file():
        pytest.skip("data/train is not in this checkout")
    return ConformerDataset(TRAIN)


def test_it_reads_and_matches_its_manifest(ds):
    mf = ds.manifest
    assert mf["format"] == "bondiff-packed" and ds.digest == mf["dataset_hash"]
    assert len(ds) == mf["counts"]["molecules"] == sum(p["molecules"] for p in mf["parts"])
    assert ds.n_conformers == mf["counts"]["conformers"] and len(ds.atomic_numbers) == mf["counts"]["atoms"]
    assert {s: len(ds.split_indices(s)) for s in ("train", "val", "test")} == {s: mf["splits"].get(s, 0) for s in ("train", "val", "test")}
    assert np.isfinite(ds.coords).all() and np.isfinite(ds.energies).all()
    assert sum(p["bytes"] for p in mf["parts"]) <= 60 * 2**20  # the size target: 60 MiB in the repository


def test_parts_record_their_recipe(ds):
    parts = ds.manifest["parts"]
    qm9 = [p for p in parts if p["source"].get("stage") == "ingest"]
    assert qm9 and all(p["source"]["config"]["qm9_sample"] >= 30_000 and p["source"]["config"]["qm9_limit"] is None for p in qm9)
    for p in parts:
        if p["source"].get("source") == "build-data":
            recipe = p["source"]["recipe"]
            assert recipe["builder_version"] >= 2 and recipe["selection_range"][1] > recipe["selection_range"][0]
            assert recipe["source"]["package"] == "molsets" and recipe["config"]["conformers"]["max_conformers"] == 10


def test_no_duplicates_and_no_benchmark_molecule(ds):
    smiles = [e.smiles for e in ds.entries]
    assert len(set(smiles)) == len(smiles)
    hutchison = {line.split()[0] for line in (ROOT / "data" / "hutchison_dev" / "molecules.smi").read_text().splitlines() if line.strip()}
    from rdkit import Chem

    canonical = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in hutchison}
    assert not canonical & set(smiles)
