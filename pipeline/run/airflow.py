"""The chain one stage per process, for orchestrators (the Airflow DAG ``dags/bondiff_pipeline.py``).

Each task is one call here — :func:`task_start`, :func:`task_stage` per stage, :func:`task_finish` —
taking the config path and returning small JSON (run ids, stage records) for XCom. They run the
same :func:`pipeline.run.chain.execute_stage` as ``bondiff run``, nested under one parent run that
:func:`start_parent_run` opens and each task resumes; the cache and lineage are the same. Nothing
here imports Airflow: the DAG file owns the Airflow side (params, queues, retries, skips).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Sequence

from pipeline.run.chain import execute_stage, log_summary, plan_force, tracking_args
from pipeline.run.config import PipelineConfig, load_pipeline_config
from pipeline.run.state import StageRecord

__all__ = ["start_parent_run", "resume_parent_run", "close_parent_run", "task_start", "task_stage", "task_finish"]


def start_parent_run(cfg: PipelineConfig, base_dir: str | Path, tags: dict[str, str] | None = None) -> str:
    """Create the parent run (config logged) and return its id; stages resume it with :func:`resume_parent_run`."""
    from pipeline.tracking import parent_run

    with parent_run(cfg.name, config=cfg, tags={"orchestrator": "airflow", **(tags or {})}, **tracking_args(cfg, Path(base_dir))) as run:
        return run.info.run_id


@contextlib.contextmanager
def resume_parent_run(cfg: PipelineConfig, base_dir: str | Path, parent_run_id: str) -> Iterator[Any]:
    """Make ``parent_run_id`` the active run (stage runs nest under it); a failure marks it FAILED with the reason."""
    import mlflow

    from pipeline.tracking import setup_tracking

    setup_tracking(**tracking_args(cfg, Path(base_dir)))
    with mlflow.start_run(run_id=parent_run_id) as run:
        try:
            yield run
        except BaseException as exc:
            mlflow.set_tag("failure_reason", f"{type(exc).__name__}: {exc}"[:5000])
            raise


def close_parent_run(
    cfg: PipelineConfig, base_dir: str | Path, parent_run_id: str, records: dict[str, StageRecord]
) -> None:
    """Log the summary on the parent and leave it FINISHED."""
    with resume_parent_run(cfg, base_dir, parent_run_id):
        log_summary(records)


# --- one call per task: config path in, JSON out --------------------------------------------------


def _task_config(config: str, overrides: Sequence[str], base_dir: str | Path) -> PipelineConfig:
    path = Path(config)
    return load_pipeline_config(path if path.is_absolute() else Path(base_dir) / path, list(overrides or []), base_dir)


def task_start(config: str, overrides: Sequence[str], base_dir: str | Path, tags: dict[str, str] | None = None) -> str:
    """Validate the config and open the parent run; returns its id (the first task's XCom)."""
    cfg = _task_config(config, overrides, base_dir)
    return start_parent_run(cfg, base_dir, {"config_path": str(config), **(tags or {})})


def task_stage(
    config: str,
    overrides: Sequence[str],
    base_dir: str | Path,
    stage: str,
    parent_run_id: str,
    upstream: Sequence[dict[str, Any] | None] = (),
    force: bool = False,
    from_stage: str | None = None,
) -> dict[str, Any] | None:
    """Run (or reuse) ``stage`` nested under the parent; ``upstream`` = the records earlier tasks returned.

    Returns the stage's record as JSON (the task's XCom), or None when the config does not run ``stage``.
    """
    import mlflow

    cfg = _task_config(config, overrides, base_dir)
    if stage not in cfg.stages:
        return None
    records = {r["stage"]: StageRecord.from_json(r) for r in upstream if r}
    forced = plan_force(list(cfg.stages), force, from_stage)[stage]
    with resume_parent_run(cfg, base_dir, parent_run_id):
        record = execute_stage(cfg, stage, records, force=forced)
        if "failure_reason" in mlflow.get_run(parent_run_id).data.tags:  # an earlier try failed; this retry worked
            mlflow.delete_tag("failure_reason")
    return record.to_json()


def task_finish(
    config: str, overrides: Sequence[str], base_dir: str | Path, parent_run_id: str, records: Sequence[dict[str, Any] | None]
) -> dict[str, str]:
    """Log the summary on the parent run; returns ``{stage: run id}``."""
    cfg = _task_config(config, overrides, base_dir)
    recs = {r["stage"]: StageRecord.from_json(r) for r in records if r}
    close_parent_run(cfg, base_dir, parent_run_id, recs)
    return {s: r.run_id or "" for s, r in recs.items()}
