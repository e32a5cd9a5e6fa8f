"""A stage's inputs become MLflow datasets of its run (name, content hash, where they live)."""

from __future__ import annotations

import json

import pytest

from pipeline.types import InputDataset, StageResult

mlflow = pytest.importorskip("mlflow")


def test_stage_inputs_are_logged_as_datasets(tmp_path, mlflow_store):
    from pipeline.tracking import track_stage

    data = tmp_path / "data" / "qm9_sample"
    data.mkdir(parents=True)
    inputs = [
        InputDataset("qm9_sample", "data/qm9_sample", "0123456789abcdef", "input"),  # relative to the cwd
        InputDataset("remote", "https://example.org/set.tar.gz", "fedcba9876543210", "source"),
    ]
    _, run_id = track_stage("ingest", {"x": 1}, lambda: StageResult("ingest", inputs=inputs), workdir=tmp_path)
    run = mlflow.get_run(run_id)
    assert not [k for k in run.data.tags if k.startswith("input_log_error")], run.data.tags
    logged = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(logged) == {"qm9_sample", "remote"}
    local = logged["qm9_sample"]
    assert local.dataset.digest == "0123456789abcdef"
    assert local.dataset.source_type == "local"
    assert json.loads(local.dataset.source)["uri"] == str(data.resolve())  # absolute: the store outlives the cwd
    assert {t.key: t.value for t in local.tags}["mlflow.data.context"] == "input"
    assert json.loads(logged["remote"].dataset.source)["url"] == "https://example.org/set.tar.gz"
    assert run.data.tags["input.remote.digest"] == "fedcba9876543210"


def test_artifacts_of_a_sqlite_store_live_next_to_it(tmp_path, monkeypatch):
    """A store given by URI elsewhere must not fill the current directory with mlartifacts/."""
    from pipeline.tracking import default_artifact_root

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "stores" / "x" / "mlflow.db"
    assert default_artifact_root(None, f"sqlite:///{db}") == (db.parent / "mlartifacts").as_uri()
    assert default_artifact_root(tmp_path / "w") == (tmp_path / "w" / "mlartifacts").as_uri()
    assert default_artifact_root(None, "http://mlflow:5000") == (tmp_path / "mlartifacts").as_uri()
