"""Merge conformer datasets (e.g. QM9 from ingest + the built drug-like set) into one training set.

``bondiff train`` reads one dataset; this concatenates several, keeping every molecule's split,
source and energies, dropping later duplicates (same canonical SMILES) and, once more, anything
identical to a benchmark reference molecule, so the merged set keeps the exclusion guarantee
whatever its inputs were.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.builder.config import ExclusionConfig
from pipeline.builder.exclusion import load_exclusion
from pipeline.builder.screen import screen
from pipeline.types import InputDataset, StageError, StageResult

__all__ = ["merge_datasets"]


def merge_datasets(inputs: Sequence[str | Path], out_dir: str | Path, exclusion: ExclusionConfig | None = None) -> StageResult:
    """Write the union of ``inputs`` to ``out_dir`` (atomically); the manifest lists the parts."""
    from pipeline.data import ConformerDataset, DatasetWriter, MoleculeEntry

    if not inputs:
        raise StageError("merge: no input datasets")
    ex_cfg = exclusion or ExclusionConfig()
    ex = load_exclusion(ex_cfg.reference_dirs, ex_cfg.require_one)
    writer = DatasetWriter(out_dir)
    seen: set[str] = set()
    dropped: Counter = Counter()
    excluded: list[dict] = []
    parts, in_sets = [], []
    for path in inputs:
        ds = ConformerDataset(path)
        picked = screen(ds, seen, ex, str(path))
        dropped.update(picked.dropped)
        excluded.extend(picked.excluded)
        for i in picked.keep:
            view = ds.molecule(i)
            e = view.entry
            entry = MoleculeEntry(e.name, e.smiles, e.mapped_smiles, e.charge, e.source, e.split, extra=dict(e.extra))
            writer.add(entry, view.atomic_numbers, view.formal_charges, view.bonds, np.asarray(view.coords), np.asarray(view.energies), center=False)
        parts.append({"path": str(Path(path).resolve()), "dataset_hash": ds.digest, "molecules": len(ds), "kept": len(picked.keep),
                      "recipe": ds.manifest.get("recipe")})
        in_sets.append(InputDataset(Path(path).name, str(Path(path).resolve()), ds.digest, "training"))
    if len(writer) == 0:
        raise StageError("merge: no molecule left")
    manifest = {
        "source": "merge",
        "inputs": [{"path": p["path"], "hash": p["dataset_hash"]} for p in parts],
        "recipe": {"merged_from": parts, "dropped": dict(dropped), "exclusion": ex.summary()},
        "excluded": excluded,
    }
    writer.commit(manifest)
    merged = ConformerDataset(out_dir)
    return StageResult(
        stage="merge-data",
        outputs={"dataset": Path(out_dir)},
        metrics={"molecules": float(len(merged)), "conformers": float(merged.n_conformers),
                 "duplicates": float(dropped["duplicate"]), "excluded": float(len(excluded))},
        artifacts=[Path(out_dir) / "manifest.json"],
        inputs=in_sets,
        tags={"dataset_hash": merged.digest},
    )
