"""``bondiff build-data --pack``: add conformer datasets as write-once parts of a packed training set.

Each input dataset (a QM9 ingest, a drug-like shard, ...) becomes one compressed part
(:mod:`pipeline.data.packed`) of the directory ``out_dir``; parts already there are never
rewritten, and an input whose ``dataset_hash`` is already packed is skipped, so the set grows
shard by shard across sessions. Before packing, a molecule already in an earlier part (same
canonical SMILES) or identical to a benchmark reference molecule (``exclusion``) is dropped,
and the manifest says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from pipeline.builder.config import ExclusionConfig
from pipeline.builder.exclusion import load_exclusion
from pipeline.builder.screen import screen
from pipeline.hashing import combine_hashes
from pipeline.types import InputDataset, StageError, StageResult

__all__ = ["pack_datasets"]

_SOURCE_KEYS = ("source", "stage", "name", "recipe", "config", "inputs", "timing", "conformer_stats", "splits", "counts")


def _part_name(ds, used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", ds.root.resolve().name).strip("._") or "part"
    name = f"{stem}-{ds.digest[:12] or 'nohash'}.npz"
    if name in used:
        raise StageError(f"pack: part file {name} is already in the packed set")
    return name


def _source_info(ds) -> dict[str, Any]:
    """What the part came from: the source dataset's hash and the parts of its manifest that say how it was made."""
    m = ds.manifest
    info: dict[str, Any] = {"path": str(ds.root.resolve()), "dataset_hash": ds.digest}
    info.update({k: m[k] for k in _SOURCE_KEYS if k in m})
    info["errors"] = len(m.get("errors", []))
    if "excluded" in m:
        info["excluded"] = m["excluded"]
    return info


def _totals(parts: list[dict]) -> tuple[dict, dict]:
    counts = {k: sum(p[k] for p in parts) for k in ("molecules", "conformers", "atoms")}
    counts["errors"] = 0
    splits: dict[str, int] = {}
    for p in parts:
        for s, n in p["splits"].items():
            splits[s] = splits.get(s, 0) + n
    return counts, splits


def pack_datasets(inputs: Sequence[str | Path], out_dir: str | Path, exclusion: ExclusionConfig | None = None) -> StageResult:
    """Add ``inputs`` as new parts of the packed set ``out_dir`` (created when missing)."""
    from pipeline.data import ConformerDataset
    from pipeline.data.packed import FORMAT, FORMAT_VERSION, COORD_UNIT_A, is_packed, pack_part, write_manifest
    from pipeline.data.dataset import SCHEMA_VERSION

    if not inputs:
        raise StageError("pack: no input datasets")
    out_dir = Path(out_dir)
    parts: list[dict] = []
    seen: set[str] = set()
    if (out_dir / "manifest.json").is_file():
        current = ConformerDataset(out_dir)  # checks every part's hash
        if not is_packed(current.manifest):
            raise StageError(f"pack: {out_dir} is a plain dataset, not a packed set; choose another --out")
        parts = list(current.manifest["parts"])
        seen = {e.smiles for e in current.entries}
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise StageError(f"pack: refusing to write into {out_dir}: it exists and is not a packed set")
    ex_cfg = exclusion or ExclusionConfig()
    ex = load_exclusion(ex_cfg.reference_dirs, ex_cfg.require_one)
    if ex.errors:
        raise StageError(f"pack: cannot exclude unreadable reference molecules: {ex.errors[0]}")
    known = {p["source"]["dataset_hash"]: p["file"] for p in parts}
    used = {p["file"] for p in parts}
    added, skipped, in_sets = [], [], []
    for path in inputs:
        ds = ConformerDataset(path)
        if is_packed(ds.manifest):
            raise StageError(f"pack: {path} is itself a packed set; pack the datasets it was made from")
        if ds.digest and ds.digest in known:
            skipped.append(f"{path} (already packed as {known[ds.digest]})")
            continue
        picked = screen(ds, seen, ex, str(path))
        if not picked.keep:
            skipped.append(f"{path} (no molecule left after duplicates and exclusion)")
            continue
        name = _part_name(ds, used)
        info = pack_part(ds, picked.keep, out_dir / name)
        info["dropped"] = dict(picked.dropped)
        info["excluded"] = picked.excluded
        info["exclusion"] = ex.summary()  # the reference sets this part was screened against
        info["source"] = _source_info(ds)
        parts.append(info)
        used.add(name)
        known[ds.digest] = name
        added.append(info)
        in_sets.append(InputDataset(Path(path).name, str(Path(path).resolve()), ds.digest, "training"))
    if not parts:
        raise StageError("pack: nothing packed")
    counts, splits = _totals(parts)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "coord_unit_A": COORD_UNIT_A,
        "dataset_hash": combine_hashes(p["sha256"] for p in parts),
        "counts": counts,
        "splits": splits,
        "parts": parts,
        "errors": [],
    }
    if added:
        write_manifest(out_dir, manifest)
    packed = ConformerDataset(out_dir)  # read back: hashes and consistency checked
    return StageResult(
        stage="pack-data",
        outputs={"dataset": out_dir},
        metrics={
            "molecules": float(len(packed)),
            "conformers": float(packed.n_conformers),
            "parts": float(len(parts)),
            "parts_added": float(len(added)),
            "bytes": float(sum(p["bytes"] for p in parts)),
            "duplicates": float(sum(p["dropped"].get("duplicate", 0) for p in added)),
            "excluded": float(sum(len(p["excluded"]) for p in added)),
        },
        artifacts=[out_dir / "manifest.json"],
        inputs=in_sets,
        tags={"dataset_hash": packed.digest},
        extra={"added": [p["file"] for p in added], "skipped": skipped},
    )
