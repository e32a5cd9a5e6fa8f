"""The ingest stage: input paths -> a conformer dataset directory (docs/design.md §3) + report.

``run_ingest(cfg, paths, out_dir, force=False) -> StageResult``:

1. hash the inputs (content, never paths) and the output-relevant config into a cache key; an
   existing dataset in ``out_dir`` with the same key is reused unless ``force``;
2. read every record (:mod:`.readers`), perceive bonds in parallel (:mod:`.parallel`),
   group conformers per molecule (:mod:`.grouping`), assign splits (:mod:`.splits`);
3. write atomically with :class:`~pipeline.data.dataset.DatasetWriter`; the manifest lists
   counts, inputs with hashes, config hash, every per-record error and every filtered record.

A run without a single good record raises :class:`~pipeline.types.StageError` (one line) and
writes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from pipeline.config import config_hash
from pipeline.hashing import combine_hashes, file_hash, path_hash
from pipeline.io_paths import file_problem
from pipeline.ingest.config import IngestConfig
from pipeline.ingest.grouping import Group, Grouper
from pipeline.ingest.parallel import perceive_all
from pipeline.ingest.perception import FilteredRecord, PerceptionOptions
from pipeline.ingest.readers import input_kind, iter_inputs
from pipeline.ingest.records import Conformer
from pipeline.ingest.splits import split_of
from pipeline.types import InputDataset, RecordError, StageError, StageResult

__all__ = ["run_ingest", "check_ingest_paths", "INGEST_VERSION", "cache_key", "describe_inputs"]

INGEST_VERSION = 1  # bump when the same inputs + config would give a different dataset
_RUNTIME_KEYS = {"workers", "chunk_size", "serial_below", "smiles_templates"}  # do not change the output (templates: by content)


def describe_inputs(paths: Sequence[Path], cfg: IngestConfig) -> list[InputDataset]:
    """One :class:`InputDataset` per input with its content hash ("missing" for a missing path)."""
    out = []
    for p in paths:
        kind = input_kind(p)
        digest = kind if kind in ("missing", "unreadable") else path_hash(p)
        out.append(InputDataset(name=p.name or str(p), path=str(p), digest=digest, context=kind))
    if cfg.smiles_templates is not None:
        t = Path(cfg.smiles_templates)
        out.append(InputDataset(name=t.name, path=str(t), digest="missing" if file_problem(t) else file_hash(t), context="templates"))
    if cfg.qm9:
        from pipeline.ingest.qm9pack import content_hash, csv_files

        out.append(InputDataset(name="qm9pack", path=str(csv_files()[0].parent), digest=content_hash(), context="qm9pack"))
    return out


def cache_key(cfg: IngestConfig, inputs: Sequence[InputDataset]) -> str:
    from pipeline.data.dataset import SCHEMA_VERSION

    relevant = cfg.model_dump(mode="json", exclude=_RUNTIME_KEYS)
    return combine_hashes([f"schema{SCHEMA_VERSION}", f"ingest{INGEST_VERSION}", config_hash(relevant)] + [f"{i.context}:{i.digest}" for i in inputs])


def _cached(out_dir: Path, key: str) -> dict[str, Any] | None:
    import json

    mf = out_dir / "manifest.json"
    if not mf.is_file():
        return None
    try:
        manifest = json.loads(mf.read_text())
    except ValueError:
        return None
    return manifest if manifest.get("cache_key") == key else None


def _summary(manifest: dict[str, Any], reused: bool) -> str:
    c = manifest["counts"]
    return (
        f"ingest{' (reused cached dataset)' if reused else ''}: {c['molecules']} molecules, {c['conformers']} conformers, "
        f"{c['atoms']} atoms, {c['errors']} errors, {c.get('filtered', 0)} filtered "
        f"(splits {manifest.get('splits', {})})"
    )


def _result(out_dir: Path, manifest: dict[str, Any], inputs: list[InputDataset], errors: list[RecordError], reused: bool) -> StageResult:
    c = manifest["counts"]
    metrics = {k: float(c[k]) for k in ("molecules", "conformers", "atoms", "errors", "filtered", "records") if k in c}
    for k in ("seconds", "records_per_s", "molecules_per_s"):
        if k in manifest.get("timing", {}):
            metrics[k] = float(manifest["timing"][k])
    return StageResult(
        stage="ingest",
        outputs={"dataset": out_dir},
        metrics=metrics,
        artifacts=[out_dir / "manifest.json"],
        inputs=inputs,
        tags={"dataset_hash": str(manifest.get("dataset_hash", "")), "cache_key": str(manifest.get("cache_key", ""))},
        errors=errors,
        reused=reused,
        extra={"manifest": manifest, "summary": _summary(manifest, reused)},
    )


def _entry(g: Group, name: str, cfg: IngestConfig):
    from pipeline.data.dataset import MoleculeEntry

    first: Conformer = g.first
    extra: dict[str, Any] = {"conformer_origins": g.origins}
    if len(g.names) > 1:
        extra["aliases"] = g.names[1:]
    extra.update(first.extra)
    return MoleculeEntry(
        name=name,
        smiles=first.smiles,
        mapped_smiles=first.mapped_smiles,
        charge=first.charge,
        source=",".join(g.sources),
        split=split_of(first.smiles, cfg.splits.train, cfg.splits.val, cfg.split_salt),
        extra=extra,
    )


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 1
    while out in used:
        k += 1
        out = f"{name}_{k}"
    used.add(out)
    return out


def check_ingest_paths(cfg: IngestConfig, paths: Sequence[Path], out_dir: Path) -> None:
    """Before any work: the output folder may be written (a new/empty folder or an older dataset,
    no input inside it) and a SMILES template file, when given, is readable; else :class:`StageError`."""
    from pipeline.io_paths import OutputPathError, check_output_dir

    try:
        check_output_dir(out_dir, "manifest.json", inputs=[*paths, cfg.smiles_templates], what="dataset folder")
    except OutputPathError as exc:
        raise StageError(f"ingest: {exc}") from None
    if cfg.smiles_templates is not None:
        why = file_problem(cfg.smiles_templates)
        if why:
            raise StageError(f"ingest: SMILES template file {cfg.smiles_templates}: {why}")


def run_ingest(cfg: IngestConfig, paths: Sequence[Path], out_dir: Path, force: bool = False) -> StageResult:
    """Read ``paths`` (and QM9 when ``cfg.qm9``) into a dataset at ``out_dir``; see the module doc."""
    import numpy as np

    from pipeline.data.dataset import DatasetWriter

    t0 = time.perf_counter()
    paths = [Path(p) for p in paths]
    out_dir = Path(out_dir)
    if not paths and not cfg.qm9:
        raise StageError("ingest: no input given (pass paths, or enable qm9)")
    check_ingest_paths(cfg, paths, out_dir)
    inputs = describe_inputs(paths, cfg)
    key = cache_key(cfg, inputs)
    if not force:
        cached = _cached(out_dir, key)
        if cached is not None:
            errs = [RecordError(**e) for e in cached.get("errors", [])]
            return _result(out_dir, cached, inputs, errs, reused=True)

    grouper = Grouper()
    errors: list[RecordError] = []
    filtered: list[RecordError] = []
    notes: Counter[str] = Counter()
    n_records = 0
    opts = PerceptionOptions.from_config(cfg)
    for res in perceive_all(iter_inputs(paths, cfg), opts, cfg.workers, cfg.chunk_size, cfg.serial_below):
        n_records += 1
        if isinstance(res, FilteredRecord):
            filtered.append(res)
        elif isinstance(res, RecordError):
            errors.append(res)
        else:
            notes.update(res.notes)
            grouper.add(res)
    errors.extend(grouper.errors)
    if not len(grouper):
        first = f"; first: {errors[0]}" if errors else (f"; first filtered: {filtered[0]}" if filtered else "")
        raise StageError(f"ingest: no good record in {n_records} records ({len(errors)} errors, {len(filtered)} filtered){first}",
                         errors + filtered)

    writer = DatasetWriter(out_dir)
    used: set[str] = set()
    for g in grouper:
        writer.add(_entry(g, _unique(g.names[0], used), cfg), g.first.atomic_numbers, g.first.formal_charges,
                   g.first.bonds, np.stack(g.coords), np.asarray(g.energies, dtype=np.float64))
    seconds = time.perf_counter() - t0
    n_conf = sum(len(g.coords) for g in grouper)
    manifest: dict[str, Any] = {
        "stage": "ingest",
        "ingest_version": INGEST_VERSION,
        "cache_key": key,
        "config_hash": config_hash(cfg),
        "config": cfg.model_dump(mode="json"),
        "inputs": [{"path": i.path, "kind": i.context, "hash": i.digest} for i in inputs],
        "counts": {"records": n_records, "filtered": len(filtered), "conformers_by_note": dict(notes)},
        "timing": {"seconds": round(seconds, 3), "records_per_s": round(n_records / seconds, 1), "molecules_per_s": round(len(grouper) / seconds, 1)},
        "errors": [e.as_dict() for e in errors],
        "filtered": [e.as_dict() for e in filtered],
    }
    writer.commit(manifest)
    import json

    written = json.loads((out_dir / "manifest.json").read_text())
    assert written["counts"]["conformers"] == n_conf
    return _result(out_dir, written, inputs, errors, reused=False)
