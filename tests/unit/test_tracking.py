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


def test_summary_metrics_do_not_start_curves_at_step_0_and_experiments_open_on_runs(tmp_path, mlflow_store):
    """A summary metric that is also a curve goes at the curve's last step (not at
    MLflow's default step 0, which put the final value at the start of every training curve); a
    bondiff experiment is tagged so MLflow 3 opens its runs view, not the GenAI view."""
    from pipeline.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, track_stage

    def fn(logger):
        for step, loss in ((10, 3.0), (20, 2.0), (30, 1.0)):
            logger.log_metrics({"loss": loss}, step=step)
        return StageResult("train", metrics={"loss": 1.0, "n_params": 42.0})

    _, run_id = track_stage("train", {"x": 1}, fn, pass_logger=True, workdir=tmp_path)
    client = mlflow.tracking.MlflowClient()
    loss = client.get_metric_history(run_id, "loss")
    assert min(m.step for m in loss) == 10 and max(m.step for m in loss) == 30
    assert [m.value for m in sorted(loss, key=lambda m: (m.step, m.timestamp))][-1] == 1.0
    assert [m.step for m in client.get_metric_history(run_id, "n_params")] == [0]  # not a curve: step 0 is fine
    exp = client.get_experiment(client.get_run(run_id).info.experiment_id)
    assert exp.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
