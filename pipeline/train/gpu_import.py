"""The way back from a lent GPU: merge what ``pipeline.train.gpu_job`` returned into the training folder.

``import_gpu_run(returned, train_dir)`` (``bondiff gpu import``) checks that the returned run resumed the
checkpoint that is still the training folder's (same SHA-256 as when the bundle was packed: a CPU stretch
that ran meanwhile is never overwritten) with the same model spec, then, each file atomically:

* ``checkpoints/last.pt``: the returned full state (``bondiff train --resume`` continues from it exactly;
  the epoch position is rescaled to the CPU atom budget by the trainer);
* ``metrics.csv``: its rows up to the resumed step, then the GPU run's rows (``gpu_hours`` marks them);
* ``train_summary.json``: steps, ``gpu_hours`` (all GPU stretches), ``gpu_stretches`` (device, steps, seconds),
  the GPU run's final metrics; ``model/``: the EMA model; ``training_curves.png`` redrawn.

The caller (``bondiff gpu import``, pipeline/commands/gpu.py) logs the GPU run to MLflow unless told not to:
the training stage itself imports no tracking (docs/design.md, layering).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pipeline.atomic import write_file_atomic
from pipeline.data.packed import sha256_file
from pipeline.train.bundle import BundleError

__all__ = ["import_gpu_run"]


def _rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [r for r in csv.reader(fh)][1:]


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["step", "key", "value"])
            w.writerows(rows)

    write_file_atomic(path, write)


def _spec_without_info(spec_json: str) -> dict:
    spec = json.loads(spec_json)
    spec.pop("info", None)
    return spec


def import_gpu_run(returned: Path, train_dir: Path) -> dict[str, Any]:
    """Merge ``returned`` (the GPU job's output dir) into ``train_dir``; returns the updated summary."""
    import shutil

    from pipeline.model.io import save_model
    from pipeline.model.precond import build_denoiser
    from pipeline.model.spec import ModelSpec
    from pipeline.train.checkpoint import LAST, load_checkpoint
    from pipeline.train.gpu_job import SUMMARY_FILE
    from pipeline.train.history import CURVES_FILE, HISTORY_FILE, plot_history

    returned, train_dir = Path(returned), Path(train_dir)
    summary_path, ckpt = returned / SUMMARY_FILE, returned / "last.pt"
    for p in (summary_path, ckpt):
        if not p.is_file():
            raise BundleError(f"{returned}: no {p.name}: not the output of a GPU job (or it ended before its first checkpoint)")
    run = json.loads(summary_path.read_text())
    target = train_dir / "checkpoints" / LAST
    if not target.is_file():
        raise BundleError(f"{train_dir}: no checkpoints/{LAST} to continue")
    current = sha256_file(target)
    if current == sha256_file(ckpt):
        raise BundleError(f"{target} already is the GPU run's checkpoint (imported before)")
    if current != run["bundle_checkpoint_sha256"]:
        raise BundleError(
            f"{target} is not the checkpoint the GPU run resumed (it changed since `bondiff gpu pack`, e.g. a CPU stretch "
            "ran): importing would drop that work; keep one of the two"
        )
    state, old = load_checkpoint(ckpt), load_checkpoint(target)
    if _spec_without_info(state["spec"]) != _spec_without_info(old["spec"]):
        raise BundleError(f"{ckpt}: its model spec differs from {target}'s")
    if int(state["step"]) != int(run.get("to_step", -1)):
        raise BundleError(f"{ckpt}: step {state['step']} but {summary_path.name} says {run.get('to_step')}: files of two runs")
    start, end = int(run["from_step"]), int(state["step"])

    write_file_atomic(target, lambda tmp: shutil.copyfile(ckpt, tmp))

    history = train_dir / HISTORY_FILE
    rows = [r for r in _rows(history) if len(r) == 3 and int(r[0]) <= start]
    rows += [r for r in _rows(returned / HISTORY_FILE) if len(r) == 3 and start < int(r[0]) <= end]
    _write_rows(history, rows)

    spec = ModelSpec.model_validate_json(state["spec"])
    spec.info.update({"steps": end})
    model = build_denoiser(spec)
    model.load_state_dict(state["ema"])
    save_model(train_dir / "model", model, spec)

    summary_file = train_dir / "train_summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    summary.update(
        steps=end,
        resumed_from=start,
        cpu_hours=float(state.get("cpu_seconds", 0.0)) / 3600.0,
        gpu_hours=float(state.get("gpu_seconds", 0.0)) / 3600.0,
        gpu_stretches=list(state.get("gpu_stretches", [])),
        stopped_by="gpu " + str(run.get("stopped_by", "killed (last periodic checkpoint)")),
        device=run.get("device", "cuda"),
        metrics=run.get("metrics", {}),
    )
    write_file_atomic(summary_file, json.dumps(summary, indent=2, default=str) + "\n")
    plot_history(history, train_dir / CURVES_FILE, f"bondiff train: {train_dir.name}, {end} steps")
    return {**summary, "gpu_run": run}

