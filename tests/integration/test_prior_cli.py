"""`bondiff prior` end to end on a tiny RDKit-built dataset, tracked in a temporary MLflow store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.data.dataset import DatasetWriter, MoleculeEntry

# name, SMILES, split (the salt has two fragments; it must be kept)
MOLECULES = [
    ("ethanol", "CCO", "train"),
    ("benzene", "c1ccccc1", "train"),
    ("methylammonium_chloride", "C[NH3+].[Cl-]", "train"),
    ("acetic_acid", "CC(=O)O", "val"),
]


def _add(writer, name, smiles, split, n_confs=3, bonds=None):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from pipeline.chem import bonds_array, canonical_smiles, conformer_coords, mapped_smiles

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    ids = AllChem.EmbedMultipleConfs(mol, numConfs=n_confs, randomSeed=7)
    assert len(ids) == n_confs
    entry = MoleculeEntry(name=name, smiles=canonical_smiles(mol), mapped_smiles=mapped_smiles(mol), charge=Chem.GetFormalCharge(mol), source="test", split=split)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    q = np.array([a.GetFormalCharge() for a in mol.GetAtoms()])
    writer.add(entry, z, q, bonds_array(mol) if bonds is None else bonds, conformer_coords(mol))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("prior_ds")
    w = DatasetWriter(root / "tiny")
    for name, smi, split in MOLECULES:
        _add(w, name, smi, split)
    _add(w, "broken", "CC", "train", bonds=np.array([[0, 0, 1], [0, 1, 1]]))  # a self-bond: a per-record error
    return w.commit()


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_prior_cli_tracked_then_reused_then_forced(dataset, tmp_path, mlflow_store, capsys):
    import mlflow

    out = tmp_path / "prior"
    rc, stdout, stderr = _run(["prior", "--dataset", str(dataset), "--out", str(out)], capsys)
    assert rc == 0, stderr
    assert "prior built" in stdout and "1 multi-fragment" in stdout and "errors: 1" in stdout and "self-bond" in stdout
    doc = json.loads((out / "prior.json").read_text())
    assert doc["counts"] == {"molecules": 5, "usable": 4, "errors": 1, "multi_fragment": 1}
    assert doc["errors"][0]["record"].startswith("5 (broken)")
    cal = doc["calibration"]
    assert cal["n_molecules"] == 3 and cal["split"] == "train"  # the three good train molecules
    assert cal["prior_bond_rms"] == pytest.approx(cal["data_bond_rms"], rel=1e-9)
    assert 0.9 < cal["data_bond_rms"] < 1.6  # Å: C–H, C–C, C–N, C–O bonds of ETKDG conformers
    assert doc["params"]["c"] > 0 and doc["params"]["lam"] >= 0.05
    for png in ("bond_distance_hist.png", "rg_hist.png", "sigma_example.png"):
        assert (out / png).stat().st_size > 1000
    assert not list(tmp_path.glob(".prior.tmp-*"))  # nothing half-written left behind

    (run,) = mlflow.search_runs(experiment_names=["bondiff"], output_format="list")
    assert run.data.tags["stage"] == "prior" and run.data.tags["reused"] == "false"
    assert run.data.metrics["prior.c"] == pytest.approx(doc["params"]["c"])
    assert run.data.params["calibration.enabled"] == "True"
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"prior.json", "bond_distance_hist.png", "rg_hist.png", "sigma_example.png"} <= arts

    from pipeline.prior import load_prior_params

    assert load_prior_params(out).c == pytest.approx(doc["params"]["c"])

    mtime = (out / "prior.json").stat().st_mtime_ns
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--out", str(out), "--no-track"], capsys)
    assert rc == 0 and "prior reused" in stdout and (out / "prior.json").stat().st_mtime_ns == mtime
    # a config change changes the key: rebuilt, not reused; then --force rebuilds an unchanged one
    fast = ["--no-track", "--set", "plots=false", "--set", "weighted=true"]
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--out", str(out), *fast], capsys)
    assert rc == 0 and "prior built" in stdout and "weighted=True" in stdout
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--out", str(out), *fast], capsys)
    assert rc == 0 and "prior reused" in stdout
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--out", str(out), *fast, "--force"], capsys)
    assert rc == 0 and "prior built" in stdout


def test_default_output_is_keyed_by_content(dataset, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--no-track", "--set", "plots=false"], capsys)
    assert rc == 0
    doc_dirs = list((dataset.parent / "priors").glob("tiny-*"))
    assert len(doc_dirs) == 1 and json.loads((doc_dirs[0] / "prior.json").read_text())["key"] in doc_dirs[0].name


def test_errors_exit_codes(tmp_path, capsys):
    rc, _, stderr = _run(["prior", "--dataset", str(tmp_path / "nope"), "--no-track"], capsys)
    assert rc == 2 and "not a bondiff dataset" in stderr
    w = DatasetWriter(tmp_path / "allbad")
    _add(w, "broken", "CC", "train", n_confs=1, bonds=np.array([[1, 1, 1]]))
    rc, _, stderr = _run(["prior", "--dataset", str(w.commit()), "--no-track"], capsys)
    assert rc == 1 and "no usable molecule" in stderr and len(stderr.strip().splitlines()) == 1
    rc, _, stderr = _run(["prior", "--dataset", str(tmp_path / "allbad"), "--no-track", "--set", "calibration.lam_min=20"], capsys)
    assert rc == 2 and "lam_min" in stderr


def test_fragments_mode_is_the_default_and_sets_lambda_from_fragment_rms(dataset, tmp_path, capsys):
    fast = ["--no-track", "--set", "plots=false"]
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--out", str(tmp_path / "f"), *fast], capsys)
    doc = json.loads((tmp_path / "f" / "prior.json").read_text())
    cal, par = doc["calibration"], doc["params"]
    assert rc == 0 and par["lam_mode"] == "fragments" and "lam_mode fragments" in stdout and "Pi0" in doc["convention"]
    assert cal["fragment_rms_target"] == 5.0 and cal["lone_ion_rms"] == pytest.approx(5.0, rel=1e-12)
    assert par["lam"] == pytest.approx(3 / (par["c"] * 25.0), rel=1e-12) and "fragment_rms target 5 Å: λ = 3/(c r²)" in stdout
    assert cal["prior_bond_rms"] == pytest.approx(cal["data_bond_rms"], rel=1e-9)
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--out", str(tmp_path / "g"), *fast, "--set", "calibration.fragment_rms=8"], capsys)
    other = json.loads((tmp_path / "g" / "prior.json").read_text())
    assert rc == 0 and other["calibration"]["lone_ion_rms"] == pytest.approx(8.0, rel=1e-12)
    assert (other["params"]["c"], other["params"]["kappa"]) == (par["c"], par["kappa"])  # λ does not enter the (c, κ) fit
    # the factors the train and sample stages build from it are fragments-mode factors
    from pipeline.prior import load_prior_params, prior_factor

    params = load_prior_params(tmp_path / "f")
    bonds = np.array([[0, 1], [1, 2], [3, 4]])
    np.testing.assert_array_equal(params.factor(5, bonds)[0], prior_factor(5, bonds, par["c"], par["lam"], False, par["kappa"], "fragments")[0])


def test_fragment_rms_target_and_null_keeps_the_lambda_floor(dataset, tmp_path, capsys):
    fast = ["--no-track", "--set", "plots=false", "--set", "lam_mode=identity"]  # the fixed point of the identity-mode prior
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--out", str(tmp_path / "a"), *fast, "--set", "calibration.fragment_rms=5"], capsys)
    assert rc == 0 and "fragment_rms target 5 Å" in stdout
    cal, par = (lambda d: (d["calibration"], d["params"]))(json.loads((tmp_path / "a" / "prior.json").read_text()))
    assert cal["fragment_rms_target"] == 5.0 and cal["fragment_rms_min"] > 0
    if cal["lam_from"] == "fragment_rms":  # reached: the lone ion sits 5 Å from the rest, bonds and Rg matched
        assert cal["lone_ion_rms"] == pytest.approx(5.0, rel=1e-6) and cal["prior_rg_rms"] == pytest.approx(cal["data_rg_rms"], rel=1e-6)
    else:
        assert par["lam"] == pytest.approx(0.05) and "not reached" in stdout
    rc, stdout, _ = _run(["prior", "--dataset", str(dataset), "--out", str(tmp_path / "b"), *fast, "--set", "calibration.fragment_rms=null"], capsys)
    doc = json.loads((tmp_path / "b" / "prior.json").read_text())
    assert rc == 0 and doc["params"]["lam"] == pytest.approx(0.05) and "fragment_rms_target" not in doc["calibration"]
    assert "fragment_rms target" not in stdout and doc["calibration"]["prior_rg_rms"] == pytest.approx(doc["calibration"]["data_rg_rms"], rel=1e-6)
