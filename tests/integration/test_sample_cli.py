"""bondiff sample / bondiff export end to end: tiny saved model, temporary MLflow store, exit codes."""

from __future__ import annotations

import pandas as pd
import pytest
from rdkit import Chem

from pipeline.cli import main
from pipeline.model import save_model
from tests.helpers.sample import tiny_model


LOOSE = ["--set", "divergence.max_bond_length=1000", "--set", "divergence.max_radius=10000"]  # untrained model
FAST = ["--steps", "2", "--sampler", "ode_euler", "--no-progress"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    model, spec = tiny_model(seed=3, max_atoms=40)
    return str(save_model(tmp_path_factory.mktemp("m") / "model", model, spec))


def _records(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_sample_tracked_then_export(mlflow_store, tmp_path, model_dir, capsys):
    import mlflow

    out = tmp_path / "gen.sdf"
    rc = main(["sample", "--smiles", "CCO ethanol", "--smiles", "xx broken", "--smiles", "C[NH3+].[Cl-] salt",
               "-n", "2", "--model", model_dir, "--out", str(out), *FAST, *LOOSE])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "error: --smiles [record 2 (broken)]: cannot parse SMILES 'xx'" in cap.err
    recs = _records(out)
    assert [r.GetProp("_Name") for r in recs] == ["ethanol", "ethanol", "salt", "salt"]
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.stage = 'sample'", output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.metrics["conformers_per_s"] > 0
    assert run.data.params["steps"] == "2" and run.data.params["sampler"] == "ode_euler"
    assert {r.GetProp("run_id") for r in recs} == {run.info.run_id}
    # the corrector passes made are on the run (tag) and in every record, the same number
    assert run.data.params["corrector_passes"] == "None" and run.data.tags["corrector_passes"].isdigit()
    assert {r.GetProp("corrector_passes") for r in recs} == {run.data.tags["corrector_passes"]}
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"gen.sdf", "gen.errors.json"} <= arts

    # export everything from the sample run
    exp = tmp_path / "export.sdf"
    assert main(["export", "--run-id", run.info.run_id, "--out", str(exp)]) == 0
    assert [r.GetPropsAsDict() for r in _records(exp)] == [r.GetPropsAsDict() for r in recs]

    # a validate-like run downstream of it: only the valid conformers, one file per molecule
    with mlflow.start_run(tags={"stage": "validate", "upstream.sample": run.info.run_id}) as v:
        table = tmp_path / "conformers.csv"
        pd.DataFrame({"record": [1, 2, 3, 4], "valid": [False, True, True, True], "failed": ["clash", "", "", ""]}).to_csv(table, index=False)
        mlflow.log_artifact(str(table), "report")
    by_mol = tmp_path / "by_mol"
    assert main(["export", "--run-id", v.info.run_id, "--only-valid", "--per-molecule", "--out", str(by_mol)]) == 0
    assert sorted(p.name for p in by_mol.iterdir()) == ["ethanol.sdf", "salt.sdf"]
    eth = _records(by_mol / "ethanol.sdf")
    assert [r.GetProp("conformer_index") for r in eth] == ["1"] and eth[0].GetProp("valid") == "true"
    exports = mlflow.search_runs(search_all_experiments=True, filter_string="tags.stage = 'export'", output_format="list")
    assert len(exports) == 2 and any(r.data.tags.get("upstream.sample") == run.info.run_id for r in exports)
    capsys.readouterr()
    assert main(["export", "--run-id", "0123456789abcdef", "--out", str(tmp_path / "none.sdf")]) == 2
    assert "no MLflow run" in capsys.readouterr().err
    # --only-valid on a sample run is a usage error naming the run (not a vanished temp folder)
    assert main(["export", "--run-id", run.info.run_id, "--only-valid", "--out", str(tmp_path / "v.sdf")]) == 2
    err = capsys.readouterr().err
    assert "--only-valid needs a validate run" in err and run.info.run_id in err and "bondiff-export-" not in err
    assert not (tmp_path / "v.sdf").exists()
    # an output that cannot be written is refused before anything is fetched
    assert main(["export", "--run-id", run.info.run_id, "--out", str(table / "x.sdf")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_exit_codes(tmp_path, model_dir, capsys):
    out = tmp_path / "o.sdf"
    assert main(["sample", "--smiles", "xx", "--smiles", "C[Se]C", "--model", model_dir, "--out", str(out), "--no-track", *FAST]) == 1
    assert "nothing generated" in capsys.readouterr().err and not out.exists()
    assert main(["sample", "--out", str(out), "--no-track"]) == 2
    assert "no input" in capsys.readouterr().err
    assert main(["sample", "--smiles", "CCO", "--split", "test", "--out", str(out), "--no-track"]) == 2
    assert "--split applies to a dataset directory" in capsys.readouterr().err
    assert main(["sample", "--smiles", "CCO", "--model", str(tmp_path / "missing"), "--out", str(out), "--no-track"]) == 2
    assert "model not found" in capsys.readouterr().err
    empty = tmp_path / "empty.smi"
    empty.write_text("")
    assert main(["sample", "--input", str(empty), "--model", model_dir, "--out", str(out), "--no-track"]) == 1
    assert "empty input" in capsys.readouterr().err


def test_export_reads_the_real_validate_table(tmp_path):
    """sample -> validate -> export --only-valid through the stage functions (the contract between them)."""
    from pipeline.export import ExportConfig, run_export
    from pipeline.model import ModelSpec
    from pipeline.sample import SampleConfig, SampleInputs, run_sample
    from pipeline.sample.inputs import parse_smiles, prepare_molecule
    from tests.helpers.sample import ReferenceDenoiser, etkdg_coords
    from pipeline.validate import run_validate
    from pipeline.validate.config import ValidateConfig

    good = etkdg_coords(prepare_molecule("-", "1", "eth", parse_smiles("CCO")).mol, seed=1)
    # the reference denoiser keys on atom count: ethylammonium chloride (12 atoms) vs ethanol (9)
    stretched = 1.6 * etkdg_coords(prepare_molecule("-", "2", "salt", parse_smiles("CC[NH3+].[Cl-]")).mol, seed=1)
    model = (ReferenceDenoiser([good, stretched]), ModelSpec())
    # the raw, partly stretched samples (the steric layer's bond clamp off: it would shorten the stretched bonds)
    cfg = SampleConfig(num_confs=2, steps=3, progress=False, refine="none", steric={"local_slack": None})
    src, out = tmp_path / "run", tmp_path / "out"  # src: what `bondiff export` downloads from a validate run
    run_sample(cfg, model, SampleInputs(smiles=["CCO ethanol", "CC[NH3+].[Cl-] salt"]), src / "sample" / "gen.sdf")
    run_validate(ValidateConfig(workers=1), src / "sample" / "gen.sdf", None, src / "validate" / "report")
    res = run_export(ExportConfig(only_valid=True), src, out / "valid.sdf")
    recs = _records(out / "valid.sdf")
    assert [(r.GetProp("_Name"), r.GetProp("valid")) for r in recs] == [("ethanol", "true"), ("ethanol", "true")]
    assert res.metrics["valid_fraction"] == 0.5
    every = _records(run_export(ExportConfig(), src, out / "all.sdf").outputs["sdf"])
    assert [r.GetProp("valid") for r in every] == ["true", "true", "false", "false"]
    assert "bond_lengths" in every[2].GetProp("failed_checks")
