"""Reference conformers for the ensemble metrics: a dataset directory, or a raw reference set.

A raw reference set (hutchison layout: ``molecules.smi``, ``charges.txt``, ``xyz/NAME/*.xyz``) is
turned into a dataset once by the ingest stage (``pipeline.ingest.run_ingest``) under
``cache_dir/references/``; ingest's own content-hash cache makes the next call a no-op, and a
changed reference set is re-ingested. Molecules are looked up by canonical isomeric SMILES (the
dataset's identity), else by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.data.dataset import ConformerDataset
from pipeline.types import RecordError, StageError

__all__ = ["ReferenceSet", "load_reference"]


@dataclass
class ReferenceSet:
    dataset: ConformerDataset
    ingest_errors: list[RecordError] = field(default_factory=list)
    _by_smiles: dict[str, int] = field(default_factory=dict)
    _by_name: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, e in enumerate(self.dataset.entries):
            self._by_smiles.setdefault(e.smiles, i)
            self._by_name.setdefault(e.name, i)

    @property
    def path(self) -> Path:
        return self.dataset.root

    def find(self, smiles: str | None, name: str | None) -> int | None:
        """Index of the reference molecule with this identity (canonical SMILES first, then name)."""
        if smiles:
            from rdkit import Chem

            from pipeline.chem import canonical_smiles

            m = Chem.MolFromSmiles(smiles)
            if m is not None:
                i = self._by_smiles.get(canonical_smiles(m))
                if i is not None:
                    return i
            i = self._by_smiles.get(smiles)
            if i is not None:
                return i
        if name:
            return self._by_name.get(name)
        return None

    def molecule(self, i: int) -> Any:
        """RDKit Mol (hydrogens explicit, stereo from the dataset's SMILES) with all reference conformers."""
        return self.dataset.molecule(i).to_rdkit(conformers=True)

    def name(self, i: int) -> str:
        return self.dataset.entries[i].name

    def mapped_smiles(self, i: int) -> str:
        return self.dataset.entries[i].mapped_smiles


def is_raw_refset(path: Path) -> bool:
    return (path / "molecules.smi").is_file() and (path / "xyz").is_dir()


def load_reference(path: str | Path, cache_dir: str | Path = "bondiff-work/cache") -> ReferenceSet:
    """Open a dataset dir, or ingest a raw reference-set dir into the cache first."""
    p = Path(path)
    if (p / "manifest.json").is_file():
        try:
            return ReferenceSet(ConformerDataset(p))
        except (ValueError, OSError, KeyError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StageError(f"validate: reference {p} is not a readable bondiff dataset ({first})") from None
    if not p.exists():
        raise FileNotFoundError(f"reference not found: {p}")
    if not is_raw_refset(p):
        raise FileNotFoundError(f"{p} is neither a bondiff dataset (manifest.json) nor a reference set (molecules.smi + xyz/)")
    from pipeline.ingest import IngestConfig, run_ingest

    where = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:12]
    out = Path(cache_dir) / "references" / f"{p.name}-{where}"
    try:
        result = run_ingest(IngestConfig(), [p], out)
    except StageError as exc:
        raise StageError(f"reference set {p} could not be ingested: {exc}") from exc
    return ReferenceSet(ConformerDataset(result.outputs.get("dataset", out)), list(result.errors))
