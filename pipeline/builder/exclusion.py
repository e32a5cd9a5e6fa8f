"""Keep benchmark molecules out of the training data.

A candidate is excluded when its canonical isomeric SMILES equals a reference molecule's, or when
the first block of its InChIKey does (the connectivity "skeleton": no stereo, isotopes or
protonation), so stereoisomers, tautomer-free protonation states and charged forms of a reference
molecule are excluded too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from pipeline.types import RecordError

__all__ = ["ExclusionSet", "identity_keys", "load_exclusion"]


def identity_keys(mol) -> tuple[str, str]:
    """(canonical isomeric SMILES, InChIKey skeleton) of an RDKit molecule ('' when InChI fails)."""
    from rdkit import Chem, RDLogger

    smi = Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=True, canonical=True)
    RDLogger.DisableLog("rdApp.*")
    try:
        key = Chem.MolToInchiKey(mol) or ""
    finally:
        RDLogger.EnableLog("rdApp.*")
    return smi, key.split("-")[0] if key else ""


@dataclass
class ExclusionSet:
    """Identity keys of the reference molecules, and where they came from."""

    smiles: dict[str, str] = field(default_factory=dict)  # canonical SMILES -> reference name
    skeletons: dict[str, str] = field(default_factory=dict)  # InChIKey block 1 -> reference name
    sources: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    n_molecules: int = 0

    def match(self, mol) -> str | None:
        """Name of the reference molecule ``mol`` is identical to, else None."""
        smi, skel = identity_keys(mol)
        if smi in self.smiles:
            return self.smiles[smi]
        if skel and skel in self.skeletons:
            return self.skeletons[skel]
        return None

    def add(self, mol, name: str) -> None:
        smi, skel = identity_keys(mol)
        self.smiles.setdefault(smi, name)
        if skel:
            self.skeletons.setdefault(skel, name)
        self.n_molecules += 1

    def summary(self) -> dict:
        return {
            "sources": self.sources,
            "missing": self.missing,
            "reference_molecules": self.n_molecules,
            "reference_errors": [e.as_dict() for e in self.errors],
        }


def _read_smi(path: Path, into: ExclusionSet) -> None:
    from rdkit import Chem

    from pipeline.io_paths import encoding_problem, read_text

    for lineno, line in enumerate(read_text(path).splitlines(), start=1):  # .gz/.bz2, BOM; non-UTF-8 per line
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        bad = encoding_problem(line, lineno)
        if bad:
            into.errors.append(RecordError(str(path), str(lineno), bad))
            continue
        name = parts[1] if len(parts) > 1 else f"{path.parent.name}:{lineno}"
        mol = Chem.MolFromSmiles(parts[0])
        if mol is None:
            # A reference we cannot parse cannot be excluded: the caller decides whether that is fatal.
            into.errors.append(RecordError(str(path), str(lineno), f"cannot parse reference SMILES {parts[0]!r}"))
            continue
        into.add(mol, name)


def load_exclusion(reference_dirs: Sequence[str | Path], require_one: bool = True) -> ExclusionSet:
    """Read ``molecules.smi`` of every existing reference directory."""
    ex = ExclusionSet()
    for d in reference_dirs:
        p = Path(d).expanduser()
        smi = p / "molecules.smi" if p.is_dir() else p
        if not smi.is_file():
            ex.missing.append(str(d))
            continue
        ex.sources.append(str(smi.resolve()))
        _read_smi(smi, ex)
    if require_one and not ex.sources:
        raise FileNotFoundError(
            "no exclusion reference set found (looked for molecules.smi in: " + ", ".join(map(str, reference_dirs)) + ")"
        )
    return ex
