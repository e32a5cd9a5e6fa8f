"""Package a trained model with its record: ``python -m pipeline.model.package TRAIN_OUT DEST``.

``DEST`` (e.g. ``pipeline/resources/model`` for the model bondiff ships) receives

* ``spec.json`` + ``weights.pt`` — the EMA model (what :func:`pipeline.model.io.load_denoiser` loads);
  ``--bf16`` stores floating weights in bfloat16 (half the size; loaded back as float32);
* ``training/``: ``train_summary.json``, ``metrics.csv``, ``training_curves.png``, the prior's
  ``prior.json``, and ``dataset.json`` (counts, splits, content hash and recipe of the training set,
  without the per-record error list); like ``spec.json`` they name files and folders, they do not
  point at the training machine's paths (:mod:`pipeline.model.provenance`);
* ``record.json`` — what the model was trained on and how (dataset hash, prior, steps, final
  metrics, parameter count, file sizes), the file a model card is written from.

Nothing else is copied (no optimiser state, no caches), so a model of a few MB travels in the repo.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

__all__ = ["package_model", "main"]

_TRAINING_FILES = ("train_summary.json", "metrics.csv", "training_curves.png")


def _dataset_doc(dataset_dir: Path) -> dict[str, Any]:
    m = json.loads((dataset_dir / "manifest.json").read_text())
    return {k: m[k] for k in ("schema_version", "dataset_hash", "counts", "splits", "inputs", "recipe", "source") if k in m}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def package_model(train_out: str | Path, dest: str | Path, bf16: bool = False, notes: str | None = None) -> Path:
    """Copy the model of a ``bondiff train`` output dir and its record into ``dest`` (atomically)."""
    import torch

    from pipeline.atomic import write_dir_atomic
    from pipeline.model.io import SPEC_FILE, WEIGHTS_FILE
    from pipeline.model.provenance import INPUTS_FILE, portable_info, without_machine_paths

    src, dest = Path(train_out), Path(dest)
    model_dir = src / "model"
    if not (model_dir / SPEC_FILE).is_file():
        raise FileNotFoundError(f"{model_dir}: no {SPEC_FILE} (is {src} a finished `bondiff train` output?)")
    spec = json.loads((model_dir / SPEC_FILE).read_text())
    info = spec.get("info", {})
    # where the dataset and prior were: the train output's inputs.json (older outputs: paths in the spec)
    where = _read_json(src / INPUTS_FILE) or {k: v for k, v in info.items() if k in ("dataset", "prior") and Path(str(v)).is_absolute()}
    spec["info"] = portable_info(info)  # the packaged spec names its inputs, it does not point at them

    def build(tmp: Path) -> None:
        (tmp / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")
        state = torch.load(model_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        if bf16:
            state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}
        torch.save(state, tmp / WEIGHTS_FILE)
        training = tmp / "training"
        training.mkdir()
        for name in _TRAINING_FILES:
            if (src / name).is_file():
                shutil.copy2(src / name, training / name)
        prior_dir, dataset_dir = Path(str(where.get("prior", ""))), Path(str(where.get("dataset", "")))
        if (prior_dir / "prior.json").is_file():
            (training / "prior.json").write_text(json.dumps(without_machine_paths(_read_json(prior_dir / "prior.json")), indent=2) + "\n")
        if (dataset_dir / "manifest.json").is_file():
            (training / "dataset.json").write_text(json.dumps(without_machine_paths(_dataset_doc(dataset_dir)), indent=2, default=str) + "\n")
        summary = json.loads((src / "train_summary.json").read_text()) if (src / "train_summary.json").is_file() else {}
        record = {
            "dataset_hash": info.get("dataset_hash"),
            "steps": summary.get("steps", info.get("steps")),
            "train_molecules": summary.get("train_molecules"),
            "val_molecules": summary.get("val_molecules"),
            "device": summary.get("device"),
            "final_metrics": summary.get("metrics", {}),
            "parameters": int(sum(v.numel() for v in state.values() if v.is_floating_point())),
            "weights_dtype": "bfloat16" if bf16 else "float32",
            "net": spec.get("net"),
            "prior": spec.get("prior"),
            "notes": notes,
        }
        (tmp / "record.json").write_text(json.dumps(record, indent=2, default=str) + "\n")

    return write_dir_atomic(dest, build)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.model.package", description=__doc__.split("\n\n")[0])
    p.add_argument("train_out", help="output dir of `bondiff train` (holds model/, train_summary.json, ...)")
    p.add_argument("dest", help="destination dir, e.g. pipeline/resources/model")
    p.add_argument("--bf16", action="store_true", help="store floating weights as bfloat16")
    p.add_argument("--notes", default=None, help="free text stored in record.json")
    a = p.parse_args(argv)
    out = package_model(a.train_out, a.dest, a.bf16, a.notes)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"packaged {a.train_out} -> {out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
