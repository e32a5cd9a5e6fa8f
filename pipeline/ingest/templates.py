"""SMILES templates: ``SMILES NAME`` lines (``molecules.smi`` style) keyed by name.

A template gives bond orders, formal charges and stereo to xyz records of the same name; every
conformer is then checked against it in :mod:`pipeline.ingest.perception`. Parsing the SMILES
happens there too (per record), so an unparsable template is an error of each record that uses it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest.records import Template
from pipeline.types import RecordError

__all__ = ["read_templates", "read_charges"]


def read_templates(path: Path) -> tuple[dict[str, Template], list[RecordError]]:
    """``{name: Template}`` and errors for malformed lines (blank lines and ``#`` comments are skipped)."""
    out: dict[str, Template] = {}
    errors: list[RecordError] = []
    p = Path(path)
    if not p.is_file():
        return out, [RecordError(str(p), "-", "SMILES template file not found")]
    for ln, line in enumerate(p.read_text(errors="replace").splitlines(), start=1):
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
    errors: list[RecordError] = []
    for ln, line in enumerate(Path(path).read_text(errors="replace").splitlines(), start=1):
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
