"""SDF/MOL reader: split a file into MOL blocks (``$$$$``-separated); RDKit parses them in perception.

Splitting is textual so one broken record never hides the others; each record keeps its number
(1-based) and title (first line) for error messages. Conformers of one molecule are simply
several records of it (grouped later by identity).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from pipeline.ingest.records import MolBlockRecord, ReadItem
from pipeline.io_paths import InputFileError, base_stem, encoding_problem, read_text
from pipeline.types import RecordError

__all__ = ["read_sdf", "split_records", "molblock_problem", "query_problem"]


def split_records(text: str) -> list[str]:
    """MOL blocks of an SDF text (a trailing record without ``$$$$`` counts; empty tails do not)."""
    blocks: list[str] = []
    cur: list[str] = []
    for line in text.splitlines():
        if line.strip() == "$$$$":
            blocks.append("\n".join(cur) + "\n")
            cur = []
        else:
            cur.append(line)
    if any(ln.strip() for ln in cur):
        blocks.append("\n".join(cur) + "\n")
    return blocks


def read_sdf(path: Path) -> Iterator[ReadItem]:
    try:
        text = read_text(path)
    except InputFileError as exc:
        yield RecordError(str(path), "-", str(exc))
        return
    if not text.strip():
        yield RecordError(str(path), "-", "empty file")
        return
    stem = base_stem(path)
    for k, block in enumerate(split_records(text), start=1):
        if not block.strip():
            yield RecordError(str(path), str(k), "empty SDF record")
            continue
        bad = encoding_problem(block)
        if bad:
            yield RecordError(str(path), str(k), bad.replace("line ", "record line ", 1))
            continue
        title = block.split("\n", 1)[0].strip()
        yield MolBlockRecord(file=str(path), record=str(k), name=title or f"{stem}_{k}", block=block, extra={"source": "sdf"})


def molblock_problem(block: str) -> str | None:
    """A reason RDKit would only report as an invariant violation: a V2000 bond line naming an atom
    that does not exist (``bond 3 joins atoms 2 and 99, the record has 20 atoms``); else None."""
    lines = block.splitlines()
    counts = next((k for k, ln in enumerate(lines[:10]) if ln.rstrip().endswith("V2000")), None)
    if counts is None:
        return None
    try:
        n_atoms, n_bonds = int(lines[counts][0:3]), int(lines[counts][3:6])
    except ValueError:
        return f"counts line {lines[counts].strip()!r} is not 'atoms bonds ... V2000'"
    for k in range(n_bonds):
        ln = counts + 1 + n_atoms + k
        if ln >= len(lines):
            return f"truncated: the counts line says {n_bonds} bonds, the record ends after {k}"
        try:
            a, b = int(lines[ln][0:3]), int(lines[ln][3:6])
        except ValueError:
            return f"bond {k + 1} (line {ln + 1}): expected two atom numbers, got {lines[ln].strip()[:40]!r}"
        if not (1 <= a <= n_atoms and 1 <= b <= n_atoms):
            return f"bond {k + 1} (line {ln + 1}) joins atoms {a} and {b}, but the record has {n_atoms} atoms"
        if a == b:
            return f"bond {k + 1} (line {ln + 1}) joins atom {a} to itself"
    return None


def query_problem(mol) -> str | None:
    """Query features (bond types 4-8 other than aromatic, e.g. 8 = 'any'; query atoms such as A, Q, *,
    L lists) describe a substructure pattern, not a molecule with coordinates; else None."""
    for b in mol.GetBonds():
        if b.HasQuery():
            return (f"bond {b.GetIdx() + 1} ({b.GetBeginAtomIdx() + 1}-{b.GetEndAtomIdx() + 1}) is a query bond "
                    f"({b.GetSmarts() or b.GetBondType()}): a search pattern, not a molecule")
    for a in mol.GetAtoms():
        if a.HasQuery() or a.GetAtomicNum() == 0:
            return f"atom {a.GetIdx() + 1} is a query or dummy atom ({a.GetSmarts()}): a search pattern, not a molecule"
    return None
