"""Which molecules of a dataset may join a training set: no duplicate of one already in, nothing
identical to a benchmark reference molecule (one home for the rule that merge and pack share)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pipeline.builder.exclusion import ExclusionSet

__all__ = ["Screened", "screen"]


@dataclass
class Screened:
    keep: list[int] = field(default_factory=list)  # molecule indices, in dataset order
    dropped: Counter = field(default_factory=Counter)  # reason -> count ("duplicate")
    excluded: list[dict] = field(default_factory=list)  # {dataset, name, smiles, reference}


def screen(ds, seen: set[str], exclusion: ExclusionSet, label: str) -> Screened:
    """Indices of ``ds`` molecules to keep; adds their canonical SMILES to ``seen``."""
    from rdkit import Chem

    out = Screened()
    for i, e in enumerate(ds.entries):
        if e.smiles in seen:
            out.dropped["duplicate"] += 1
            continue
        mol = Chem.MolFromSmiles(e.smiles)
        ref = exclusion.match(mol) if mol is not None else None
        if ref is not None:
            out.excluded.append({"dataset": label, "name": e.name, "smiles": e.smiles, "reference": ref})
            continue
        seen.add(e.smiles)
        out.keep.append(i)
    return out
