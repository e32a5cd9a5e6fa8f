"""What readers hand to bond perception, and what perception hands back (plain, picklable data)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from pipeline.types import RecordError

__all__ = ["AtomsRecord", "MolBlockRecord", "Record", "Template", "Conformer", "RecordProblem", "Filtered", "ReadItem"]


class RecordProblem(ValueError):
    """A record is bad; the message is the reason shown to the user."""


class Filtered(RecordProblem):
    """A good record that the config's filters exclude (listed under ``filtered`` in the manifest)."""


@dataclass(frozen=True)
class Template:
    """A SMILES template and where it came from (for error messages)."""

    smiles: str
    origin: str  # e.g. "molecules.smi line 4"


@dataclass
class AtomsRecord:
    """Atoms + coordinates without bonds (xyz, extended xyz, QM9).

    ``atomic_numbers``/``coords`` may be left None with ``raw`` holding the QM9 CSV literals, which
    the perception worker decodes (keeps the reading process fast).
    """

    file: str
    record: str
    name: str
    atomic_numbers: np.ndarray | None = None  # [N] int
    coords: np.ndarray | None = None  # [N, 3] float64, Å
    charge: int | None = None  # None: use the config's default_charge
    template: Template | None = None
    energy: float = math.nan  # Hartree
    raw: tuple[str, str] | None = None  # (elements literal, coordinates literal) from the qm9pack CSV
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class MolBlockRecord:
    """One SDF/MOL record: bonds, charges and stereo come from the file."""

    file: str
    record: str
    name: str
    block: str
    energy: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)


Record = Union[AtomsRecord, MolBlockRecord]
ReadItem = Union[AtomsRecord, MolBlockRecord, RecordError]


@dataclass
class Conformer:
    """One perceived conformer: graph (in its own atom order) + coordinates + identity."""

    file: str
    record: str
    name: str
    source: str  # "xyz", "extxyz", "qm9", "sdf", "refset", ...
    smiles: str  # canonical isomeric SMILES: the molecule's identity
    mapped_smiles: str  # all-H, atom map = index + 1: the atom order of the arrays below
    charge: int
    atomic_numbers: np.ndarray  # [N] int16
    formal_charges: np.ndarray  # [N] int8
    bonds: np.ndarray  # [B, 3] int32 (i, j, RDKit BondType value)
    coords: np.ndarray  # [N, 3] float64
    energy: float = math.nan
    notes: tuple[str, ...] = ()  # e.g. ("hydrogens_added",)
    extra: dict[str, Any] = field(default_factory=dict)
