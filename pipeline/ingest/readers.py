"""Turn input paths into a stream of records (or per-record errors), whatever their format.

* a directory laid out like a reference set (``molecules.smi`` + ``xyz/``) -> :mod:`.refset`;
* any other directory -> every ``.xyz``/``.extxyz``/``.sdf``/``.sd``/``.mol`` file below it, sorted
  (any other file there is an error record naming it: nothing is skipped silently);
* a file -> by suffix: xyz flavours (:mod:`.xyz`) or SDF/MOL (:mod:`.sdf`), each also ``.gz`` / ``.bz2``
  (:mod:`pipeline.io_paths` reads them; a FIFO or other non-regular file is refused, never read);
* ``cfg.qm9`` -> the qm9pack package (:mod:`.qm9pack`): the first ``cfg.qm9_limit`` molecules, or a
  seeded random subset of ``cfg.qm9_sample`` (seed ``cfg.qm9_seed``);
* ``cfg.smiles_templates`` -> templates attached by name to xyz records that have none.

A missing path, an unreadable or unknown file is an error record; reading never stops at a bad file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from pipeline.ingest.records import AtomsRecord, ReadItem, Template
from pipeline.ingest.refset import is_refset, read_refset
from pipeline.ingest.sdf import read_sdf
from pipeline.ingest.templates import read_templates
from pipeline.ingest.xyz import read_xyz
from pipeline.io_paths import COMPRESSED_SUFFIXES, file_problem, format_suffix, list_dir
from pipeline.types import RecordError

__all__ = ["XYZ_SUFFIXES", "SDF_SUFFIXES", "read_path", "iter_inputs", "input_kind"]

XYZ_SUFFIXES = (".xyz", ".extxyz")
SDF_SUFFIXES = (".sdf", ".sd", ".mol")
_EXPECTED = ", ".join(XYZ_SUFFIXES + SDF_SUFFIXES) + f" (optionally {' or '.join(COMPRESSED_SUFFIXES)})"


def input_kind(p: Path) -> str:
    if not (p.exists() or p.is_symlink()):
        return "missing"
    if is_refset(p):
        return "refset"
    if p.is_dir():
        return "directory"
    if file_problem(p):
        return "unreadable"
    suf = format_suffix(p)
    return "xyz" if suf in XYZ_SUFFIXES else "sdf" if suf in SDF_SUFFIXES else "unknown"


def _read_file(f: Path, problem: str | None = None) -> Iterator[ReadItem]:
    problem = problem or file_problem(f)
    suf = format_suffix(f)
    if problem:
        yield RecordError(str(f), "-", problem)
    elif suf in XYZ_SUFFIXES:
        yield from read_xyz(f)
    elif suf in SDF_SUFFIXES:
        yield from read_sdf(f)
    else:
        yield RecordError(str(f), "-", f"unknown file type {suf or '(none)'!r}, not read; expected {_EXPECTED}")


def read_path(p: Path) -> Iterator[ReadItem]:
    """Records of a file, a reference set or every file below a directory; every file that is not
    read (unknown type, broken link, FIFO, ...) is an error record naming it, never skipped silently."""
    p = Path(p)
    kind = input_kind(p)
    if kind == "missing":
        yield RecordError(str(p), "-", "no such file or directory")
    elif kind == "refset":
        yield from read_refset(p)
    elif kind == "directory":
        entries = list(list_dir(p))
        if not entries:
            yield RecordError(str(p), "-", f"folder is empty; expected {_EXPECTED} files")
        for f, problem in entries:
            yield from _read_file(f, problem)
    else:
        yield from _read_file(p)


def _attach(items: Iterable[ReadItem], templates: dict[str, Template]) -> Iterator[ReadItem]:
    for it in items:
        if isinstance(it, AtomsRecord) and it.template is None and it.name in templates:
            it.template = templates[it.name]
        yield it


def iter_inputs(paths: Iterable[Path], cfg) -> Iterator[ReadItem]:
    """Every record of every input, in order (errors included, as :class:`RecordError`)."""
    templates: dict[str, Template] = {}
    if cfg.smiles_templates is not None:
        templates, errors = read_templates(Path(cfg.smiles_templates))
        yield from errors
    for p in paths:
        yield from _attach(read_path(Path(p)), templates)
    if cfg.qm9:
        from pipeline.ingest.qm9pack import iter_qm9pack, sample_indices

        picked = None if cfg.qm9_sample is None else sample_indices(cfg.qm9_sample, cfg.qm9_seed)
        yield from iter_qm9pack(cfg.qm9_limit, indices=picked)
