"""Content hashes for files, directories and arrays (caches are keyed by content, never by path)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

__all__ = ["file_hash", "path_hash", "combine_hashes"]

_CHUNK = 1 << 20


def file_hash(path: str | Path, length: int = 16) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def path_hash(path: str | Path, length: int = 16) -> str:
    """Hash of a file, or of a directory tree (relative names + contents, sorted, hidden files skipped).

    The tree is walked as the input readers walk it (:func:`pipeline.io_paths.list_dir`: links to
    folders followed once, FIFOs never opened); a file that cannot be read counts by its name and
    the reason, so a cache keyed by this hash changes when it becomes readable.
    """
    from pipeline.io_paths import list_dir

    p = Path(path)
    if p.is_file():
        return file_hash(p, length)
    h = hashlib.sha256()
    for f, problem in sorted(list_dir(p)) if p.is_dir() else ():
        rel = f.relative_to(p)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(str(rel).encode())
        h.update(b"\0")
        h.update((problem or file_hash(f, 64)).encode())
    return h.hexdigest()[:length]


def combine_hashes(parts: Iterable[str], length: int = 16) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:length]
