"""SMILES templates: ``SMILES NAME`` lines (``molecules.smi`` style) keyed by name.

A template gives bond orders, formal charges and stereo to xyz records of the same name; every
conformer is then checked against it in :mod:`pipeline.ingest.perception`. Parsing the SMILES
happens there too (per record), so an unparsable template is an error of each record that uses it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest.records import Template
from pipeline.io_paths import InputFileError, encoding_problem, read_text
from pipeline.types import RecordError

__all__ = ["read_templates", "read_charges"]


def _lines(p: Path, what: str) -> tuple[list[tuple[int, str]], list[RecordError]]:
    """(line number, text) of the readable lines; a line that is not UTF-8 is an error of its own."""
    try:
        text = read_text(p)
    except InputFileError as exc:
        return [], [RecordError(str(p), "-", f"{what}: {exc}")]
    good, errors = [], []
    for ln, line in enumerate(text.splitlines(), start=1):
        bad = encoding_problem(line, ln)
        if bad:
            errors.append(RecordError(str(p), f"line {ln}", bad))
        else:
            good.append((ln, line))
    return good, errors


def read_templates(path: Path) -> tuple[dict[str, Template], list[RecordError]]:
    """``{name: Template}`` and errors for malformed lines (blank lines and ``#`` comments are skipped)."""
    out: dict[str, Template] = {}
    p = Path(path)
    lines, errors = _lines(p, "SMILES template file")
    for ln, line in lines:
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        tok = s.split()
        if len(tok) < 2:
            errors.append(RecordError(str(p), f"line {ln}", f"expected 'SMILES NAME', got {s[:60]!r}"))
            continue
        name = tok[1]
        if name in out:
            errors.append(RecordError(str(p), f"line {ln}", f"duplicate template name {name!r} (first at {out[name].origin})"))
            continue
        out[name] = Template(smiles=tok[0], origin=f"{p.name} line {ln}")
    return out, errors


def read_charges(path: Path) -> tuple[dict[str, int], list[RecordError]]:
    """``NAME CHARGE`` lines (``charges.txt``); names not listed are neutral."""
    out: dict[str, int] = {}
    lines, errors = _lines(Path(path), "charges file")
    for ln, line in lines:
        tok = line.split()
        if not tok or tok[0].startswith("#"):
            continue
        try:
            if len(tok) != 2:
                raise ValueError
            out[tok[0]] = int(tok[1])
        except ValueError:
            errors.append(RecordError(str(path), f"line {ln}", f"expected 'NAME CHARGE', got {line.strip()[:60]!r}"))
    return out, errors
