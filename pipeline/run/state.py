"""The chain's content-hash cache: which stage outputs exist for which inputs + config.

``<workdir>/pipeline_state.json`` maps ``stage -> key -> StageRecord``. A key is the hash of the
stage's resolved config and the content hashes of everything it reads (upstream outputs, input
files), so a record is reusable exactly when nothing it depends on changed; outputs live in
``<workdir>/<stage>/<key>/`` and are checked against their recorded content hash before reuse.
The file is rewritten atomically (temp file + rename) after every stage, so a failed or killed
run never loses the records of the stages that finished.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.atomic import write_file_atomic
from pipeline.hashing import path_hash

__all__ = ["StageRecord", "RunState", "STATE_FILE", "hash_outputs"]

STATE_FILE = "pipeline_state.json"
STATE_VERSION = 1


@dataclass
class StageRecord:
    """One finished stage: its cache key, output paths with content hashes, and the MLflow run that made them."""

    stage: str
    key: str
    outputs: dict[str, str] = field(default_factory=dict)
    output_hashes: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None  # the run that produced the outputs (lineage points here)
    reused: bool = False  # True when this `bondiff run` took the outputs from the cache
    metrics: dict[str, float] = field(default_factory=dict)
    finished_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StageRecord":
        return cls(**data)

    def path(self, name: str) -> Path:
        """The output called ``name`` (KeyError naming the stage when it has none)."""
        try:
            return Path(self.outputs[name])
        except KeyError:
            raise KeyError(f"stage {self.stage!r} has no output {name!r} (has: {sorted(self.outputs)})") from None

    def outputs_intact(self) -> bool:
        """Every output still exists with the content hash recorded when it was made."""
        return all(
            Path(p).exists() and path_hash(p) == self.output_hashes.get(k) for k, p in self.outputs.items()
        )


def hash_outputs(outputs: dict[str, Any]) -> dict[str, str]:
    return {k: path_hash(p) for k, p in outputs.items()}


class RunState:
    """Load/save the records of one workdir. Not safe for two concurrent runs on one workdir."""

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir)
        self.path = self.workdir / STATE_FILE
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.path} is not valid JSON ({exc}); delete it to start afresh") from None
            if data.get("version") == STATE_VERSION:
                self._records = data.get("stages", {})

    def get(self, stage: str, key: str) -> StageRecord | None:
        raw = self._records.get(stage, {}).get(key)
        return StageRecord.from_json(raw) if raw else None

    def put(self, record: StageRecord) -> None:
        stored = StageRecord.from_json(record.to_json())
        stored.reused = False
        stored.finished_at = stored.finished_at or time.time()
        self._records.setdefault(record.stage, {})[record.key] = stored.to_json()
        self.save()

    def save(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_file_atomic(self.path, json.dumps({"version": STATE_VERSION, "stages": self._records}, indent=1, sort_keys=True))
