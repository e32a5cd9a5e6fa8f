"""Read a generated SDF (one record per conformer) into per-molecule groups.

Records are grouped by (title, ``SMILES`` property). Every record is parsed on its own, so one bad
mol block is one :class:`~pipeline.types.RecordError` (file, 1-based record number, reason) and the
rest still go through; a record whose graph differs from the first record of its molecule is an
error too. The intended molecule of a group is ``AddHs(MolFromSmiles(SMILES))`` (stereo as asked);
without a ``SMILES`` property it is the mol block's graph and stereo cannot be checked (unless a
reference supplies it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pipeline.types import RecordError, StageError

__all__ = ["GeneratedRecord", "GeneratedMolecule", "iter_sdf_blocks", "read_generated"]


@dataclass
class GeneratedRecord:
    record: int  # 1-based record number in the file
    coords: np.ndarray  # [N, 3] in the molecule's (first record's) atom order
    props: dict[str, str]


@dataclass
class GeneratedMolecule:
    name: str
    smiles: str | None  # the SMILES property (isomeric identity), if any
    mol: Any  # graph of the first record (hydrogens as written), no conformers
    records: list[GeneratedRecord] = field(default_factory=list)
    bad_records: list[int] = field(default_factory=list)  # records of this molecule that could not be used

    def with_conformers(self) -> Any:
        """The molecule with one conformer per good record (conformer id = position in ``records``)."""
        from rdkit import Chem

        from pipeline.chem import set_conformers

        m = Chem.Mol(self.mol)
        if self.records:
            set_conformers(m, np.stack([r.coords for r in self.records]))
        return m


def iter_sdf_blocks(path: Path) -> Iterator[tuple[int, str, dict[str, str]]]:
    """(record number, mol block, properties) for each ``$$$$``-terminated record, parsed as text
    (``.gz``/``.bz2`` and a byte-order mark accepted; bytes that are not UTF-8 stay as surrogate
    escapes for :func:`pipeline.io_paths.encoding_problem`)."""
    from pipeline.io_paths import read_text

    block: list[str] = []
    n = 0
    for line in read_text(path).splitlines(keepends=True):
        if line.rstrip("\r\n") == "$$$$":
            n += 1
            yield n, *_split_record(block)
            block = []
        else:
            block.append(line)
    if any(s.strip() for s in block):
        n += 1
        yield n, *_split_record(block)


def _split_record(lines: list[str]) -> tuple[str, dict[str, str]]:
    end = next((i for i, ln in enumerate(lines) if ln.startswith("M  END")), None)
    if end is None:
        return "".join(lines), {}
    molblock = "".join(lines[: end + 1])
    props: dict[str, str] = {}
    key: str | None = None
    values: list[str] = []
    for ln in lines[end + 1 :]:
        s = ln.rstrip("\r\n")
        if s.startswith(">") and "<" in s and ">" in s[s.index("<") :]:
            if key is not None:
                props[key] = "\n".join(values).strip()
            key = s[s.index("<") + 1 : s.index(">", s.index("<"))]
            values = []
        elif key is not None:
            if s == "":
                props[key] = "\n".join(values).strip()
                key, values = None, []
            else:
                values.append(s)
    if key is not None:
        props[key] = "\n".join(values).strip()
    return molblock, props


def _graph_key(mol: Any) -> tuple:
    atoms = tuple((a.GetAtomicNum(), a.GetFormalCharge()) for a in mol.GetAtoms())
    bonds = tuple(sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx())) for b in mol.GetBonds()))
    return atoms, bonds


def read_generated(path: str | Path) -> tuple[list[GeneratedMolecule], list[RecordError], int]:
    """Parse ``path``; returns (molecules in first-seen order, per-record errors, number of records)."""
    from rdkit import Chem, RDLogger

    from pipeline.ingest.rdlog import captured_rdkit_log, rdkit_reason
    from pipeline.ingest.sdf import molblock_problem, query_problem
    from pipeline.io_paths import InputFileError, encoding_problem, file_problem

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"generated SDF not found: {path}")
    why = file_problem(path)
    if why:
        raise StageError(f"validate: generated SDF {path}: {why}")
    RDLogger.DisableLog("rdApp.*")
    groups: dict[tuple[str, str | None], GeneratedMolecule] = {}
    keys: dict[tuple[str, str | None], tuple] = {}
    errors: list[RecordError] = []
    n_records = 0
    try:
        for rec, block, props in iter_sdf_blocks(path):
            n_records = rec
            name = block.split("\n", 1)[0].strip() or f"record{rec}"
            smiles = props.get("SMILES") or None
            gkey = (name, smiles)

            def fail(reason: str) -> None:
                errors.append(RecordError(str(path), str(rec), f"{name}: {reason}"))
                if gkey in groups:
                    groups[gkey].bad_records.append(rec)
                else:
                    groups[gkey] = GeneratedMolecule(name, smiles, None, [], [rec])

            why = encoding_problem(block) or molblock_problem(block)
            if why:
                fail(f"unreadable mol block: {why}")
                continue
            with captured_rdkit_log() as log:
                mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False, strictParsing=True)
            if mol is None or mol.GetNumConformers() == 0:
                fail(f"unreadable mol block: {rdkit_reason(log, 'no coordinates')}")
                continue
            why = query_problem(mol)
            if why:
                fail(why)
                continue
            try:
                Chem.SanitizeMol(mol)
            except Exception as exc:
                fail(f"mol block does not sanitize: {exc}")
                continue
            xyz = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
            if not np.isfinite(xyz).all():
                fail("non-finite coordinates")
                continue
            key = _graph_key(mol)
            grp = groups.get(gkey)
            if grp is None or grp.mol is None:
                mol.RemoveAllConformers()
                if grp is None:
                    grp = groups[gkey] = GeneratedMolecule(name, smiles, mol)
                else:
                    grp.mol = mol
                keys[gkey] = key
            elif key != keys[gkey]:
                fail("atoms or bonds differ from the molecule's first record")
                continue
            grp.records.append(GeneratedRecord(rec, xyz, props))
    except InputFileError as exc:
        raise StageError(f"validate: generated SDF {path}: {exc}") from None
    finally:
        RDLogger.EnableLog("rdApp.*")
    return list(groups.values()), errors, n_records
