"""What a model's ``spec.json`` says about its training inputs: names and content hashes, never a path.

A model travels (shipped inside the package, registered in MLflow, copied to another machine), so its
``info`` names the data and the prior in terms that mean the same everywhere:

* ``dataset``: the dataset directory's name; ``dataset_hash``: its content hash (``manifest.json``);
* ``dataset_recipe``: how it was made: ``made_by`` (the stage or format that wrote it: ``ingest``,
  ``build-data``, ``merge``, ``bondiff-packed``), ``name`` (a builder recipe's name), ``inputs`` (the
  names of the files, folders or parts it was made from) and ``molecules``;
* ``prior``: the prior directory's name; ``prior_hash``: its content key (``key`` in its
  ``prior.json``: a hash of the dataset hash and the prior config), or the file's content hash
  for a ``prior.json`` without one.

:func:`without_machine_paths` does the same for the records packaged beside a model (the dataset's
manifest, the prior's ``prior.json``): every absolute path becomes its last component.

Where the inputs lived on the training machine is the train output's business (``inputs.json`` beside
``model/``), read only when that output is packaged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["INPUTS_FILE", "training_inputs", "dataset_recipe", "portable_info", "prior_hash", "without_machine_paths"]

INPUTS_FILE = "inputs.json"  # in a train output: {"dataset": path, "prior": path} on the training machine
_PATH_KEYS = ("dataset", "prior")


def dataset_recipe(manifest: dict[str, Any]) -> dict[str, Any]:
    """How a dataset was made, from its manifest, in relative names only."""
    made_by = next((manifest[k] for k in ("stage", "source", "format") if isinstance(manifest.get(k), str)), "unknown")
    recipe: dict[str, Any] = {"made_by": made_by}
    if isinstance(manifest.get("name"), str):
        recipe["name"] = manifest["name"]
    inputs = [Path(str(i["path"])).name for i in manifest.get("inputs") or [] if isinstance(i, dict) and i.get("path")]
    inputs = inputs or [str(p["file"]) for p in manifest.get("parts") or [] if isinstance(p, dict) and p.get("file")]
    if inputs:
        recipe["inputs"] = inputs
    molecules = (manifest.get("counts") or {}).get("molecules")
    if molecules is not None:
        recipe["molecules"] = int(molecules)
    return recipe


def prior_hash(prior_json: Path) -> str:
    """The prior's content key (``key`` in ``prior.json``), else the file's content hash; "" without a file."""
    from pipeline.hashing import file_hash

    if not prior_json.is_file():
        return ""
    return str(_read_json(prior_json).get("key") or file_hash(prior_json))


def training_inputs(dataset_dir: str | Path, prior_dir: str | Path) -> dict[str, Any]:
    """The ``info`` entries naming a training run's dataset and prior (see the module docstring)."""
    dataset_dir, prior_dir = Path(dataset_dir), Path(prior_dir)
    manifest = _read_json(dataset_dir / "manifest.json")
    return {
        "dataset": dataset_dir.resolve().name,
        "dataset_hash": str(manifest.get("dataset_hash", "")),
        "dataset_recipe": dataset_recipe(manifest),
        "prior": prior_dir.resolve().name,
        "prior_hash": prior_hash(prior_dir / "prior.json"),
    }


def without_machine_paths(obj: Any) -> Any:
    """``obj`` (JSON data) with every absolute path string replaced by its last component."""
    if isinstance(obj, dict):
        return {k: without_machine_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_machine_paths(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("/") and len(obj) > 1:
        return Path(obj).name
    return obj


def portable_info(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with its machine paths replaced by names and hashes (a spec written by an older
    version recorded ``dataset`` and ``prior`` as absolute paths); read from those paths while they exist."""
    paths = {k: Path(str(info[k])) for k in _PATH_KEYS if isinstance(info.get(k), str) and Path(str(info[k])).is_absolute()}
    if not paths:
        return dict(info)
    out = dict(info)
    if len(paths) == 2 and (paths["dataset"] / "manifest.json").is_file():
        out.update(training_inputs(paths["dataset"], paths["prior"]))
        out["dataset_hash"] = info.get("dataset_hash") or out["dataset_hash"]
    else:
        out.update({k: p.name for k, p in paths.items()})
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
