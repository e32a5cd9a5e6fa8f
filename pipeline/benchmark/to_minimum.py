"""How far raw conformers sit from the force-field minimum each relaxes to:
``python -m pipeline.benchmark.to_minimum SDF [SDF ...]``.

A raw sample (bondiff without ``refine``, or an ETKDG embedding before MMFF) is relaxed from where it is with the
sampler's own relaxation (:class:`pipeline.sample.refine.Relaxer`: MMFF94, else UFF), and the heavy-atom RMSD between
the sample and that minimum is measured after superposition (same atom order, so no symmetry search). The median
over samples says how close to a minimum a generator's raw output is; a raw conformer far from every minimum is
far from every minimum-energy reference too, so this distance is one limit on raw coverage, whatever the sampler
does. The table splits the samples by the molecule's rotatable bonds (RDKit's strict count), where the distance grows.

Reads any SDF with explicit hydrogens, e.g. ``bondiff benchmark --out DIR``'s ``DIR/bondiff/generated.sdf`` and
``DIR/etkdg/generated.sdf``. Records are grouped by title; ``--molecules N`` takes the first N titles of each
file and ``--per-molecule K`` the first K records of each. An unreadable record, and one without force-field
parameters (it would count as 0 Å), is counted and skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pipeline.atomic import write_file_atomic
from pipeline.validate.page import fmt

__all__ = ["ROTATABLE_BINS", "DistanceToMinimum", "distance_to_minimum", "sdf_distances", "summarise", "main"]

#: (label, lowest, highest) rotatable-bond counts of the table's columns
ROTATABLE_BINS: tuple[tuple[str, int, int], ...] = (("0-2", 0, 2), ("3-4", 3, 4), ("5+", 5, 10**6))


@dataclass(frozen=True)
class DistanceToMinimum:
    name: str
    rotatable_bonds: int
    rmsd: float  # heavy-atom RMSD (Å) between the conformer and its relaxed copy, after superposition
    force_field: str  # "MMFF94" | "UFF" | "none"


def distance_to_minimum(mol: Any, max_iters: int = 2000) -> DistanceToMinimum:
    """Relax ``mol``'s first conformer (hydrogens explicit) and measure how far it moved (heavy atoms)."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign, rdMolDescriptors

    from pipeline.sample.refine import Relaxer

    start = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
    relaxed = Relaxer(mol, max_iters).relax(start)
    moved = Chem.Mol(mol)
    conf = moved.GetConformer()
    for i, xyz in enumerate(relaxed.coords):
        conf.SetAtomPosition(i, xyz.tolist())
    heavy = [(a.GetIdx(), a.GetIdx()) for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    rmsd = float(rdMolAlign.AlignMol(moved, mol, atomMap=heavy)) if len(heavy) > 1 else 0.0
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    return DistanceToMinimum(name, int(rdMolDescriptors.CalcNumRotatableBonds(mol)), rmsd, relaxed.force_field)


def _records(path: Path, molecules: int | None, per_molecule: int | None, skipped: Counter) -> Iterator[Any]:
    from rdkit import Chem

    seen: Counter = Counter()
    for mol in Chem.SDMolSupplier(str(path), removeHs=False):
        if mol is None or mol.GetNumConformers() == 0:
            skipped[(str(path), "unreadable")] += 1
            continue
        name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
        if name not in seen and molecules is not None and len(seen) >= molecules:
            break
        if per_molecule is not None and seen[name] >= per_molecule:
            continue
        seen[name] += 1
        yield mol


def sdf_distances(path: Path, molecules: int | None = None, per_molecule: int | None = None, max_iters: int = 2000, skipped: Counter | None = None) -> list[DistanceToMinimum]:
    """:func:`distance_to_minimum` of the records of one SDF (first ``molecules`` titles, ``per_molecule`` each);
    ``skipped`` counts, by ``(file, reason)``, the unreadable records and those without force-field parameters."""
    skipped = Counter() if skipped is None else skipped
    rows = []
    for mol in _records(Path(path), molecules, per_molecule, skipped):
        row = distance_to_minimum(mol, max_iters)
        if row.force_field == "none":
            skipped[(str(path), "without force-field parameters")] += 1
        else:
            rows.append(row)
    return rows


def summarise(rows: list[DistanceToMinimum]) -> dict[str, Any]:
    """Samples, median and mean RMSD overall and per rotatable-bond bin (median ``None`` for an empty bin)."""

    def stats(values: list[float]) -> dict[str, Any]:
        return {"samples": len(values), "median": float(np.median(values)) if values else None, "mean": float(np.mean(values)) if values else None}

    out = {"all": stats([r.rmsd for r in rows])}
    for label, lo, hi in ROTATABLE_BINS:
        out[label] = stats([r.rmsd for r in rows if lo <= r.rotatable_bonds <= hi])
    return out


def _cell(s: dict[str, Any]) -> str:
    return fmt(s["median"]) + ("" if s["median"] is None else f" ({s['samples']})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.benchmark.to_minimum", description=__doc__.split("\n\n")[0])
    ap.add_argument("sdf", nargs="+", type=Path, help="SDF files of raw conformers (explicit hydrogens)")
    ap.add_argument("--molecules", type=int, default=None, help="the first N molecules (titles) of each file")
    ap.add_argument("--per-molecule", type=int, default=None, help="the first K conformers of each molecule")
    ap.add_argument("--max-iters", type=int, default=2000, help="minimiser iterations (default 2000: to the minimum)")
    ap.add_argument("--json", type=Path, default=None, help="also write the summaries here")
    args = ap.parse_args(argv)
    for p in args.sdf:
        if not p.is_file():
            print(f"error: {p}: no such SDF file", file=sys.stderr)
            return 2
    skipped: Counter = Counter()
    summaries = {}
    header = "| SDF | samples | median Å (all) | mean Å | " + " | ".join(f"median Å, {lab} rot. bonds (n)" for lab, _, _ in ROTATABLE_BINS) + " |"
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    from rdkit import rdBase

    for p in args.sdf:
        with rdBase.BlockLogs():  # RDKit's own lines for a bad record: it is counted and reported below instead
            s = summarise(sdf_distances(p, args.molecules, args.per_molecule, args.max_iters, skipped))
        summaries[str(p)] = s
        a = s["all"]
        cells = [str(p), str(a["samples"]), fmt(a["median"]), fmt(a["mean"])]
        print("| " + " | ".join(cells + [_cell(s[lab]) for lab, _, _ in ROTATABLE_BINS]) + " |", flush=True)
    for (p, why), n in skipped.items():
        print(f"warning: {p}: {n} record(s) {why}, skipped", file=sys.stderr)
    if args.json is not None:
        write_file_atomic(args.json, json.dumps(summaries, indent=1) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
