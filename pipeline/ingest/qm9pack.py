"""QM9 from the ``qm9pack`` PyPI package (extra ``qm9``): 130,831 molecules in three CSV parts.

Rows are read with pandas in chunks (only the needed columns); the element and coordinate
columns are Python literals that the perception worker decodes with ``ast.literal_eval``
(:func:`decode_raw`), so reading stays cheap and decoding runs in parallel.

Two ways to take part of QM9: the first N rows (``limit``; these are the smallest molecules) or a
seeded random subset (:func:`sample_indices`): the N QM9 indices with the smallest
``blake2b(seed, index)``. That order does not depend on the file layout, and a larger sample with
the same seed is a superset of a smaller one.
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from pipeline.ingest.elements import atomic_number
from pipeline.ingest.records import AtomsRecord, RecordProblem

__all__ = ["csv_files", "content_hash", "iter_qm9pack", "decode_raw", "sample_indices", "sample_key", "QM9_TOTAL"]

QM9_TOTAL = 130_831
_SYMBOL = re.compile(r"[A-Za-z]+")
_COLUMNS = ["XYZ_file", "Index", "SMILES", "Elements", "XYZ_Ang", "InternalEnergy_0K_au"]


def csv_files() -> list[Path]:
    """The package's CSV parts, in order; a clear error when the extra is not installed."""
    from importlib.util import find_spec

    # locate, don't import: qm9pack's __init__ needs pkg_resources, which new setuptools lack
    spec = find_spec("qm9pack")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("QM9 needs the qm9pack package: pip install 'bondiff[qm9]'")
    root = Path(spec.origin).parent / "data"
    files = [root / f"qm9_part{i}.csv" for i in (1, 2, 3)]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"qm9pack data files missing: {', '.join(missing)}")
    return files


def content_hash() -> str:
    """Content hash of the CSV parts: from the sha256 sums pip recorded in the package's RECORD
    (no need to read 230 MB), else by hashing the files."""
    from importlib import metadata

    from pipeline.hashing import combine_hashes, file_hash

    files = csv_files()
    try:
        recorded = {Path(str(f)).name: f.hash.value for f in metadata.distribution("qm9pack").files or [] if f.hash is not None}
    except metadata.PackageNotFoundError:
        recorded = {}
    if all(f.name in recorded for f in files):
        return combine_hashes("sha256:" + recorded[f.name] for f in files)
    return combine_hashes(file_hash(f) for f in files)


def sample_key(seed: int, index: int) -> int:
    """Rank of QM9 index ``index`` in the seeded random order (smaller = picked first)."""
    h = hashlib.blake2b(f"qm9\0{seed}\0{index}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def sample_indices(n: int, seed: int, chunk_rows: int = 50_000) -> set[int]:
    """The QM9 ``Index`` values of a seeded random subset of ``n`` molecules (all when n >= the total)."""
    import pandas as pd

    indices: list[int] = []
    for f in csv_files():
        for chunk in pd.read_csv(f, usecols=["Index"], chunksize=chunk_rows, dtype={"Index": "int64"}):
            indices.extend(int(i) for i in chunk["Index"])
    indices.sort(key=lambda i: (sample_key(seed, i), i))
    return set(indices[:n])


def iter_qm9pack(limit: int | None = None, chunk_rows: int = 5000, indices: set[int] | None = None) -> Iterator[AtomsRecord]:
    """QM9 molecules as undecoded records, in file order: the first ``limit`` (all when None), or
    only those whose ``Index`` is in ``indices`` (see :func:`sample_indices`)."""
    import pandas as pd

    if limit is not None and indices is not None:
        raise ValueError("iter_qm9pack: give limit or indices, not both")
    left = QM9_TOTAL if limit is None else limit
    if indices is not None:
        left = len(indices)
    for f in csv_files():
        if left <= 0:
            return
        label = f"qm9pack:{f.name}"
        nrows = left if indices is None else None
        for chunk in pd.read_csv(f, usecols=_COLUMNS, chunksize=chunk_rows, nrows=nrows, dtype={"Index": "int64"}):
            if indices is not None:
                chunk = chunk[chunk["Index"].isin(indices)]
            for row in chunk.itertuples(index=False):
                name = str(row.XYZ_file).removesuffix(".xyz")
                yield AtomsRecord(
                    file=label,
                    record=str(row.Index),
                    name=name,
                    charge=0,
                    energy=float(row.InternalEnergy_0K_au),
                    raw=(row.Elements, row.XYZ_Ang),
                    extra={"source": "qm9pack", "qm9_index": int(row.Index), "qm9_smiles": str(row.SMILES)},
                )
                left -= 1
            if left <= 0:
                return


def _fast_decode(raw: tuple[str, str]) -> tuple[list[str], np.ndarray] | None:
    """The common case without ``ast`` (4x faster): ``['C','H']`` and ``[[x,y,z],...]`` of plain floats."""
    symbols = _SYMBOL.findall(raw[0])
    try:
        flat = np.array(raw[1].replace("[", " ").replace("]", " ").replace(",", " ").split(), dtype=np.float64)
    except ValueError:
        return None
    if flat.size != 3 * len(symbols) or raw[1].count("[") != len(symbols) + 1:
        return None
    return symbols, flat.reshape(-1, 3)


def decode_raw(raw: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(atomic numbers [N], coordinates [N, 3]) from the CSV literals; RecordProblem when malformed.

    Tries a plain-number fast path, and ``ast.literal_eval`` (the safe, general parser) otherwise.
    """
    fast = _fast_decode(raw) if isinstance(raw[0], str) and isinstance(raw[1], str) else None
    if fast is not None:
        symbols, xyz = fast
    else:
        try:
            symbols = list(ast.literal_eval(raw[0]))
            xyz = np.asarray(ast.literal_eval(raw[1]), dtype=np.float64)
        except (ValueError, SyntaxError, TypeError) as exc:
            raise RecordProblem(f"cannot decode the Elements/XYZ_Ang columns: {exc}") from None
    z = np.array([atomic_number(str(s)) or 0 for s in symbols], dtype=np.int16)
    if (z == 0).any():
        bad = [s for s, zi in zip(symbols, z) if zi == 0]
        raise RecordProblem(f"unknown element {bad[0]!r}")
    if xyz.shape != (len(z), 3):
        raise RecordProblem(f"{len(z)} elements but coordinates of shape {xyz.shape}")
    return z, xyz
