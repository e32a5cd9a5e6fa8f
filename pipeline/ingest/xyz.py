"""xyz reader: plain, multi-frame, QM9-style and extended (ASE) xyz, one record per frame.

* plain: ``N`` / comment / ``N`` lines ``El x y z`` (element symbol or atomic number);
* multi-frame: frames one after another (blank lines between them are allowed);
* QM9: the comment starts with ``gdb`` and holds the properties (U0, Hartree, is column 12),
  atom lines carry a 5th column (Mulliken charge), numbers may use Mathematica's ``*^``
  exponent (``1.2*^-5``), and three trailing lines follow the atoms (harmonic frequencies,
  SMILES GDB/relaxed, InChI GDB/relaxed);
* extended: the comment line holds ``Properties=species:S:1:pos:R:3:...`` and ``key=value``
  pairs; ``charge=`` (or ``total_charge=``) sets the net charge, ``energy=`` (eV) the energy.

A bad frame (truncated, wrong atom count, unknown element, non-numeric coordinate) becomes a
:class:`~pipeline.types.RecordError` naming file, frame and line; the next frame is still read.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np

from pipeline.ingest import extxyz
from pipeline.ingest.elements import atomic_number
from pipeline.ingest.records import AtomsRecord, ReadItem, RecordProblem, Template
from pipeline.io_paths import InputFileError, base_stem, encoding_problem, read_text
from pipeline.types import RecordError

__all__ = ["read_xyz", "parse_xyz_text", "QM9_PROPERTIES"]

# names of the 17 fields of a QM9 comment line ("gdb", index, then 15 numbers)
QM9_PROPERTIES = ("tag", "index", "A", "B", "C", "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "Cv")
_QM9_TRAILING = 3


def _is_count(line: str) -> bool:
    tok = line.split()
    return len(tok) == 1 and tok[0].isdigit()


def _float(tok: str) -> float:
    return float(tok.replace("*^", "e"))


class _Frame:
    """Cursor over the lines of one xyz text; ``next()`` returns a record or raises per frame."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.i = 0

    def skip_blank(self) -> bool:
        while self.i < len(self.lines) and not self.lines[self.i].strip():
            self.i += 1
        return self.i < len(self.lines)

    def resync(self) -> None:
        """Skip to the next line that is a lone atom count (the start of the next frame)."""
        while self.i < len(self.lines) and not _is_count(self.lines[self.i]):
            self.i += 1


def _atom_columns(comment: str, file: str) -> tuple[int, int, dict[str, str]]:
    """(species column, first position column, comment key/values) for this frame."""
    if not extxyz.is_extxyz_comment(comment):
        return 0, 1, {}
    try:
        info = extxyz.parse_comment(comment)
        cols = extxyz.columns(info.get("Properties", info.get("properties", "")))
    except ValueError as exc:
        raise RecordProblem(str(exc)) from None
    if "species" not in cols or "pos" not in cols or cols["pos"][1] != 3:
        raise RecordProblem("extended-xyz Properties lack species:S:1 or pos:R:3")
    return cols["species"][0], cols["pos"][0], info


def _frame_charge_energy(info: dict[str, str]) -> tuple[int | None, float]:
    charge = None
    for key in ("charge", "total_charge"):
        if key in info:
            try:
                charge = int(float(info[key]))
            except ValueError:
                raise RecordProblem(f"extended-xyz {key}={info[key]!r} is not a number") from None
    energy = math.nan
    for key in ("energy", "Energy", "free_energy"):
        if key in info:
            try:
                energy = float(info[key]) / extxyz.EV_PER_HARTREE  # ASE writes eV
            except ValueError:
                raise RecordProblem(f"extended-xyz {key}={info[key]!r} is not a number") from None
            break
    return charge, energy


def _qm9_fields(comment: str) -> dict[str, float]:
    tok = comment.split()
    out: dict[str, float] = {}
    for key, val in zip(QM9_PROPERTIES[1:], tok[1:]):
        try:
            out[key] = _float(val)
        except ValueError:
            raise RecordProblem(f"QM9 property {key}={val!r} is not a number") from None
    return out


def parse_xyz_text(
    text: str,
    file: str,
    name: str,
    charge: int | None = None,
    template: Template | None = None,
) -> Iterator[ReadItem]:
    """Yield one :class:`AtomsRecord` (or :class:`RecordError`) per frame of ``text``."""
    if not text.strip():
        yield RecordError(file, "-", "empty file")
        return
    cur = _Frame(text.splitlines())
    frame = 0
    while cur.skip_blank():
        frame += 1
        start = cur.i
        try:
            rec = _read_frame(cur, file, name, frame, charge, template)
            bad = encoding_problem("\n".join(cur.lines[start:cur.i]), start + 1)
            if bad:
                raise RecordProblem(bad)
            yield rec
        except RecordProblem as exc:
            yield RecordError(file, str(frame), f"{exc} (frame starting at line {start + 1})")
            cur.i = max(cur.i, start + 1)
            cur.resync()


def _read_frame(cur: _Frame, file: str, name: str, frame: int, charge: int | None, template: Template | None) -> AtomsRecord:
    lines = cur.lines
    header = lines[cur.i]
    if not _is_count(header):
        raise RecordProblem(f"expected the number of atoms, got {header.strip()[:40]!r}")
    n = int(header.split()[0])
    if n == 0:
        raise RecordProblem("frame has 0 atoms")
    if cur.i + 1 >= len(lines):
        raise RecordProblem(f"truncated: header says {n} atoms, the file ends before the comment line")
    if cur.i + 2 + n > len(lines):  # before allocating n atoms: a corrupt count must not exhaust memory
        raise RecordProblem(f"truncated: header says {n} atoms, the file ends after {len(lines) - cur.i - 2}")
    comment = lines[cur.i + 1]
    qm9 = comment.lstrip().startswith("gdb")
    sp_col, pos_col, info = _atom_columns(comment, file)
    z = np.empty(n, dtype=np.int16)
    xyz = np.empty((n, 3), dtype=np.float64)
    first = cur.i + 2
    for k in range(n):
        ln = first + k
        if ln >= len(lines):
            raise RecordProblem(f"truncated: header says {n} atoms, the file ends after {k}")
        tok = lines[ln].split()
        if not tok or _is_count(lines[ln]) or len(tok) < max(sp_col + 1, pos_col + 3):
            raise RecordProblem(f"wrong atom count: header says {n} atoms, found {k} atom lines (line {ln + 1}: {lines[ln].strip()[:40]!r})")
        zi = atomic_number(tok[sp_col])
        if zi is None:
            raise RecordProblem(f"atom {k + 1} (line {ln + 1}): unknown element {tok[sp_col]!r}")
        z[k] = zi
        for d in range(3):
            try:
                xyz[k, d] = _float(tok[pos_col + d])
            except ValueError:
                raise RecordProblem(f"atom {k + 1} (line {ln + 1}): non-numeric coordinate {tok[pos_col + d]!r}") from None
        if not np.isfinite(xyz[k]).all():
            raise RecordProblem(f"atom {k + 1} (line {ln + 1}): non-finite coordinate")
    cur.i = first + n
    extra: dict[str, object] = {}
    energy = math.nan
    source = "xyz"
    if qm9:
        source = "qm9"
        props = _qm9_fields(comment)
        energy = props.get("U0", math.nan)
        trailing = lines[cur.i : cur.i + _QM9_TRAILING]
        if len(trailing) >= 2 and trailing[1].split():
            extra["qm9_smiles"] = trailing[1].split()[-1]  # SMILES of the relaxed geometry
        if "index" in props:
            extra["qm9_index"] = int(props["index"])
        cur.i += len(trailing)
    elif info:
        source = "extxyz"
        frame_charge, energy = _frame_charge_energy(info)
        charge = frame_charge if frame_charge is not None else charge
    # an atom line right after the block means the header under-counts the atoms
    if cur.skip_blank() and not _is_count(lines[cur.i]):
        tok = lines[cur.i].split()
        if len(tok) >= 4 and atomic_number(tok[0]) is not None:
            raise RecordProblem(f"wrong atom count: header says {n} atoms, more atom lines follow (line {cur.i + 1})")
        # anything else starts the next frame, which reports it
    extra["source"] = source
    return AtomsRecord(file=file, record=str(frame), name=name, atomic_numbers=z, coords=xyz, charge=charge,
                       template=template, energy=energy, extra=extra)


def read_xyz(path: Path, name: str | None = None, charge: int | None = None, template: Template | None = None) -> Iterator[ReadItem]:
    """Read an xyz file (any of the flavours above); ``name`` defaults to the file's stem."""
    try:
        text = read_text(path)
    except InputFileError as exc:
        yield RecordError(str(path), "-", str(exc))
        return
    yield from parse_xyz_text(text, str(path), name or base_stem(path), charge, template)
