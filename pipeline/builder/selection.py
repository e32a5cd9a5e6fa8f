"""Pick molecules from the source: a seeded hash order, cheap filters, exclusion, stereo assignment.

The order is ``blake2b(seed, SMILES)`` over the whole source, so the first N picked molecules do
not depend on the file order or on N (a bigger build is a superset of a smaller one with the same
seed). MOSES SMILES carry no stereo: every unassigned stereocentre / stereo double bond gets a
fixed, seeded choice, so all conformers of a molecule share one stereoisomer (the model learns
chirality from consistent labels). The other isomers are kept, in order, as fall-backs when the
chosen one cannot be embedded. With ``selection.analogue`` each source molecule is first rewritten
(:mod:`pipeline.builder.analogues`), and the filters, exclusion and stereo apply to the rewritten one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from pipeline.builder.analogues import analogue
from pipeline.builder.config import SelectionConfig
from pipeline.builder.exclusion import ExclusionSet
from pipeline.types import RecordError

__all__ = ["Candidate", "Selection", "select_candidates", "stable_seed", "hash_order"]


def _digest(*parts: object) -> int:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(str(p).encode())
        h.update(b"\0")
    return int.from_bytes(h.digest(), "big")


def stable_seed(seed: int, key: str) -> int:
    """A 31-bit RNG seed from the global seed and a molecule's identity (independent of order/workers)."""
    return _digest("seed", seed, key) % (2**31 - 1)


def hash_order(smiles: Sequence[str], seed: int) -> list[int]:
    """Indices of ``smiles`` sorted by a seeded hash of the string (ties by index)."""
    keys = [(_digest("order", seed, s), i) for i, s in enumerate(smiles)]
    keys.sort()
    return [i for _, i in keys]


@dataclass
class Candidate:
    """A molecule ready for conformer generation."""

    record: int  # 1-based data row in the source file
    source_smiles: str
    isomers: list[str]  # canonical isomeric SMILES, preferred first
    seed: int


@dataclass
class Selection:
    candidates: list[Candidate] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    filtered: Counter = field(default_factory=Counter)  # reason -> count
    excluded: list[dict] = field(default_factory=list)  # {record, smiles, reference}
    examined: int = 0
    analogue_rules: Counter = field(default_factory=Counter)  # rule -> candidates rewritten by it (selection.analogue)


def _filter_reason(mol, cfg: SelectionConfig, allowed: set[str]) -> str | None:
    from rdkit.Chem import rdMolDescriptors

    bad = sorted({a.GetSymbol() for a in mol.GetAtoms()} - allowed)
    if bad:
        return "element"
    if any(a.GetFormalCharge() for a in mol.GetAtoms()):
        return "charged_atom"
    heavy = mol.GetNumHeavyAtoms()
    if heavy < cfg.min_heavy_atoms:
        return "too_small"
    if heavy > cfg.max_heavy_atoms:
        return "too_large"
    if rdMolDescriptors.CalcNumRotatableBonds(mol) > cfg.max_rotatable_bonds:
        return "too_flexible"
    return None


def stereo_isomers(mol, seed: int, max_unassigned: int) -> list[str] | None:
    """Canonical SMILES of the molecule's stereoisomers over its *unassigned* elements, in a
    seeded preference order; None when there are more than ``2**max_unassigned``."""
    from rdkit import Chem
    from rdkit.Chem.EnumerateStereoisomers import (
        EnumerateStereoisomers,
        GetStereoisomerCount,
        StereoEnumerationOptions,
    )

    opts = StereoEnumerationOptions(onlyUnassigned=True, unique=True, tryEmbedding=False)
    if GetStereoisomerCount(mol, options=opts) > 2**max_unassigned:
        return None
    isomers = sorted({Chem.MolToSmiles(m, isomericSmiles=True) for m in EnumerateStereoisomers(mol, options=opts)})
    if not isomers:
        isomers = [Chem.MolToSmiles(mol, isomericSmiles=True)]
    k = seed % len(isomers)
    return isomers[k:] + isomers[:k]


def select_candidates(
    smiles: Sequence[str],
    cfg: SelectionConfig,
    exclusion: ExclusionSet,
    source_name: str,
    n: int | None = None,
    global_seed: int = 0,
) -> Selection:
    """Walk the source in seeded hash order until ``n`` (default ``cfg.n_molecules``) candidates pass."""
    from rdkit import Chem, RDLogger

    want = cfg.n_molecules if n is None else min(n, cfg.n_molecules)
    allowed = set(cfg.elements)
    sel = Selection()
    seen: set[str] = set()
    RDLogger.DisableLog("rdApp.*")
    try:
        for idx in hash_order(smiles, cfg.seed):
            if len(sel.candidates) >= want:
                break
            sel.examined += 1
            raw = smiles[idx]
            record = idx + 1
            mol = Chem.MolFromSmiles(raw) if raw else None
            if mol is None:
                sel.errors.append(RecordError(source_name, str(record), f"cannot parse SMILES {raw!r}"))
                continue
            if cfg.analogue:
                rewritten = analogue(mol, cfg.analogue, stable_seed(global_seed, "analogue:" + raw))
                if rewritten is None:
                    sel.filtered["no_analogue_site"] += 1
                    continue
                rule, mol = rewritten
            reason = _filter_reason(mol, cfg, allowed)
            if reason:
                sel.filtered[reason] += 1
                continue
            ref = exclusion.match(mol)
            if ref is not None:
                sel.excluded.append({"record": record, "smiles": raw, "reference": ref})
                continue
            canon = Chem.MolToSmiles(mol, isomericSmiles=True)
            if canon in seen:
                sel.filtered["duplicate"] += 1
                continue
            seen.add(canon)
            seed = stable_seed(global_seed, canon)
            isomers = stereo_isomers(mol, seed, cfg.max_unassigned_stereo)
            if isomers is None:
                sel.filtered["too_many_stereoisomers"] += 1
                continue
            sel.candidates.append(Candidate(record, raw, isomers, seed))
            if cfg.analogue:
                sel.analogue_rules[rule] += 1
    finally:
        RDLogger.EnableLog("rdApp.*")
    return sel
