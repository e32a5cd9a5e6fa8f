"""``bondiff validate`` end to end with a temporary MLflow store."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rdkit")
from tests.helpers import validate as H  # noqa: E402

from pipeline.cli import main  # noqa: E402


@pytest.fixture
def inputs(tmp_path):
    ref = H.write_refset(tmp_path / "refset", n_confs=2, molecules=H.MOLECULES[:2])
    smi, name, _ = H.MOLECULES[0]
    sdf = H.write_generated(tmp_path / "gen.sdf", [(name, smi, H.embed(smi, 4, seed=9))])
    return sdf, ref


def test_validate_cli_logs_one_mlflow_run(tmp_path, mlflow_store, inputs, capsys):
    import mlflow

    sdf, ref = inputs
    out = tmp_path / "val"
    rc = main(["validate", "--generated", str(sdf), "--reference", str(ref), "--out", str(out), "--workers", "1", "--set", f"cache_dir={tmp_path / 'cache'}"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "validated 4 records" in text and "COV-R" in text and "report.html" in text and "verdict: " in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["n_records"] == 4

    runs = mlflow.search_runs(experiment_names=["bondiff"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["stage"] == "validate" and run.info.status == "FINISHED"
    assert run.data.metrics["validity"] == pytest.approx(summary["metrics"]["validity"])
    assert run.data.metrics["COV-R_mean"] == pytest.approx(summary["metrics"]["COV-R_mean"])
    assert run.data.params["metrics.delta"] == "0.75"
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "val")}
    assert {"val/report.html", "val/conformers.csv", "val/summary.json"} <= logged


def test_validate_cli_user_errors(tmp_path, mlflow_store, capsys):
    assert main(["validate", "--generated", str(tmp_path / "missing.sdf"), "--out", str(tmp_path / "o"), "--no-track"]) == 2
    assert "generated SDF not found" in capsys.readouterr().err
    empty = tmp_path / "empty.sdf"
    empty.write_text("")
    assert main(["validate", "--generated", str(empty), "--out", str(tmp_path / "o"), "--no-track"]) == 1
    assert "no SDF records" in capsys.readouterr().err
    assert main(["validate", "--generated", str(empty), "--out", str(tmp_path / "o"), "--no-track", "--set", "metrics.delta=-1"]) == 2
