"""The conformer dataset: written once (atomically), read many times, never pickled.

Layout of a dataset directory::

    manifest.json          schema_version, counts, inputs (path + hash), config_hash, errors, ...
    molecules.jsonl        one JSON object per molecule (see MoleculeEntry)
    atomic_numbers.npy     int16  [A]      atoms of all molecules, concatenated
    formal_charges.npy     int8   [A]
    atom_offsets.npy       int64  [M+1]    molecule m owns atoms atom_offsets[m]:atom_offsets[m+1]
    bonds.npy              int32  [B, 3]   (i, j, type), i<j local to the molecule;
                                           type = RDKit BondType value (1,2,3 single/double/triple, 12 aromatic)
    bond_offsets.npy       int64  [M+1]
    coords.npy             float32 [C_atoms, 3]  all conformers, concatenated, Å, centred
    conf_offsets.npy       int64  [K+1]    conformer k owns coords rows conf_offsets[k]:conf_offsets[k+1]
    mol_conf_offsets.npy   int64  [M+1]    molecule m owns conformers mol_conf_offsets[m]:mol_conf_offsets[m+1]
    energies.npy           float64 [K]     NaN when unknown (Hartree when known)

Atom order is the same for every conformer of a molecule and equals the order of the atoms in
``mapped_smiles`` (atom map number = index + 1, all hydrogens explicit), so an RDKit ``Mol`` with
stereo and charges can be rebuilt for any molecule without pickles (:meth:`MoleculeView.to_rdkit`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from pipeline.data.packed import is_packed, read_parts

__all__ = ["SCHEMA_VERSION", "MoleculeEntry", "MoleculeView", "ConformerDataset", "DatasetWriter"]

SCHEMA_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass
class MoleculeEntry:
    """One row of ``molecules.jsonl``."""

    name: str
    smiles: str  # canonical isomeric SMILES (implicit hydrogens): the molecule's identity
    mapped_smiles: str  # all-H, atom-mapped (map = index+1): the atom order of the arrays
    charge: int
    source: str
    split: str
    n_atoms: int = 0
    n_conformers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class MoleculeView:
    """Everything about one molecule, as numpy arrays (views into the memory maps where possible)."""

    index: int
    entry: MoleculeEntry
    atomic_numbers: np.ndarray  # [N]
    formal_charges: np.ndarray  # [N]
    bonds: np.ndarray  # [B, 3] (i, j, type)
    coords: np.ndarray  # [K, N, 3]
    energies: np.ndarray  # [K]

    @property
    def n_atoms(self) -> int:
        return int(self.atomic_numbers.shape[0])

    def to_rdkit(self, conformers: bool = True):
        """RDKit ``Mol`` (hydrogens explicit, stereo from the SMILES) in the dataset's atom order."""
        from pipeline.chem import mol_from_mapped_smiles, set_conformers

        mol = mol_from_mapped_smiles(self.entry.mapped_smiles)
        if conformers and self.coords.shape[0]:
            set_conformers(mol, np.asarray(self.coords, dtype=np.float64))
        return mol


def _load(root: Path, name: str, mmap: bool) -> np.ndarray:
    return np.load(root / f"{name}.npy", mmap_mode="r" if mmap else None)


class ConformerDataset:
    """Read-only access to a dataset directory (arrays memory-mapped), or to a packed training set
    (``manifest.json`` with ``format: bondiff-packed``, :mod:`pipeline.data.packed`: read into memory,
    every part's hash checked)."""

    def __init__(self, root: str | Path, mmap: bool = True):
        self.root = Path(root)
        mf = self.root / "manifest.json"
        if not mf.is_file():
            raise FileNotFoundError(f"{self.root} is not a bondiff dataset (no manifest.json)")
        self.manifest: dict[str, Any] = json.loads(mf.read_text())
        if self.manifest.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"{self.root}: schema_version {self.manifest.get('schema_version')} != {SCHEMA_VERSION}; re-run ingest"
            )
        self.entries: list[MoleculeEntry] = []
        if is_packed(self.manifest):  # compressed parts, read into memory
            rows, arrays = read_parts(self.root, self.manifest)
            self.entries = [MoleculeEntry(**r) for r in rows]
            for name, arr in arrays.items():
                setattr(self, name, arr)
            return
        with open(self.root / "molecules.jsonl") as fh:
            for line in fh:
                if line.strip():
                    self.entries.append(MoleculeEntry(**json.loads(line)))
        self.atomic_numbers = _load(self.root, "atomic_numbers", mmap)
        self.formal_charges = _load(self.root, "formal_charges", mmap)
        self.atom_offsets = _load(self.root, "atom_offsets", False)
        self.bonds = _load(self.root, "bonds", mmap)
        self.bond_offsets = _load(self.root, "bond_offsets", False)
        self.coords = _load(self.root, "coords", mmap)
        self.conf_offsets = _load(self.root, "conf_offsets", False)
        self.mol_conf_offsets = _load(self.root, "mol_conf_offsets", False)
        self.energies = _load(self.root, "energies", mmap)

    # -- sizes ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    @property
    def n_conformers(self) -> int:
        return int(self.conf_offsets.shape[0] - 1)

    @property
    def digest(self) -> str:
        """Content hash of this dataset (from the manifest)."""
        return str(self.manifest.get("dataset_hash", ""))

    def n_atoms(self, i: int) -> int:
        return int(self.atom_offsets[i + 1] - self.atom_offsets[i])

    def split_indices(self, split: str | Sequence[str] | None) -> list[int]:
        if split is None or split == "all":
            return list(range(len(self)))
        wanted = {split} if isinstance(split, str) else set(split)
        return [i for i, e in enumerate(self.entries) if e.split in wanted]

    # -- access --------------------------------------------------------------------------------
    def molecule(self, i: int) -> MoleculeView:
        if not 0 <= i < len(self):
            raise IndexError(f"molecule index {i} out of range [0, {len(self)})")
        a0, a1 = int(self.atom_offsets[i]), int(self.atom_offsets[i + 1])
        b0, b1 = int(self.bond_offsets[i]), int(self.bond_offsets[i + 1])
        k0, k1 = int(self.mol_conf_offsets[i]), int(self.mol_conf_offsets[i + 1])
        n = a1 - a0
        r0, r1 = int(self.conf_offsets[k0]), int(self.conf_offsets[k1])
        coords = np.asarray(self.coords[r0:r1]).reshape(k1 - k0, n, 3)
        return MoleculeView(
            index=i,
            entry=self.entries[i],
            atomic_numbers=np.asarray(self.atomic_numbers[a0:a1]),
            formal_charges=np.asarray(self.formal_charges[a0:a1]),
            bonds=np.asarray(self.bonds[b0:b1]),
            coords=coords,
            energies=np.asarray(self.energies[k0:k1]),
        )

    def __iter__(self) -> Iterator[MoleculeView]:
        for i in range(len(self)):
            yield self.molecule(i)

    def conformer_index(self) -> np.ndarray:
        """[K] molecule index of every conformer."""
        counts = np.diff(self.mol_conf_offsets)
        return np.repeat(np.arange(len(self)), counts)


class DatasetWriter:
    """Accumulates molecules with their conformers; ``commit()`` writes atomically (temp dir + rename).

    Usage::

        w = DatasetWriter(out_dir)
        w.add(entry, atomic_numbers, formal_charges, bonds, coords[K,N,3], energies[K])
        w.commit(manifest_extra)
    """

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self._entries: list[MoleculeEntry] = []
        self._z: list[np.ndarray] = []
        self._q: list[np.ndarray] = []
        self._bonds: list[np.ndarray] = []
        self._coords: list[np.ndarray] = []
        self._energies: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._entries)

    def add(
        self,
        entry: MoleculeEntry,
        atomic_numbers: np.ndarray,
        formal_charges: np.ndarray,
        bonds: np.ndarray,
        coords: np.ndarray,
        energies: np.ndarray | None = None,
        center: bool = True,
    ) -> None:
        z = np.asarray(atomic_numbers, dtype=np.int16).reshape(-1)
        n = z.shape[0]
        c = np.asarray(coords, dtype=np.float64).reshape(-1, n, 3)
        if not np.isfinite(c).all():
            raise ValueError(f"{entry.name}: non-finite coordinates")
        if center:
            c = c - c.mean(axis=1, keepdims=True)
        b = np.asarray(bonds, dtype=np.int32).reshape(-1, 3)
        if b.size and (b[:, :2].min() < 0 or b[:, :2].max() >= n):
            raise ValueError(f"{entry.name}: bond index out of range")
        e = np.full(c.shape[0], np.nan) if energies is None else np.asarray(energies, dtype=np.float64).reshape(-1)
        if e.shape[0] != c.shape[0]:
            raise ValueError(f"{entry.name}: {e.shape[0]} energies for {c.shape[0]} conformers")
        entry.n_atoms = n
        entry.n_conformers = int(c.shape[0])
        self._entries.append(entry)
        self._z.append(z)
        self._q.append(np.asarray(formal_charges, dtype=np.int8).reshape(n))
        self._bonds.append(b)
        self._coords.append(c.astype(np.float32))
        self._energies.append(e)

    @staticmethod
    def _offsets(sizes: Sequence[int]) -> np.ndarray:
        out = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(np.asarray(sizes, dtype=np.int64), out=out[1:])
        return out

    def commit(self, manifest: dict[str, Any] | None = None, overwrite: bool = True) -> Path:
        """Write everything to a temp dir next to ``out_dir`` and rename it into place."""
        from pipeline.atomic import write_dir_atomic
        from pipeline.hashing import path_hash

        if not overwrite and self.out_dir.exists():
            raise FileExistsError(self.out_dir)

        def build(tmp: Path) -> None:
            n_atoms = [z.shape[0] for z in self._z]
            n_confs = [c.shape[0] for c in self._coords]
            arrays = {
                "atomic_numbers": np.concatenate(self._z) if self._z else np.zeros(0, np.int16),
                "formal_charges": np.concatenate(self._q) if self._q else np.zeros(0, np.int8),
                "atom_offsets": self._offsets(n_atoms),
                "bonds": np.concatenate(self._bonds) if self._bonds else np.zeros((0, 3), np.int32),
                "bond_offsets": self._offsets([b.shape[0] for b in self._bonds]),
                "coords": np.concatenate([c.reshape(-1, 3) for c in self._coords]) if self._coords else np.zeros((0, 3), np.float32),
                "conf_offsets": self._offsets([n for n, k in zip(n_atoms, n_confs) for _ in range(k)]),
                "mol_conf_offsets": self._offsets(n_confs),
                "energies": np.concatenate(self._energies) if self._energies else np.zeros(0),
            }
            for name, arr in arrays.items():
                np.save(tmp / f"{name}.npy", arr)
            with open(tmp / "molecules.jsonl", "w") as fh:
                for e in self._entries:
                    fh.write(json.dumps(asdict(e), sort_keys=True) + "\n")
            data_hash = path_hash(tmp)
            split_counts = {s: sum(1 for e in self._entries if e.split == s) for s in SPLITS}
            mf: dict[str, Any] = {
                "schema_version": SCHEMA_VERSION,
                "dataset_hash": data_hash,
                "counts": {
                    "molecules": len(self._entries),
                    "conformers": int(sum(n_confs)),
                    "atoms": int(sum(n_atoms)),
                    "errors": 0,
                },
                "splits": split_counts,
                "errors": [],
            }
            if manifest:
                extra = dict(manifest)
                counts = extra.pop("counts", {})
                mf.update(extra)
                mf["counts"].update(counts)
            mf["counts"]["errors"] = len(mf.get("errors", []))
            (tmp / "manifest.json").write_text(json.dumps(mf, indent=2, sort_keys=False) + "\n")

        return write_dir_atomic(self.out_dir, build)
