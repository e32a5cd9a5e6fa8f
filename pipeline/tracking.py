"""MLflow tracking around stage calls (docs/design.md §4). Stages never import this module.

* Default store: ``sqlite:///<workdir>/mlflow.db`` with artifacts in ``<workdir>/mlartifacts`` (for any
  SQLite store: ``mlartifacts/`` next to its file, never the current directory by accident);
  ``MLFLOW_TRACKING_URI`` (or an explicit ``tracking_uri``) overrides it.
* :func:`track_stage` runs ``fn()`` inside an MLflow run tagged ``stage=<name>``: params are the
  flattened resolved config, the config YAML is an artifact, inputs are logged as MLflow datasets
  with their content hash, and the returned :class:`~pipeline.types.StageResult`'s metrics,
  artifacts and tags are logged. A failing stage marks its run FAILED with the reason and re-raises.
* :class:`MlflowLogger` is the :class:`~pipeline.types.MetricLogger` handed to long stages.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from pipeline.config import flatten, to_yaml
from pipeline.types import InputDataset, StageResult

__all__ = [
    "DEFAULT_EXPERIMENT",
    "EXPERIMENT_KIND_TAG",
    "EXPERIMENT_KIND",
    "runs_page",
    "tag_experiments",
    "default_tracking_uri",
    "setup_tracking",
    "track_stage",
    "parent_run",
    "MlflowLogger",
]

DEFAULT_EXPERIMENT = "bondiff"
#: MLflow 3 opens an experiment without this tag in its GenAI view (traces, prompts); with it, in the
#: classic runs view (metrics, parameters, artifacts), which is what a bondiff experiment holds
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def default_tracking_uri(workdir: str | Path | None = None) -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else a SQLite store in ``workdir`` (default: cwd)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    root = Path(workdir or os.getcwd()).resolve()
    return f"sqlite:///{root / 'mlflow.db'}"


def default_artifact_root(workdir: str | Path | None = None, tracking_uri: str | None = None) -> str:
    """``mlartifacts/`` next to a SQLite store's file (so a store elsewhere never fills the current
    directory with artifacts), else under ``workdir`` (default: the current directory)."""
    if tracking_uri and tracking_uri.startswith("sqlite:///") and tracking_uri != "sqlite:///:memory:":
        return (Path(tracking_uri[len("sqlite:///") :]).resolve().parent / "mlartifacts").as_uri()
    root = Path(workdir or os.getcwd()).resolve()
    return (root / "mlartifacts").as_uri()


def setup_tracking(
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    workdir: str | Path | None = None,
) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns the experiment id."""
    import logging

    import mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    uri = tracking_uri or default_tracking_uri(workdir)
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        artifact_location = default_artifact_root(workdir, uri) if uri.startswith("sqlite:") else None
        exp_id = mlflow.create_experiment(experiment, artifact_location=artifact_location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    else:
        exp_id = exp.experiment_id
        if EXPERIMENT_KIND_TAG not in exp.tags:
            mlflow.tracking.MlflowClient().set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


class MlflowLogger:
    """MetricLogger writing to the active MLflow run (batched, so per-step logging stays cheap)."""

    def __init__(self, run_id: str | None = None):
        import mlflow

        self._client = mlflow.tracking.MlflowClient()
        self._run_id = run_id or mlflow.active_run().info.run_id
        self.last_step: dict[str, int] = {}  # per metric: the last step of its curve

    @property
    def run_id(self) -> str:
        return self._run_id

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        batch = [Metric(k, float(v), ts, int(step or 0)) for k, v in metrics.items() if v is not None]
        for m in batch:
            self.last_step[m.key] = max(m.step, self.last_step.get(m.key, m.step))
        if batch:
            self._client.log_batch(self._run_id, metrics=batch)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        p = Path(path)
        if p.is_dir():
            self._client.log_artifacts(self._run_id, str(p), artifact_path)
        else:
            self._client.log_artifact(self._run_id, str(p), artifact_path)


def _dataset_source(uri: str) -> Any:
    """The MLflow dataset source of a path or URI: a local path is a ``local`` source (``FileSystemDatasetSource``
    itself is abstract); anything else (``https://…``, ``s3://…``) is resolved by MLflow's registry."""
    import json

    from mlflow.data.dataset_source_registry import get_dataset_source_from_json, resolve_dataset_source

    if "://" in uri:
        return resolve_dataset_source(uri)
    return get_dataset_source_from_json(json.dumps({"uri": str(Path(uri).resolve())}), "local")


def _log_inputs(inputs: list[InputDataset]) -> None:
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    for ds in inputs:
        try:
            mlflow.log_input(MetaDataset(source=_dataset_source(str(ds.path)), name=ds.name, digest=ds.digest), context=ds.context)
        except Exception as exc:  # dataset logging is metadata: record why it failed, never hide it
            mlflow.set_tag(f"input_log_error.{ds.name}", str(exc)[:500])
        mlflow.set_tag(f"input.{ds.name}.digest", ds.digest)


def _log_result(result: StageResult, logger: MlflowLogger | None = None) -> None:
    import mlflow

    if result.metrics:
        # a summary metric that is also a curve (loss, val_loss, ...) goes at the curve's last step:
        # at step 0 (MLflow's default) it would put the final value at the start of the curve
        last = logger.last_step if logger is not None else {}
        by_step: dict[int, dict[str, float]] = {}
        for k, v in result.metrics.items():
            by_step.setdefault(last.get(k, 0), {})[k] = float(v)
        for step, values in sorted(by_step.items()):
            mlflow.log_metrics(values, step=step)
    tags = dict(result.tags)
    tags["reused"] = str(result.reused).lower()
    for k, p in result.outputs.items():
        tags[f"output.{k}"] = str(p)
    mlflow.set_tags(tags)
    _log_inputs(result.inputs)
    for art in result.artifacts:
        p = Path(art)
        if p.is_dir():
            mlflow.log_artifacts(str(p), artifact_path=p.name)
        elif p.is_file():
            mlflow.log_artifact(str(p))


@contextlib.contextmanager
def parent_run(name: str, config: Any = None, tags: dict[str, str] | None = None, **setup: Any) -> Iterator[Any]:
    """A parent run for ``bondiff run``; stage runs started inside are nested children."""
    import mlflow

    setup_tracking(**setup)
    with mlflow.start_run(run_name=name, tags={"kind": "pipeline", **(tags or {})}) as run:
        if config is not None:
            _log_config(config)
        try:
            yield run
        except BaseException as exc:
            mlflow.set_tag("failure_reason", f"{type(exc).__name__}: {exc}"[:5000])
            raise


def _log_config(config: Any) -> None:
    import mlflow

    params = flatten(config)
    # MLflow caps param values at 6000 chars; keep the full text in the YAML artifact.
    items = list(params.items())
    for i in range(0, len(items), 100):
        mlflow.log_params({k: str(v)[:6000] for k, v in items[i : i + 100]})
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "resolved_config.yaml"
        p.write_text(to_yaml(config))
        mlflow.log_artifact(str(p))


def track_stage(
    stage: str,
    config: Any,
    fn: Callable[..., StageResult],
    *,
    lineage: dict[str, str] | None = None,
    run_name: str | None = None,
    pass_logger: bool = False,
    **setup: Any,
) -> tuple[StageResult, str]:
    """Run ``fn`` (or ``fn(logger)`` when ``pass_logger``) inside an MLflow run; returns (result, run_id).

    Nested under the active run if there is one (``bondiff run``), else a top-level run.
    ``lineage`` maps upstream stage names to their run ids (tagged ``upstream.<stage>``).
    """
    import mlflow

    if mlflow.active_run() is None:
        setup_tracking(**setup)
    nested = mlflow.active_run() is not None
    tags = {"stage": stage}
    for up, rid in (lineage or {}).items():
        tags[f"upstream.{up}"] = rid
    with mlflow.start_run(run_name=run_name or stage, nested=nested, tags=tags) as run:
        _log_config(config)
        t0 = time.perf_counter()
        logger = MlflowLogger(run.info.run_id) if pass_logger else None
        try:
            result = fn(logger) if pass_logger else fn()
        except BaseException as exc:
            mlflow.set_tag("failure_reason", f"{type(exc).__name__}: {exc}"[:5000])
            mlflow.set_tag("failure_traceback", traceback.format_exc()[-5000:])
            mlflow.end_run(status="FAILED")
            raise
        mlflow.log_metric("stage_seconds", time.perf_counter() - t0)
        _log_result(result, logger)
        return result, run.info.run_id


def runs_page(base_url: str, experiment_id: str | None = None, run_id: str | None = None) -> str:
    """The UI address of an experiment's runs (MLflow 3's machine-learning view) or of one run."""
    base = base_url.rstrip("/")
    if not experiment_id:
        return base
    if run_id:
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def tag_experiments(tracking_uri: str) -> list[tuple[str, str]]:
    """Give every experiment of the store without an ``mlflow.experimentKind`` the ML kind (older
    stores too); returns ``(experiment id, name)`` of the active experiments."""
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri)
    out = []
    for exp in client.search_experiments():
        if EXPERIMENT_KIND_TAG not in exp.tags:
            client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        out.append((exp.experiment_id, exp.name))
    return out
