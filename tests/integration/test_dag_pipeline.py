"""The Airflow DAG: ``airflow dags test bondiff_pipeline`` on the tiny config with a temporary
``AIRFLOW_HOME`` and MLflow store, then the MLflow runs it produced are checked (one parent, a
child per stage, lineage, the SDF). Also the DAG's shape: retries on the data stages, the training
task routed to the queue/pool given by the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.run_helpers import STAGES, tiny_config

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = Path(sys.executable).with_name("airflow")


def _env(tmp: Path, tracking_uri: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(tmp / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        MLFLOW_TRACKING_URI=tracking_uri,
        BONDIFF_PROJECT_DIR=str(tmp),  # the config's relative paths resolve here
        BONDIFF_TRAIN_QUEUE="gpu",
        BONDIFF_TRAIN_POOL="gpu_pool",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def test_dag_shape(monkeypatch):
    pytest.importorskip("airflow", reason="Apache Airflow is the optional extra `airflow`")
    import importlib.util

    monkeypatch.setenv("BONDIFF_TRAIN_QUEUE", "gpu")
    monkeypatch.setenv("BONDIFF_TRAIN_POOL", "gpu_pool")
    spec = importlib.util.spec_from_file_location("bondiff_dag_under_test", REPO / "dags" / "bondiff_pipeline.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    dag = mod.bondiff_pipeline()
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(STAGES) | {"start", "finish"} == set(tasks)
    assert tasks["train"].queue == "gpu" and tasks["train"].pool == "gpu_pool"
    assert tasks["ingest"].retries == 2 and tasks["prior"].retries == 2
    assert tasks["train"].retries == 0  # a failed training is not blindly repeated
    assert tasks["sample"].upstream_task_ids == {"start", "train", "ingest"}
    assert set(dag.params.keys()) == {"config", "overrides", "force", "from_stage"}


@pytest.mark.slow
def test_airflow_dags_test_runs_the_chain(tmp_path, new_mlflow_store):
    if not AIRFLOW.exists():
        pytest.skip(f"{AIRFLOW} not installed (extra `airflow`)")
    import mlflow

    cfg = tiny_config(tmp_path, n_molecules=20, name="dag.yaml")
    env = _env(tmp_path, new_mlflow_store(tmp_path))
    mig = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert mig.returncode == 0, mig.stderr[-3000:]
    # registration is covered by test_run_pipeline; here it would only add time
    conf = json.dumps({"config": cfg.name, "overrides": ["tracking.experiment=dag-test", "train.register_model=false"]})
    proc = subprocess.run(
        [str(AIRFLOW), "dags", "test", "bondiff_pipeline", "-c", conf],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert "new_state=failed" not in log and "upstream_failed" not in log, log[-5000:]

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    try:
        runs = mlflow.search_runs(experiment_names=["dag-test"])
    finally:
        mlflow.set_tracking_uri(None)
    parents = runs[runs["tags.kind"] == "pipeline"]
    assert len(parents) == 1
    parent = parents.iloc[0]
    assert parent["status"] == "FINISHED" and parent["tags.orchestrator"] == "airflow"
    assert parent["tags.airflow.run_id"].startswith("manual__")
    kids = {r["tags.stage"]: r for _, r in runs[runs["tags.mlflow.parentRunId"] == parent["run_id"]].iterrows()}
    assert set(kids) == set(STAGES)
    assert all(k["status"] == "FINISHED" and k["tags.reused"] == "false" for k in kids.values())
    assert kids["train"]["tags.upstream.prior"] == kids["prior"]["run_id"]
    assert kids["export"]["tags.upstream.sample"] == kids["sample"]["run_id"]
    sdf = Path(parent["tags.output.export.sdf"])
    assert sdf.is_file() and sdf.is_relative_to(tmp_path / "work") and "$$$$" in sdf.read_text()
