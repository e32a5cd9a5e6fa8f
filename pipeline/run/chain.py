"""``bondiff run``: the chain ingest → prior → train → sample → validate → export under one MLflow
parent run, one child run per stage (docs/design.md §1, §4).

* **Tracking.** :func:`pipeline.tracking.parent_run` opens the parent (resolved config logged);
  each stage runs inside :func:`pipeline.tracking.track_stage` (tag ``stage=<name>``, lineage tags
  ``upstream.<stage>`` = the run that produced each upstream output).
* **Cache.** A stage's key hashes its config section, the content hashes of its upstream outputs
  and anything else it reads (:mod:`pipeline.run.stages`). When ``<workdir>/pipeline_state.json``
  has a record for the key whose outputs are intact, the stage is *reused*: a child run tagged
  ``reused=true`` / ``reused_from=<run>`` is logged and nothing is recomputed. ``force`` re-runs
  everything, ``from_stage`` re-runs that stage and every later one.
* **Failure.** A stage writes into a fresh temporary directory that becomes
  ``<workdir>/<stage>/<key>/`` only when it succeeds, so a failure leaves every earlier output (and
  the previous output of the failing stage) intact; the stage's run and the parent are marked
  FAILED with the reason (tag ``failure_reason``) and :class:`PipelineFailed` is raised.

The DAG (``dags/bondiff_pipeline.py``) runs the same :func:`execute_stage` one task per stage
through :mod:`pipeline.run.airflow`. Registration of a trained model is :mod:`pipeline.registry`'s.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pipeline.atomic import write_dir_atomic
from pipeline.config import config_hash
from pipeline.hashing import combine_hashes
from pipeline.missing import finite_metrics
from pipeline.run.config import PipelineConfig
from pipeline.run.stages import DEFAULT_SPECS, StageContext, StageSpec, spec_for
from pipeline.run.state import RunState, StageRecord, hash_outputs
from pipeline.types import StageResult

__all__ = [
    "PipelineFailed",
    "PipelineOutcome",
    "run_pipeline",
    "execute_stage",
    "stage_key",
    "plan_force",
    "tracking_args",
    "log_summary",
]

log = logging.getLogger(__name__)
KEY_VERSION = "runner-v1"


class PipelineFailed(RuntimeError):
    """A stage failed; earlier outputs are kept. Carries the stage, the reason and the parent run id."""

    def __init__(self, stage: str, reason: str, parent_run_id: str | None, completed: dict[str, StageRecord]):
        super().__init__(f"stage {stage!r} failed: {reason}")
        self.stage = stage
        self.reason = reason
        self.parent_run_id = parent_run_id
        self.completed = completed


@dataclass
class PipelineOutcome:
    """What ``bondiff run`` reports: the record of every stage, the parent run, where things are."""

    records: dict[str, StageRecord]
    parent_run_id: str | None
    experiment_id: str | None
    tracking_uri: str
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reused(self) -> list[str]:
        return [s for s, r in self.records.items() if r.reused]

    def output(self, stage: str, name: str) -> Path | None:
        rec = self.records.get(stage)
        return Path(rec.outputs[name]) if rec and name in rec.outputs else None

    @property
    def sdf(self) -> Path | None:
        return self.output("export", "sdf") or self.output("sample", "sdf")

    @property
    def report(self) -> Path | None:
        report_dir = self.output("validate", "report_dir")
        if report_dir is None:
            return None
        html = sorted(report_dir.rglob("*.html"))
        return html[0] if html else report_dir


# --- cache keys -----------------------------------------------------------------------------------


def stage_key(spec: StageSpec, cfg: PipelineConfig, upstream: dict[str, StageRecord]) -> str:
    """Hash of the stage's config section + upstream output hashes + whatever else it reads."""
    parts = [KEY_VERSION, spec.name, config_hash(cfg.section(spec.name))]
    for up in spec.upstream:
        rec = upstream.get(up)
        if rec is not None:
            parts += [f"{up}.{k}={h}" for k, h in sorted(rec.output_hashes.items())]
    parts += spec.key_material(cfg, upstream)
    return combine_hashes(parts)


def plan_force(stages: Sequence[str], force: bool = False, from_stage: str | None = None) -> dict[str, bool]:
    """Which stages ignore the cache: all with ``force``; ``from_stage`` and everything after it."""
    if from_stage is not None and from_stage not in stages:
        raise ValueError(f"--from {from_stage}: not one of this config's stages {list(stages)}")
    start = stages.index(from_stage) if from_stage is not None else len(stages)
    return {s: force or i >= start for i, s in enumerate(stages)}


# --- one stage ------------------------------------------------------------------------------------


def execute_stage(
    cfg: PipelineConfig,
    stage: str,
    upstream: dict[str, StageRecord],
    *,
    force: bool = False,
    state: RunState | None = None,
    specs: tuple[StageSpec, ...] = DEFAULT_SPECS,
) -> StageRecord:
    """Run (or reuse) one stage inside its own MLflow run, nested under the active run if any.

    ``cfg`` must be resolved (absolute paths). Returns the stage's record; raises what the stage
    raised after its run was marked FAILED.
    """
    from pipeline.tracking import track_stage

    spec = spec_for(stage, specs)
    state = state or RunState(cfg.workdir)
    section = cfg.section(stage)
    lineage = {u: upstream[u].run_id for u in spec.upstream if u in upstream and upstream[u].run_id}
    key = stage_key(spec, cfg, upstream)

    cached = None if force else state.get(stage, key)
    if cached is not None and cached.outputs_intact():
        reused = StageResult(
            stage,
            outputs={k: Path(v) for k, v in cached.outputs.items()},
            tags={"reused_from": cached.run_id or "", "cache_key": key},
            reused=True,
        )
        track_stage(stage, section, lambda: reused, lineage=lineage)
        cached.reused = True
        log.info("%s: reused (key %s, from run %s)", stage, key, cached.run_id)
        return cached

    final = Path(cfg.workdir) / stage / key

    def call(logger) -> StageResult:
        made: list[tuple[StageResult, Path]] = []

        def build(tmp: Path) -> None:
            result = spec.call(cfg, StageContext(out_dir=tmp, upstream=upstream, force=force, logger=logger))
            _write_errors(result, tmp)
            made.append((result, tmp))

        write_dir_atomic(final, build)
        result, tmp = made[0]
        result.tags.setdefault("cache_key", key)
        return _relocate(result, tmp, final)

    log.info("%s: running (key %s)", stage, key)
    result, run_id = track_stage(stage, section, call, lineage=lineage, pass_logger=True)
    record = StageRecord(
        stage=stage,
        key=key,
        outputs={k: str(p) for k, p in result.outputs.items()},
        output_hashes=hash_outputs(result.outputs),
        run_id=run_id,
        metrics=finite_metrics(result.metrics),  # NaN/inf are not JSON (state file, Airflow XCom); MLflow has them all
        finished_at=time.time(),
    )
    state.put(record)  # recorded before registering: a registry failure must not cost the training
    if spec.registers_model and cfg.train.register_model:
        from pipeline.registry import register_model

        record.metrics["registered_version"] = float(register_model(run_id, record.path("model_dir")))
        state.put(record)
    return record


def _write_errors(result: StageResult, out_dir: Path) -> None:
    """Per-record errors become ``errors.json`` (artifact) and the ``record_errors`` metric."""
    result.metrics.setdefault("record_errors", float(len(result.errors)))
    if result.errors:
        p = out_dir / f"{result.stage}_errors.json"
        p.write_text(json.dumps([e.as_dict() for e in result.errors], indent=1) + "\n")
        result.artifacts.append(p)


def _relocate(result: StageResult, tmp: Path, final: Path) -> StageResult:
    """Point paths that were inside the temporary dir at their committed place."""

    def move(p: Any) -> Any:
        try:
            return final / Path(p).relative_to(tmp)
        except (TypeError, ValueError):
            return p

    result.outputs = {k: move(p) for k, p in result.outputs.items()}
    result.artifacts = [move(p) for p in result.artifacts]
    return result


# --- the chain ------------------------------------------------------------------------------------


def tracking_args(cfg: PipelineConfig, base_dir: Path) -> dict[str, Any]:
    """The keyword arguments of :func:`pipeline.tracking.setup_tracking` / ``parent_run`` for ``cfg``."""
    return {"tracking_uri": cfg.tracking.uri, "experiment": cfg.tracking.experiment, "workdir": base_dir}


def run_pipeline(
    cfg: PipelineConfig,
    *,
    base_dir: str | Path | None = None,
    force: bool = False,
    from_stage: str | None = None,
    config_path: str | Path | None = None,
    specs: tuple[StageSpec, ...] = DEFAULT_SPECS,
) -> PipelineOutcome:
    """Run ``cfg.stages`` in order under one parent run; see the module doc. ``cfg`` must be resolved."""
    import mlflow

    from pipeline.tracking import parent_run

    base = Path(base_dir or Path.cwd()).resolve()
    stages = list(cfg.stages)
    forced = plan_force(stages, force, from_stage)
    state = RunState(cfg.workdir)
    records: dict[str, StageRecord] = {}
    tags = {
        "workdir": str(cfg.workdir),
        "stages": ",".join(stages),
        "force": str(force).lower(),
        "from_stage": from_stage or "",
    }
    if config_path is not None:
        tags["config_path"] = str(config_path)
    t0 = time.perf_counter()
    stage = stages[0]
    parent_id = None
    try:
        with parent_run(cfg.name, config=cfg, tags=tags, **tracking_args(cfg, base)) as run:
            parent_id = run.info.run_id
            for stage in stages:
                records[stage] = execute_stage(cfg, stage, dict(records), force=forced[stage], state=state, specs=specs)
            log_summary(records)
            exp_id = run.info.experiment_id
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        reason = f"{type(exc).__name__}: {exc}"
        raise PipelineFailed(stage, reason, parent_id, records) from exc
    return PipelineOutcome(records, parent_id, exp_id, mlflow.get_tracking_uri(), time.perf_counter() - t0)


def log_summary(records: dict[str, StageRecord]) -> None:
    """Parent-run tags/metrics: where the final outputs are, what was reused."""
    import mlflow

    tags = {f"output.{s}.{k}": v for s, r in records.items() for k, v in r.outputs.items()}
    tags.update({f"run.{s}": r.run_id or "" for s, r in records.items()})
    tags["reused_stages"] = ",".join(s for s, r in records.items() if r.reused)
    mlflow.set_tags(tags)
    mlflow.log_metric("stages_reused", float(sum(r.reused for r in records.values())))
    mlflow.log_metric("stages_run", float(sum(not r.reused for r in records.values())))
