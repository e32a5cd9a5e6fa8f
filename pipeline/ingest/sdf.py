"""SDF/MOL reader: split a file into MOL blocks (``$$$$``-separated); RDKit parses them in perception.

Splitting is textual so one broken record never hides the others; each record keeps its number
(1-based) and title (first line) for error messages. Conformers of one molecule are simply
several records of it (grouped later by identity).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from pipeline.ingest.records import MolBlockRecord, ReadItem
from pipeline.types import RecordError

__all__ = ["read_sdf", "split_records"]


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
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        yield RecordError(str(path), "-", f"cannot read: {exc.strerror or exc}")
        return
    if not text.strip():
        yield RecordError(str(path), "-", "empty file")
        return
    stem = Path(path).stem
    for k, block in enumerate(split_records(text), start=1):
        if not block.strip():
            yield RecordError(str(path), str(k), "empty SDF record")
            continue
        title = block.split("\n", 1)[0].strip()
        yield MolBlockRecord(file=str(path), record=str(k), name=title or f"{stem}_{k}", block=block, extra={"source": "sdf"})
