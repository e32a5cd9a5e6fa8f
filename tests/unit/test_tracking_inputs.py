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
