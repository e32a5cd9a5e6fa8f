"""Group perceived conformers into molecules by canonical isomeric identity, in one atom order.

The first conformer of a molecule fixes its atom order. A later conformer whose graph is listed
in the same order (same elements, charges and bond list: the common case) is taken as is;
otherwise its atoms are mapped onto the first one's with a stereo-aware substructure match (any
symmetry-equivalent mapping gives the same geometry). A conformer that cannot be mapped is a
per-record error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from pipeline.ingest.records import Conformer
from pipeline.types import RecordError

__all__ = ["Group", "Grouper"]


@dataclass
class Group:
    """One molecule: its first conformer (graph + atom order) and all conformers' coordinates."""

    first: Conformer
    coords: list[np.ndarray] = field(default_factory=list)  # [N, 3] each, in first's atom order
    energies: list[float] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)  # "file:record"
    names: list[str] = field(default_factory=list)  # distinct names seen, first first
    sources: list[str] = field(default_factory=list)
    _ref_mol: object = None

    @property
    def smiles(self) -> str:
        return self.first.smiles

    def ref_mol(self):
        if self._ref_mol is None:
            from pipeline.chem import mol_from_mapped_smiles

            self._ref_mol = mol_from_mapped_smiles(self.first.mapped_smiles)
        return self._ref_mol


def _same_order(a: Conformer, b: Conformer) -> bool:
    if a.atomic_numbers.shape != b.atomic_numbers.shape or not np.array_equal(a.atomic_numbers, b.atomic_numbers):
        return False
    if not np.array_equal(a.formal_charges, b.formal_charges) or a.bonds.shape != b.bonds.shape:
        return False
    return np.array_equal(np.unique(a.bonds, axis=0), np.unique(b.bonds, axis=0))


def _mapping(group: Group, conf: Conformer) -> np.ndarray | None:
    """Indices ``m`` with ``conf.coords[m]`` in the group's atom order, or None."""
    from pipeline.chem import mol_from_mapped_smiles

    ref = group.ref_mol()
    mol = mol_from_mapped_smiles(conf.mapped_smiles)
    if mol.GetNumAtoms() != ref.GetNumAtoms():
        return None
    match = mol.GetSubstructMatch(ref, useChirality=True)
    return np.asarray(match, dtype=np.int64) if len(match) == ref.GetNumAtoms() else None


class Grouper:
    """Feed conformers one by one (:meth:`add`); read :attr:`groups` in first-seen order."""

    def __init__(self) -> None:
        self._groups: dict[str, Group] = {}
        self.errors: list[RecordError] = []

    def add(self, conf: Conformer) -> None:
        g = self._groups.get(conf.smiles)
        if g is None:
            g = self._groups[conf.smiles] = Group(first=conf)
            coords = conf.coords
        elif _same_order(g.first, conf):
            coords = conf.coords
        else:
            m = _mapping(g, conf)
            if m is None:
                self.errors.append(
                    RecordError(conf.file, conf.record, f"same molecule as {g.origins[0]} ({conf.smiles}) but its atoms cannot be mapped onto it")
                )
                return
            coords = conf.coords[m]
        g.coords.append(np.asarray(coords, dtype=np.float64))
        g.energies.append(conf.energy)
        g.origins.append(f"{conf.file}:{conf.record}")
        if conf.name not in g.names:
            g.names.append(conf.name)
        if conf.source not in g.sources:
            g.sources.append(conf.source)

    def extend(self, confs: Iterable[Conformer]) -> "Grouper":
        for c in confs:
            self.add(c)
        return self

    @property
    def groups(self) -> list[Group]:
        return list(self._groups.values())

    def __iter__(self) -> Iterator[Group]:
        return iter(self._groups.values())

    def __len__(self) -> int:
        return len(self._groups)
