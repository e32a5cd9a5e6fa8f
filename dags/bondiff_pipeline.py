"""Apache Airflow 3 DAG for the bondiff chain: one TaskFlow task per stage, orchestration only.

Every task is one call into :mod:`pipeline.run.airflow` (the same chain ``bondiff run`` uses), so the DAG
has the same content-hash cache, MLflow parent/child runs and lineage. Tasks exchange only small
JSON records (paths, hashes, run ids) through XCom; the data stay in the pipeline's workdir, which
must be on storage every worker sees.

Params (trigger form or ``airflow dags test bondiff_pipeline -c '{"config": ...}'``):
``config`` (pipeline YAML, relative to the project dir), ``overrides`` (``key=value`` list),
``force``, ``from_stage``.

Deployment knobs, read when the DAG file is parsed:
``BONDIFF_PROJECT_DIR`` (default: the repository holding this file), ``BONDIFF_TRAIN_QUEUE``
(Celery queue served by GPU workers; default ``default``), ``BONDIFF_TRAIN_POOL`` (default
``default_pool``). See docs/airflow.md.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

PROJECT_DIR = os.environ.get("BONDIFF_PROJECT_DIR", str(Path(__file__).resolve().parents[1]))
TRAIN_QUEUE = os.environ.get("BONDIFF_TRAIN_QUEUE", "default")
TRAIN_POOL = os.environ.get("BONDIFF_TRAIN_POOL", "default_pool")
DATA_RETRIES = {"retries": 2, "retry_delay": timedelta(seconds=30)}  # data stages: transient I/O is retried
RUNS_AFTER_SKIPS = "none_failed_min_one_success"  # a config may start the chain at `sample`


def _args() -> tuple[str, list[str], str]:
    p = get_current_context()["params"]
    return p["config"], list(p["overrides"] or []), PROJECT_DIR


def _stage(stage: str, parent_run_id: str, *upstream: dict | None) -> dict:
    from pipeline.run.airflow import task_stage

    p = get_current_context()["params"]
    config, overrides, base = _args()
    record = task_stage(config, overrides, base, stage, parent_run_id, upstream, p["force"], p["from_stage"])
    if record is None:
        raise AirflowSkipException(f"{config} does not run stage {stage}")
    return record


@dag(
    dag_id="bondiff_pipeline",
    schedule=None,
    catchup=False,
    max_active_runs=1,  # one run per workdir at a time (the cache state file is per workdir)
    tags=["bondiff"],
    doc_md=__doc__,
    params={
        "config": Param("configs/quickstart.yaml", type="string", description="pipeline YAML, relative to the project dir"),
        "overrides": Param([], type="array", description="config overrides, e.g. train.max_steps=2000"),
        "force": Param(False, type="boolean", description="re-run every stage"),
        "from_stage": Param(
            None, type=["null", "string"], enum=[None, "ingest", "prior", "train", "sample", "validate", "export"],
            description="re-run this stage and every later one",
        ),
    },
)
def bondiff_pipeline():
    @task
    def start() -> str:
        from pipeline.run.airflow import task_start

        return task_start(*_args(), tags={"airflow.run_id": get_current_context()["run_id"]})

    @task(**DATA_RETRIES)
    def ingest(parent: str) -> dict:
        return _stage("ingest", parent)

    @task(**DATA_RETRIES)
    def prior(parent: str, ingest_rec: dict) -> dict:
        return _stage("prior", parent, ingest_rec)

    @task(queue=TRAIN_QUEUE, pool=TRAIN_POOL)
    def train(parent: str, ingest_rec: dict, prior_rec: dict) -> dict:
        return _stage("train", parent, ingest_rec, prior_rec)

    @task(trigger_rule=RUNS_AFTER_SKIPS)
    def sample(parent: str, train_rec: dict | None, ingest_rec: dict | None) -> dict:
        return _stage("sample", parent, train_rec, ingest_rec)

    @task(trigger_rule=RUNS_AFTER_SKIPS, **DATA_RETRIES)
    def validate(parent: str, sample_rec: dict, ingest_rec: dict | None) -> dict:
        return _stage("validate", parent, sample_rec, ingest_rec)

    @task(trigger_rule=RUNS_AFTER_SKIPS, **DATA_RETRIES)
    def export(parent: str, sample_rec: dict, validate_rec: dict | None) -> dict:
        return _stage("export", parent, sample_rec, validate_rec)

    @task(trigger_rule=RUNS_AFTER_SKIPS)
    def finish(parent: str, *records: dict | None) -> dict:
        from pipeline.run.airflow import task_finish

        return task_finish(*_args()[:2], PROJECT_DIR, parent, records)

    parent = start()
    i = ingest(parent)
    p = prior(parent, i)
    t = train(parent, i, p)
    s = sample(parent, t, i)
    v = validate(parent, s, i)
    e = export(parent, s, v)
    finish(parent, i, p, t, s, v, e)


bondiff_pipeline()
