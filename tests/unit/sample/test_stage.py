"""run_sample: SDF records and properties, hydrogens, salts, stereo records, per-record errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from pipeline.model import ModelSpec, save_model
from pipeline.sample import SampleConfig, SampleInputs, run_sample
from pipeline.sample.inputs import prepare_molecule
from tests.helpers.sample import ReferenceDenoiser, etkdg_coords, tiny_model
from pipeline.types import NullLogger, StageError

SMILES = ["C[C@H](N)C(=O)O ala", "CC(O)C(N)C=CC open_stereo", "C[NH3+].[Cl-] salt", "xx broken", "C[Se]C selenide"]


class RunLogger(NullLogger):
    run_id = "abc123"


def _refs(smiles, seed):
    out = []
    for item in smiles:
        smi, name = item.split()
        mol = Chem.MolFromSmiles(smi)
        if mol is not None and "Se" not in smi:
            out.append(etkdg_coords(prepare_molecule("-", "1", name, mol, seed=seed).mol, seed=3))
    return out


@pytest.fixture(scope="module")
def reference_model():
    return ReferenceDenoiser(_refs(SMILES, seed=11)), ModelSpec(max_atoms=40)


def _read(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_sdf_records_properties_and_errors(tmp_path, reference_model):
    cfg = SampleConfig(num_confs=2, steps=4, seed=11, progress=False, refine="none")
    out = tmp_path / "gen.sdf"
    res = run_sample(cfg, reference_model, SampleInputs(smiles=SMILES), out, RunLogger())
    recs = _read(out)
    assert None not in recs and len(recs) == 6
    assert [r.GetProp("_Name") for r in recs] == ["ala", "ala", "open_stereo", "open_stereo", "salt", "salt"]
    for r in recs:
        assert r.GetProp("sampler") == SampleConfig().sampler and r.GetProp("steps") == "4" and r.GetProp("seed") == "11"
        assert r.GetProp("run_id") == "abc123" and r.GetProp("model_version") == "in-memory"
        assert r.GetProp("mirror_fixed") in {"true", "false"} and r.GetProp("model") == "in-memory"
        assert r.GetProp("stereo_ok") == "true" and r.GetProp("refined") == "none" and not r.HasProp("energy_kcal_mol")
        assert np.isfinite(r.GetConformer().GetPositions()).all()
        assert all(a.GetNumImplicitHs() == 0 for a in r.GetAtoms())  # hydrogens are in the file
    assert [r.GetProp("conformer_index") for r in recs] == ["0", "1"] * 3
    assert recs[0].GetProp("SMILES") == "C[C@H](N)C(=O)O" and not recs[0].HasProp("stereo_assigned")
    chosen = recs[2].GetProp("stereo_assigned")
    assert recs[2].GetProp("SMILES") == "CC=CC(N)C(C)O" and "@" in chosen and "/" in chosen
    # the written geometry carries the assigned stereo
    assert Chem.MolToSmiles(Chem.RemoveHs(recs[2])) == chosen
    salt = recs[4]
    assert len(Chem.GetMolFrags(salt)) == 2 and sorted(a.GetFormalCharge() for a in salt.GetAtoms())[0] == -1
    assert salt.GetNumAtoms() == 9  # CH3-NH3+ and Cl-
    assert {e.record for e in res.errors} == {"4 (broken)", "5 (selenide)"}
    assert res.metrics["records_written"] == 6 and res.metrics["conformers_per_s"] > 0
    assert res.metrics["stereo_centres_correct"] == 1.0
    assert res.outputs["sdf"] == out and out in res.artifacts
    errs = json.loads((tmp_path / "gen.errors.json").read_text())
    assert {e["record"] for e in errs} == {"4 (broken)", "5 (selenide)"}


def test_per_reference_from_sdf(tmp_path, reference_model):
    mol = Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))
    cids = AllChem.EmbedMultipleConfs(mol, 3, randomSeed=2)
    mol.SetProp("_Name", "ala")
    src = tmp_path / "refs.sdf"
    with Chem.SDWriter(str(src)) as w:
        for c in cids:
            w.write(mol, confId=c)
    cfg = SampleConfig(per_reference=2, steps=2, progress=False, split="test")  # a split is ignored for files
    res = run_sample(cfg, reference_model, SampleInputs(input=src), tmp_path / "out.sdf")
    assert res.metrics["records_written"] == 6 and len(_read(tmp_path / "out.sdf")) == 6
    assert res.inputs and res.inputs[0].digest


def test_nothing_usable_raises_and_writes_nothing(tmp_path, reference_model):
    out = tmp_path / "none.sdf"
    with pytest.raises(StageError, match="no usable molecule"):
        run_sample(SampleConfig(progress=False), reference_model, SampleInputs(smiles=["xx", "C[Se]C"]), out)
    assert not out.exists()


def test_missing_model_path_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="model not found: .*no_such_model"):
        run_sample(SampleConfig(), str(tmp_path / "no_such_model"), SampleInputs(smiles=["CCO"]), tmp_path / "x.sdf")


def test_saved_tiny_model_end_to_end(tmp_path):
    model, spec = tiny_model(seed=2, max_atoms=30)
    model_dir = save_model(tmp_path / "model", model, spec)
    cfg = SampleConfig(num_confs=2, steps=2, sampler="ode_euler", progress=False, refine="mmff")
    cfg.divergence.max_bond_length = 1e3  # an untrained model: accept any finite geometry
    cfg.divergence.max_radius = 1e4
    res = run_sample(cfg, str(model_dir), SampleInputs(smiles=["CC(=O)O acetic", "C" * 12 + " too_big"]), tmp_path / "o.sdf")
    recs = _read(tmp_path / "o.sdf")
    assert len(recs) == 2 and None not in recs and all(np.isfinite(r.GetConformer().GetPositions()).all() for r in recs)
    assert recs[0].GetProp("model_version") == str(model_dir)
    # model = name @ a hash of the weights: the same for both records, different for other weights
    from pipeline.model_catalog import weights_hash as file_hash
    from pipeline.sample.modelspec import weights_hash

    assert {r.GetProp("model") for r in recs} == {f"{model_dir}@{file_hash(model_dir)}"}
    assert weights_hash(tiny_model(seed=3, max_atoms=30)[0]) != weights_hash(model) != ""
    for r in recs:  # the per-conformer properties of a refined run, next to the earlier ones
        assert r.GetProp("refined") == "MMFF94" and np.isfinite(float(r.GetProp("energy_kcal_mol")))
        assert r.GetProp("refine_converged") in {"true", "false"} and r.GetProp("stereo_ok") == "true"
        assert r.GetProp("attempt") == "0" and r.GetProp("mirror_fixed") == "false" and r.HasProp("conformer_index")
    assert len(res.errors) == 1 and "exceeds the model's limit of 30" in res.errors[0].reason


@pytest.mark.parametrize("refine,passes", [("none", None), ("mmff", None), ("mmff", 2)])
def test_the_corrector_makes_the_resolved_number_of_passes(tmp_path, reference_model, refine, passes):
    # unset, corrector_passes is 14 for raw samples and 6 before the MMFF relaxation; set, it is kept
    inner, spec = reference_model
    calls = []

    def counting(x, t, batch):
        calls.append(1)
        return inner(x, t, batch)

    cfg = SampleConfig(num_confs=1, seed=11, progress=False, refine=refine, corrector_passes=passes)
    run_sample(cfg, (counting, spec), SampleInputs(smiles=["C[C@H](N)C(=O)O ala"]), tmp_path / "gen.sdf", RunLogger())
    made = passes if passes is not None else {"none": 14, "mmff": 6}[refine]
    assert len(calls) == cfg.steps + 1 + made
    assert _read(tmp_path / "gen.sdf")[0].GetProp("corrector_passes") == str(made)  # the SDF says what was made
