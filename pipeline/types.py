"""Types shared by stages, the runner and tracking.

Stages are pure functions ``run_<stage>(config, inputs, ...) -> StageResult``. They never import
MLflow: whatever should be tracked is *returned* (metrics, artifacts, input datasets, tags), and
long-running stages accept a :class:`MetricLogger` for step-wise curves. ``pipeline.tracking``
turns a ``StageResult`` into an MLflow run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["RecordError", "InputDataset", "StageResult", "MetricLogger", "NullLogger", "StageError"]


@dataclass(frozen=True)
class RecordError:
    """One bad input record: which file, which record (1-based, or a name), and why."""

    file: str
    record: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "record": self.record, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.file} [record {self.record}]: {self.reason}"


@dataclass(frozen=True)
class InputDataset:
    """An input to log with ``mlflow.log_input``: a name, where it lives, its content hash."""

    name: str
    path: str
    digest: str
    context: str = "input"  # "training", "validation", "input", ...


@dataclass
class StageResult:
    """What a stage hands back. ``outputs`` are the paths the next stage consumes."""

    stage: str
    outputs: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)  # files or directories to log
    inputs: list[InputDataset] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    reused: bool = False  # True when a content-hash cache hit made the stage a no-op
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class MetricLogger(Protocol):
    """Sink for step-wise metrics; MLflow implements it in ``pipeline.tracking``."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...


class NullLogger:
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        return None

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        return None


class StageError(RuntimeError):
    """A stage could not produce any output (e.g. every input record was bad).

    ``errors``: the per-record errors behind it, so the caller can show every one of them.
    """

    def __init__(self, message: str = "", errors: "list[RecordError] | tuple[RecordError, ...]" = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)
