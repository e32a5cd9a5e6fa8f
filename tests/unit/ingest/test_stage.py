"""run_ingest end to end on small real-shaped inputs: dataset contract, errors, cache, atomicity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.data.dataset import ConformerDataset
from pipeline.ingest import IngestConfig, run_ingest
from pipeline.types import StageError

from tests.helpers.ingest import embedded, hutchison_subset, n_conformer_files, salt, xyz_frame

N_HUTCHISON = 20


@pytest.fixture(scope="module")
def refset(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("ref") / "hutch20"
    names = hutchison_subset(data_dir / "hutchison_dev", root, N_HUTCHISON)
    return root, names


@pytest.fixture(scope="module")
def refset_dataset(refset, tmp_path_factory):
    root, names = refset
    out = tmp_path_factory.mktemp("out") / "ds"
    return run_ingest(IngestConfig(), [root], out), out


def test_reference_set_slice_all_conformers_zero_errors(refset, refset_dataset):
    root, names = refset
    result, out = refset_dataset
    assert not result.reused and result.errors == []
    ds = ConformerDataset(out)
    assert len(ds) == N_HUTCHISON
    assert ds.n_conformers == n_conformer_files(root, names)
    mf = ds.manifest
    assert mf["counts"]["molecules"] == N_HUTCHISON and mf["counts"]["errors"] == 0
    assert mf["schema_version"] == 1 and mf["config_hash"] and mf["cache_key"]
    assert mf["inputs"][0]["kind"] == "refset" and len(mf["inputs"][0]["hash"]) == 16
    # identities and charges are the SMILES file's; stereo survives the round trip through the dataset
    from rdkit import Chem

    smi = {ln.split()[1]: ln.split()[0] for ln in (root / "molecules.smi").read_text().splitlines()}
    charged = {ln.split()[0]: int(ln.split()[1]) for ln in (root / "charges.txt").read_text().splitlines() if ln.strip()}
    for view in ds:
        want = Chem.MolToSmiles(Chem.MolFromSmiles(smi[view.entry.name]))
        assert view.entry.smiles == want
        assert view.entry.charge == charged.get(view.entry.name, 0) == int(view.formal_charges.sum())
        mol = view.to_rdkit()
        assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == want
        assert mol.GetNumConformers() == view.coords.shape[0]
        assert np.allclose(view.coords.mean(axis=1), 0.0, atol=1e-4)  # centred


def test_conformers_never_straddle_splits_and_splits_are_stable(refset_dataset):
    result, out = refset_dataset
    ds = ConformerDataset(out)
    assert sum(len(ds.split_indices(s)) for s in ("train", "val", "test")) == len(ds)
    by_split = {e.smiles: e.split for e in ds.entries}
    from pipeline.ingest.splits import split_of

    for s, sp in by_split.items():
        assert split_of(s, 0.8, 0.1, "bondiff-split-v1") == sp


def test_cache_reused_then_force_rebuilds(refset, refset_dataset):
    root, _ = refset
    result, out = refset_dataset
    before = (out / "coords.npy").stat().st_mtime_ns
    again = run_ingest(IngestConfig(workers=1), [root], out)  # runtime-only options don't change the key
    assert again.reused and (out / "coords.npy").stat().st_mtime_ns == before
    assert again.metrics["conformers"] == result.metrics["conformers"]
    changed = run_ingest(IngestConfig(split_salt="other"), [root], out)  # a config change rebuilds
    assert not changed.reused
    forced = run_ingest(IngestConfig(split_salt="other"), [root], out, force=True)
    assert not forced.reused and forced.tags["dataset_hash"] == changed.tags["dataset_hash"]
    assert not list(out.parent.glob(f".{out.name}.*"))  # no temp or old dirs left


def test_bad_records_are_reported_and_good_ones_kept(tmp_path):
    good = embedded("CC(=O)Nc1ccc(O)cc1", n_confs=2)
    (tmp_path / "good.xyz").write_text(xyz_frame(good, 0) + xyz_frame(good, 1))
    (tmp_path / "mixed.xyz").write_text(xyz_frame(good, 0) + "3\nbad\nO 0 0 0\nXx 0 0 1\nH 0 1 0\n")
    (tmp_path / "empty.sdf").write_text("")
    (tmp_path / "salt.xyz").write_text(xyz_frame(salt("C[NH3+]", "[Cl-]")))
    (tmp_path / "notes.txt").write_text("ignored: not a molecule file")
    res = run_ingest(IngestConfig(), [tmp_path / "good.xyz", tmp_path / "mixed.xyz", tmp_path / "empty.sdf", tmp_path / "salt.xyz", tmp_path / "missing.xyz"], tmp_path / "out")
    reasons = {(e.file.split("/")[-1], e.record): e.reason for e in res.errors}
    assert "unknown element 'Xx'" in reasons[("mixed.xyz", "2")]
    assert reasons[("empty.sdf", "-")] == "empty file"
    assert reasons[("missing.xyz", "-")] == "no such file or directory"
    ds = ConformerDataset(tmp_path / "out")
    assert sorted(e.smiles for e in ds.entries) == sorted(["CC(=O)Nc1ccc(O)cc1", "C[NH3+].[Cl-]"])  # salt kept whole
    assert ds.manifest["counts"]["errors"] == 3 == len(ds.manifest["errors"])
    para = ds.molecule(next(i for i, e in enumerate(ds.entries) if e.smiles == "CC(=O)Nc1ccc(O)cc1"))
    assert para.coords.shape[0] == 3  # conformers from two files, one molecule, one split


def test_unparsable_template_is_an_error_of_each_record_using_it(tmp_path):
    good = embedded("CCO", n_confs=2)
    (tmp_path / "ethanol.xyz").write_text(xyz_frame(good, 0) + xyz_frame(good, 1))
    (tmp_path / "other.xyz").write_text(xyz_frame(embedded("CC#N")))
    tpl = tmp_path / "t.smi"
    tpl.write_text("C(C ethanol\n")
    res = run_ingest(IngestConfig(smiles_templates=tpl), [tmp_path / "ethanol.xyz", tmp_path / "other.xyz"], tmp_path / "out")
    assert len(res.errors) == 2 and all("cannot be parsed" in e.reason and "t.smi line 1" in e.reason for e in res.errors)
    assert res.metrics["molecules"] == 1


def test_wrong_charge_in_charges_txt_is_an_error_of_that_molecule(refset, tmp_path):
    import shutil

    root, names = refset
    copy = tmp_path / "ref"
    shutil.copytree(root, copy)
    neutral = next(n for n in names if n not in (copy / "charges.txt").read_text())
    with open(copy / "charges.txt", "a") as fh:
        fh.write(f"{neutral} 1\n")
    res = run_ingest(IngestConfig(), [copy], tmp_path / "out")
    bad_files = {e.file for e in res.errors}
    assert bad_files and all(f"/{neutral}/" in f for f in bad_files)
    assert all("net charge 1" in e.reason for e in res.errors)
    assert res.metrics["molecules"] == N_HUTCHISON - 1


def test_no_good_record_raises_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "bad.xyz").write_text("2\n\nC 0 0 0\n")
    out = tmp_path / "out"
    with pytest.raises(StageError) as exc:
        run_ingest(IngestConfig(), [tmp_path / "bad.xyz", tmp_path / "nope.sdf"], out)
    msg = str(exc.value)
    assert "\n" not in msg and "no good record in 2 records (2 errors" in msg and "bad.xyz" in msg
    assert not out.exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.qm9
def test_qm9pack_with_limit(tmp_path):
    res = run_ingest(IngestConfig(qm9=True, qm9_limit=30), [], tmp_path / "qm9")
    ds = ConformerDataset(tmp_path / "qm9")
    assert res.metrics["records"] == 30 and ds.n_conformers + len(res.errors) == 30
    assert len(ds) >= 25  # a few QM9 geometries share an identity or fail perception, each listed
    assert np.isfinite(ds.energies).all()  # U0 in Hartree
    assert ds.entries[0].smiles == "C" and ds.entries[0].extra["qm9_index"] == 1
    assert json.loads((tmp_path / "qm9" / "manifest.json").read_text())["inputs"][0]["kind"] == "qm9pack"


@pytest.mark.qm9
def test_qm9pack_seeded_sample_is_random_reproducible_and_nested():
    from pipeline.ingest.qm9pack import QM9_TOTAL, sample_indices

    a, again, other = sample_indices(40, seed=0), sample_indices(40, seed=0), sample_indices(40, seed=1)
    assert len(a) == 40 and a == again and a != other
    assert a < sample_indices(80, seed=0)  # a larger sample with the same seed is a superset
    assert max(a) > 1000  # not the first (smallest) molecules
    assert len(sample_indices(QM9_TOTAL + 5, seed=3)) == QM9_TOTAL


@pytest.mark.qm9
def test_qm9pack_sample_ingests_exactly_the_sampled_molecules(tmp_path):
    from pipeline.ingest.qm9pack import sample_indices

    run_ingest(IngestConfig(qm9=True, qm9_sample=12, qm9_seed=5), [], tmp_path / "qm9")
    ds = ConformerDataset(tmp_path / "qm9")
    mf = json.loads((tmp_path / "qm9" / "manifest.json").read_text())
    assert mf["counts"]["records"] == 12 and mf["config"]["qm9_sample"] == 12 and mf["config"]["qm9_seed"] == 5
    got = [e.extra["qm9_index"] for e in ds.entries]
    assert set(got) <= sample_indices(12, seed=5) and got == sorted(got)


def test_qm9_limit_and_sample_exclude_each_other():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exclude each other"):
        IngestConfig(qm9=True, qm9_limit=5, qm9_sample=5)


def test_parallel_perception_keeps_input_order_and_errors(tmp_path):
    """The process pool (forced here with serial_below=0 and tiny batches) gives the serial result."""
    from pipeline.ingest.parallel import perceive_all
    from pipeline.ingest.perception import PerceptionOptions
    from pipeline.ingest.xyz import parse_xyz_text
    from pipeline.types import RecordError

    mol = embedded("CC(=O)Nc1ccc(O)cc1", n_confs=6)
    text = "".join(xyz_frame(mol, k) for k in range(6)) + "2\nbad\nC 0 0 0\nXx 0 0 1\n" + xyz_frame(embedded("CCO"))
    items = list(parse_xyz_text(text, "f.xyz", "m"))
    opts = PerceptionOptions.from_config(IngestConfig())
    serial = list(perceive_all(items, opts, workers=1))
    pooled = list(perceive_all(items, opts, workers=2, chunk_size=1, serial_below=0, batch_size=3))
    assert [type(r).__name__ for r in pooled] == [type(r).__name__ for r in serial]
    assert [r.record for r in pooled] == [r.record for r in serial] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert isinstance(pooled[6], RecordError) and "Xx" in pooled[6].reason
    assert all(np.allclose(a.coords, b.coords) for a, b in zip(pooled, serial) if not isinstance(a, RecordError))


def test_an_existing_directory_that_is_not_a_dataset_is_never_replaced(tmp_path):
    (tmp_path / "in.xyz").write_text(xyz_frame(embedded("CCO")))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    with pytest.raises(StageError, match="not a bondiff dataset"):
        run_ingest(IngestConfig(), [tmp_path / "in.xyz"], precious)
    assert (precious / "thesis.tex").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_ingest(IngestConfig(), [tmp_path / "in.xyz"], empty).metrics["molecules"] == 1
