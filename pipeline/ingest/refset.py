"""Reference-set directories laid out like the Hutchison conformer benchmark.

::

    molecules.smi      SMILES NAME      (stereo-complete; the template of every conformer of NAME)
    charges.txt        NAME CHARGE      (optional; names not listed are neutral)
    xyz/NAME/*.xyz     the conformers

Every conformer is perceived with its molecule's charge and checked against its SMILES.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from pipeline.ingest.records import ReadItem
from pipeline.ingest.templates import read_charges, read_templates
from pipeline.ingest.xyz import read_xyz
from pipeline.io_paths import format_suffix, list_dir
from pipeline.types import RecordError

__all__ = ["is_refset", "read_refset"]


def is_refset(path: Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "molecules.smi").is_file() and (p / "xyz").is_dir()


def read_refset(root: Path) -> Iterator[ReadItem]:
    root = Path(root)
    templates, errors = read_templates(root / "molecules.smi")
    yield from errors
    charges: dict[str, int] = {}
    if (root / "charges.txt").is_file():
        charges, cerr = read_charges(root / "charges.txt")
        yield from cerr
    dirs: dict[str, Path] = {}
    for d in sorted((root / "xyz").iterdir()):
        if d.is_dir():
            dirs[d.name] = d
        else:
            yield RecordError(str(d), "-", f"not read: xyz/ holds one folder per molecule (xyz/NAME/*.xyz), not files")
    for name, tpl in templates.items():
        files: list[Path] = []
        for f, problem in list_dir(dirs[name]) if name in dirs else ():
            if problem or format_suffix(f) != ".xyz":
                yield RecordError(str(f), "-", problem or "not read: a reference set's conformers are .xyz files")
            else:
                files.append(f)
        if not files:
            yield RecordError(str(root / "molecules.smi"), tpl.origin.split()[-1], f"no conformers for {name} (expected xyz/{name}/*.xyz)")
            continue
        for f in files:
            for item in read_xyz(f, name=name, charge=charges.get(name, 0), template=tpl):
                if not isinstance(item, RecordError):
                    item.extra["source"] = "refset"
                yield item
    for name in dirs.keys() - templates.keys():
        yield RecordError(str(root / "xyz" / name), "-", f"{name} has no SMILES in molecules.smi")
