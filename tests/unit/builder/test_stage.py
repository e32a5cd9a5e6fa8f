import json

import numpy as np
import pytest
from tests.helpers.builder import HUTCHISON, SMALL, fast_config, write_wheel
from rdkit import Chem
from rdkit.Chem import AllChem

from pipeline.builder import run_build
from pipeline.builder.config import ExclusionConfig
from pipeline.builder.conformers import KCAL_PER_HARTREE, stereo_matches
from pipeline.builder.stage import assign_split
from pipeline.data import ConformerDataset
from pipeline.types import StageError


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return write_wheel(tmp_path_factory.mktemp("src"), SMALL)


@pytest.fixture(scope="module")
def built(wheel, tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "drugs"
    return run_build(fast_config(wheel), out, progress=False), out


def test_build_writes_a_dataset_with_its_recipe(built, wheel):
    result, out = built
    ds = ConformerDataset(out)
    names = sorted(e.entry.extra["source_smiles"] for e in ds)
    assert names == sorted(["CCCCOC(=O)c1ccccc1", "CC(O)c1ccccc1", "OCCN1CCOCC1"])
    m = ds.manifest
    assert m["excluded"] == [{"record": 3, "smiles": "CN1CCCC1c1cccnc1", "reference": "astex_1p2y"}]
    assert [(e["record"], "cannot parse" in e["reason"]) for e in m["errors"]] == [("4", True)]
    recipe = m["recipe"]
    assert recipe["source"]["package"] == "molsets" and recipe["source"]["version"] == "0.3.1"
    assert recipe["energy_units"] == "Hartree" and recipe["energy_method"] == "MMFF94s"
    assert recipe["software"]["rdkit"] == __import__("rdkit").__version__
    assert recipe["effective_limit"] == 3 and recipe["config"]["conformers"]["num_embed"] == 8
    assert result.metrics["molecules"] == 3 and result.metrics["conformers"] == ds.n_conformers
    assert result.metrics["excluded"] == 1 and len(result.errors) == 1
    assert result.metrics["molecules_per_cpu_minute"] > 0 and m["timing"]["molecule_cpu_seconds_total"] > 0
    assert result.inputs[0].digest == recipe["source"]["sha256"][:16]
    for view in ds:
        assert view.entry.split == assign_split(view.entry.smiles, 0.05, 0.05, "bondiff-build")
        assert 1 <= view.coords.shape[0] <= 4


def test_stored_conformers_keep_stereo_and_energies_are_mmff_in_hartree(built):
    _, out = built
    ds = ConformerDataset(out)
    chiral = next(v for v in ds if v.entry.extra["source_smiles"] == "CC(O)c1ccccc1")
    assert "@" in chiral.entry.smiles  # the unassigned centre got a fixed configuration
    for view in ds:
        mol = view.to_rdkit()
        assert all(stereo_matches(mol, c.GetId(), view.entry.smiles) for c in mol.GetConformers())
        props = AllChem.MMFFGetMoleculeProperties(mol, mmffVariant="MMFF94s")
        ff = AllChem.MMFFGetMoleculeForceField(mol, props, confId=mol.GetConformers()[0].GetId())
        assert view.energies[0] * KCAL_PER_HARTREE == pytest.approx(ff.CalcEnergy(), abs=0.05)
        assert np.all(np.diff(view.energies) >= 0)


def test_same_seed_same_dataset_whatever_the_workers(built, wheel, tmp_path):
    _, out = built
    again = run_build(fast_config(wheel, workers=2), tmp_path / "again", progress=False)
    a, b = ConformerDataset(out), ConformerDataset(again.outputs["dataset"])
    assert a.digest == b.digest
    np.testing.assert_array_equal(np.asarray(a.coords), np.asarray(b.coords))
    other = run_build(fast_config(wheel, seed=1), tmp_path / "other", progress=False)
    assert ConformerDataset(other.outputs["dataset"]).digest != a.digest


def test_shards_tile_the_selection_with_the_same_ensembles(built, wheel, tmp_path):
    _, out = built
    full = ConformerDataset(out)
    assert full.manifest["recipe"]["selection_range"] == [0, 3] and full.manifest["recipe"]["builder_version"] >= 2
    first = run_build(fast_config(wheel), tmp_path / "s0", limit=1, progress=False)
    rest = run_build(fast_config(wheel), tmp_path / "s1", skip=1, progress=False)
    parts = [ConformerDataset(r.outputs["dataset"]) for r in (first, rest)]
    assert [p.manifest["recipe"]["selection_range"] for p in parts] == [[0, 1], [1, 3]]
    assert [e.smiles for p in parts for e in p.entries] == [e.smiles for e in full.entries]
    np.testing.assert_array_equal(np.concatenate([np.asarray(p.coords) for p in parts]), np.asarray(full.coords))
    with pytest.raises(StageError, match="skip 3 leaves nothing"):
        run_build(fast_config(wheel, selection={"n_molecules": 3}), tmp_path / "s2", skip=3, progress=False)


def test_all_bad_input_is_a_stage_error(tmp_path):
    wheel = write_wheel(tmp_path / "bad", ["C1CC(", "not-a-smiles"])
    with pytest.raises(StageError, match="no molecule built"):
        run_build(fast_config(wheel), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_build_data_is_tracked(wheel, tmp_path, mlflow_store):
    import mlflow

    from pipeline.cli import main
    from pipeline.config import to_yaml

    cfg = tmp_path / "build.yaml"
    cfg.write_text(to_yaml(fast_config(wheel)))
    assert main(["build-data", "-c", str(cfg), "--out", str(tmp_path / "ds"), "--limit", "1", "--no-progress"]) == 0
    runs = mlflow.search_runs(experiment_names=["bondiff"], output_format="list")
    assert len(runs) == 1 and runs[0].data.tags["stage"] == "build-data"
    assert runs[0].data.metrics["molecules"] == 1
    assert json.loads((tmp_path / "ds" / "manifest.json").read_text())["counts"]["molecules"] == 1
    assert main(["build-data", "-c", str(cfg), "--out", str(tmp_path / "x"), "--limit", "0"]) == 2
    merged = tmp_path / "merged"
    assert main(["build-data", "-c", str(cfg), "--merge", str(tmp_path / "ds"), "--out", str(merged), "--no-track"]) == 0
    assert ConformerDataset(merged).entries == ConformerDataset(tmp_path / "ds").entries


def test_merge_keeps_splits_drops_duplicates_and_reference_molecules(built, tmp_path):
    from pipeline.builder.merge import merge_datasets
    from pipeline.data import DatasetWriter, MoleculeEntry

    _, out = built
    drugs = ConformerDataset(out)
    # a second set: one molecule already in `drugs`, nicotine (a Hutchison reference), methane
    from pipeline.chem import bonds_array, mapped_smiles

    w = DatasetWriter(tmp_path / "other")
    for smi in (drugs.entries[0].smiles, "CN1CCCC1c1cccnc1", "C"):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(mol, randomSeed=0)
        entry = MoleculeEntry(smi, Chem.MolToSmiles(Chem.MolFromSmiles(smi)), mapped_smiles(mol), 0, "t", "test")
        w.add(entry, [a.GetAtomicNum() for a in mol.GetAtoms()], [0] * mol.GetNumAtoms(), bonds_array(mol),
              mol.GetConformer().GetPositions()[None])
    w.commit()
    res = merge_datasets([out, tmp_path / "other"], tmp_path / "merged", ExclusionConfig(reference_dirs=[str(HUTCHISON)]))
    merged = ConformerDataset(tmp_path / "merged")
    assert [e.smiles for e in merged.entries] == [e.smiles for e in drugs.entries] + ["C"]
    assert [e.split for e in merged.entries][:-1] == [e.split for e in drugs.entries]
    assert merged.entries[-1].split == "test" and merged.n_conformers == drugs.n_conformers + 1
    assert res.metrics["duplicates"] == 1 and merged.manifest["excluded"][0]["reference"] == "astex_1p2y"
    assert [p["dataset_hash"] for p in merged.manifest["recipe"]["merged_from"]] == [drugs.digest, ConformerDataset(tmp_path / "other").digest]
    np.testing.assert_array_equal(merged.molecule(0).coords, drugs.molecule(0).coords)  # copied, not re-centred
